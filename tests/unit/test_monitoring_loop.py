"""The loop consumer's pure parts (`services/monitoring/loop.py`): the names it owns, its local
state, the partition assignment it relies on, and the fold it shares with the Faust worker, run on
aiokafka records and on its own ticks. Its behaviour with a broker (transactions, a `kill -9`, a
rebalance) is in the fault cases `monitoring-loop-*` (`tests/faults/test_kills.py`)."""

from __future__ import annotations

import itertools
import logging
import zlib
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import NotEnoughReplicasError
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry, Counter

from services.monitoring import folding as folding_module
from services.monitoring.clock import RuleClock
from services.monitoring.folding import GroupFolding
from services.monitoring.loop import Delivery, LocalState, LoopNames, LoopWorker, Tick, WriteRetries, partitions_kept
from services.monitoring.metrics import MonitoringMetrics
from services.monitoring.programmes import DEFAULT_PROGRAMME
from services.monitoring.rules import activities
from services.monitoring.rules.state import GroupContext, GroupState
from services.monitoring.settings import MonitoringSettings
from services.monitoring.stored_state import decode_state, encode_state
from shared import facts, serde, topics
from shared.events.base import EventData
from shared.settings import KafkaSettings
from tests.unit.test_monitoring_support import GROUP, PROGRAMMES, activity, plan, scheduled, synced, utc
from tools.generator.behaviour import Rates, simulate
from tools.generator.events import history_publications, topic_of
from tools.generator.programme import Programme, Shape

pytestmark = pytest.mark.unit

PREFIX = "t."
MEETINGS, PLANS = f"{PREFIX}{topics.MEETINGS_EVENTS}", f"{PREFIX}{topics.PLANS_EVENTS}"


def settings(**changes: Any) -> MonitoringSettings:
    return MonitoringSettings(kafka=KafkaSettings(topic_prefix=PREFIX), consumer="loop", **changes)


def test_the_loop_consumer_has_a_group_and_topics_of_its_own() -> None:
    names = LoopNames.of(settings(app_id="pantau-monitoring"))
    assert names.group == "t.pantau-monitoring-loop"  # not the Faust worker's group: no shared offsets
    assert names.group_state == "t.pantau-monitoring-loop-group-state-changelog"
    assert names.facilitator_state == "t.pantau-monitoring-loop-facilitator-state-changelog"
    assert names.signals == "t.pantau-monitoring-loop-facilitator-signals"
    worker = LoopWorker(settings(web_port=18999), worker_id="w1")  # builds, connects to nothing
    specs = {spec.name: spec for spec in worker.topic_specs()}
    assert specs[names.group_state].config == {"cleanup.policy": "compact"}
    assert specs[names.facilitator_state].config == {"cleanup.policy": "compact"}
    assert {spec.partitions for spec in specs.values()} == {topics.GROUP_KEYED_PARTITIONS}


def test_local_state_forgets_a_partition_it_no_longer_owns() -> None:
    local = LocalState()
    local.put("G-1", 3, b"a")
    local.put("G-2", 3, b"b")
    local.put("G-3", 4, b"c")
    local.put("G-1", 3, b"a2")  # written again: still one key
    local.drop(3)
    assert local.rows == {"G-3": b"c"}
    assert local.keys == {4: {"G-3"}}
    local.drop(7)  # never held: nothing happens
    assert local.rows == {"G-3": b"c"}


class _Cluster:
    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions[topic]))


@pytest.mark.parametrize("members", [1, 2, 3, 5, 12, 13])
def test_the_range_assignment_gives_a_worker_the_same_partition_numbers_of_every_topic(members: int) -> None:
    # What the loop relies on to keep a group's records and state (and a facilitator's signals and
    # state) on one worker: co-partitioned topics, assigned by range.
    names = [MEETINGS, PLANS, f"{PREFIX}{topics.EVALUATIONS_EVENTS}", "t.pantau-monitoring-loop-facilitator-signals"]
    cluster = _Cluster(dict.fromkeys(names, topics.GROUP_KEYED_PARTITIONS))
    metadata = {f"member-{index:02d}": ConsumerProtocolMemberMetadata(0, names, b"") for index in range(members)}
    assignment = RangePartitionAssignor.assign(cluster, metadata)  # type: ignore[arg-type]
    owners: dict[int, set[str]] = {}
    for member, given in assignment.items():
        per_topic = {topic: set(partitions) for topic, partitions in given.assignment}
        assert len({frozenset(numbers) for numbers in per_topic.values()}) <= 1, per_topic
        for numbers in per_topic.values():
            for number in numbers:
                owners.setdefault(number, set()).add(member)
    assert set(owners) == set(range(topics.GROUP_KEYED_PARTITIONS))  # every partition has an owner
    assert all(len(owner) == 1 for owner in owners.values())  # and only one


def _record(topic: str, offset: int, fact: EventData, at: Any, partition: int = 3) -> Delivery:
    envelope = serde.envelope_for(fact, source="/pantau/test", time=at, received_at=at)
    key, value = fact.kafka_key().encode(), serde.encode(envelope)
    record = ConsumerRecord(topic, partition, offset, 0, 0, key, value, None, len(key), len(value), ())
    return Delivery(key, value, record)


def wall_folding(
    source_names: dict[str, str], *, ticks_name: str = "ticks", clock: RuleClock | None = None
) -> GroupFolding:
    """A fold on the wall clock (20 April 2026 unless `clock`), reading these topics."""
    return GroupFolding(
        settings=settings(),
        programmes=PROGRAMMES,
        metrics=MonitoringMetrics(CollectorRegistry()),
        clock=clock or RuleClock("wall", wall=lambda: utc(2026, 4, 20)),
        source_names=source_names,
        ticks_name=ticks_name,
        signals_name="signals",
        deviations_name="deviations",
        dead_letters_name="dlq",
    )


def test_the_fold_reads_aiokafka_records_and_the_loops_own_ticks() -> None:
    clock = RuleClock("wall", wall=lambda: utc(2026, 4, 20))
    folding = wall_folding(
        {MEETINGS: topics.MEETINGS_EVENTS, PLANS: topics.PLANS_EVENTS},
        ticks_name="t.pantau-monitoring-loop-ticks",
        clock=clock,
    )
    agreed = utc(2026, 1, 1, 2)
    records = [
        _record(MEETINGS, 0, scheduled("2026-01"), agreed),  # the group's facilitator and region
        _record(PLANS, 0, plan(activity("A-1", date(2026, 3, 31))), agreed),
        _record(MEETINGS, 1, synced(utc(2026, 4, 2), received_at=utc(2026, 4, 2, 3)), utc(2026, 4, 2, 3)),
    ]
    stored: dict[str, GroupState] = {}
    folded = folding.fold_groups(records, lambda group_id: stored.get(group_id) or GroupState())
    assert folded.partitions == {GROUP: 3}
    assert folded.last_index == {GROUP: 2}
    published = [orjson.loads(record.value) for record in folded.outgoing if record.topic == "deviations"]
    opened = [item["data"] for item in published if item["type"].endswith("deviation_opened.v1")]
    assert (activities.OVERDUE, "A-1") in {(item["rule"], item["occurrence"]) for item in opened}
    stored.update(folded.changed())

    # A tick for the group, as the loop hands one out: nothing new is due, and nothing is repeated.
    tick = Delivery(
        GROUP.encode(),
        orjson.dumps({"at": (utc(2026, 4, 20) - timedelta(hours=1)).isoformat()}),
        Tick("t.pantau-monitoring-loop-ticks", 3),
    )
    again = folding.fold_groups([tick], lambda group_id: stored[group_id])
    assert [record.topic for record in again.outgoing] == []
    assert again.partitions == {GROUP: 3}


def test_a_record_is_judged_by_the_programme_it_names_else_by_the_groups() -> None:
    folding = wall_folding({MEETINGS: topics.MEETINGS_EVENTS})
    ssk = GroupState().evolve(context=GroupContext("ssk-pokja", "F-001", "18.71.01.1001", 0))
    sync = facts.fact_of(synced(utc(2026, 4, 1)))
    named = facts.fact_of(scheduled("2026-04", programme="kkbpk-kemitraan"))
    assert folding.programme_of(ssk, sync) is PROGRAMMES["ssk-pokja"]
    assert folding.programme_of(ssk, None) is PROGRAMMES["ssk-pokja"]  # a tick
    assert folding.programme_of(ssk, named) is PROGRAMMES["kkbpk-kemitraan"]
    assert folding.programme_of(GroupState(), sync) is DEFAULT_PROGRAMME
    # Every fact that names a programme is asked for it.
    naming = {cls for cls in facts.FACT_TYPES.values() if "programme" in cls.__struct_fields__}
    assert naming == set(folding_module.NAMES_PROGRAMME)


def test_a_record_the_fold_cannot_read_goes_to_the_dead_letters_with_where_it_came_from() -> None:
    folding = wall_folding({MEETINGS: topics.MEETINGS_EVENTS})
    record = ConsumerRecord(MEETINGS, 5, 41, 0, 0, b"G-9", b"{not json", None, 3, 9, (("trace", b"x"),))
    folded = folding.fold_groups([Delivery(record.key, record.value, record)], lambda group_id: GroupState())
    [letter] = folded.outgoing
    headers = dict(letter.headers)
    assert letter.topic == "dlq"
    assert letter.value == b"{not json"
    assert headers["pantau-dlq-reason"] == b"malformed_json"
    assert headers["pantau-dlq-source-offset"] == b"41"


class _Watermarks:
    """A consumer's high watermarks, counting how often they are asked for."""

    def __init__(self, highwater: dict[tuple[str, int], int]) -> None:
        self.highwater_of = highwater
        self.asked = 0

    def highwater(self, tp: Any) -> int | None:
        self.asked += 1
        if (tp.topic, tp.partition) not in self.highwater_of:
            raise KeyError(tp)  # not assigned here, as aiokafka says it
        return self.highwater_of[(tp.topic, tp.partition)]


def test_the_rule_clock_reads_each_high_watermark_once_while_a_batch_is_folded() -> None:
    worker = LoopWorker(settings(web_port=18998), worker_id="w1")
    consumer = _Watermarks({(MEETINGS, 0): 10})
    worker.consumer = consumer  # type: ignore[assignment]
    assert worker._caught_up(MEETINGS, 0, 9)  # outside a batch: asked every time
    assert not worker._caught_up(MEETINGS, 0, 5)
    assert consumer.asked == 2
    worker._highwaters = {}  # as `_process` does around the fold
    for last in range(10):
        assert worker._caught_up(MEETINGS, 0, last) is (last == 9)
    assert not worker._caught_up(PLANS, 0, 3)  # not assigned here: never caught up
    assert not worker._caught_up(PLANS, 0, 4)
    assert consumer.asked == 4  # once per topic-partition during the batch
    worker._highwaters = None
    consumer.highwater_of[(MEETINGS, 0)] = 20  # a fetch between batches moved it
    assert not worker._caught_up(MEETINGS, 0, 9)


def _sender_warning(partition: int) -> logging.LogRecord:
    """The warning aiokafka's sender logs for a write it retries (`aiokafka/producer/sender.py`)."""
    return logging.LogRecord(
        "aiokafka.producer.sender",
        logging.WARNING,
        "sender.py",
        871,
        "Got error produce response on topic-partition %s, retrying. Error: %s",
        (TopicPartition("m-loop-group-state-changelog", partition), NotEnoughReplicasError),
        None,
    )


def test_write_retries_are_counted_each_and_summed_up_in_one_warning_a_minute() -> None:
    registry = CollectorRegistry()
    counter = Counter("write_retries_total", "retries", ["error"], registry=registry)
    now = [100.0]
    retries = WriteRetries(counter, clock=lambda: now[0])
    first = _sender_warning(0)
    assert retries.filter(first)
    assert first.getMessage().startswith("the broker asked to retry a write of this batch's transaction")
    assert "NotEnoughReplicasError on TopicPartition(topic='m-loop-group-state-changelog', partition=0)" in (
        first.getMessage()
    )
    assert "0 more in the last minute" in first.getMessage()
    assert [retries.filter(_sender_warning(p)) for p in range(1, 12)] == [False] * 11
    now[0] += 59.9
    assert not retries.filter(_sender_warning(0))
    now[0] += 0.2
    later = _sender_warning(3)
    assert retries.filter(later)
    assert "12 more in the last minute" in later.getMessage()
    assert registry.get_sample_value("write_retries_total", {"error": "NotEnoughReplicasError"}) == 14


def test_other_sender_messages_pass_untouched() -> None:
    registry = CollectorRegistry()
    retries = WriteRetries(Counter("write_retries_total", "retries", ["error"], registry=registry))
    record = logging.LogRecord(
        "aiokafka.producer.sender", logging.WARNING, "sender.py", 784, "Got error produce response: %s", ("x",), None
    )
    assert retries.filter(record)
    assert record.getMessage() == "Got error produce response: x"
    assert registry.get_sample_value("write_retries_total", {"error": "NotEnoughReplicasError"}) is None


def test_a_batch_folded_group_by_group_decides_what_folding_it_record_after_record_decides() -> None:
    # `GroupFolding` folds a batch's records group by group (each at the rule clock's instant for it
    # in reading order): the records to publish, in their order, and the states must be those of
    # folding every record as a batch of its own. Four facilitators' generated months, their groups'
    # records interleaved by receipt as a replay reads them, with a record nobody can read and the
    # event clock of a replay (each partition's topics at their own ends).
    shape = Shape(scale=0.003, seed=11, start=date(2026, 1, 1), months=2)
    publications = sorted(
        (
            publication
            for facilitator in itertools.islice(Programme(shape).facilitators(), 0, 4)
            for publication in history_publications(simulate(facilitator, shape, Rates()))
            if publication.event.event_type in facts.FACT_TYPES
        ),
        key=lambda publication: publication.published_at,
    )
    offsets: dict[tuple[str, int], int] = {}
    records: list[Delivery] = []
    for publication in publications:
        key, value, _headers = publication.encode()
        topic = PREFIX + topic_of(publication.event)
        partition = zlib.crc32(key.encode()) % 4
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        record = ConsumerRecord(topic, partition, offset, 0, 0, key.encode(), value, None, len(key), len(value), ())
        records.append(Delivery(record.key, record.value, record))
    broken = ConsumerRecord(MEETINGS, 1, 10_000, 0, 0, b"G-9", b"{not json", None, 3, 9, ())
    records.insert(len(records) // 2, Delivery(broken.key, broken.value, broken))
    ends = dict(offsets)
    assert len({record.key for record in records}) > 10  # many groups, interleaved

    def folding() -> GroupFolding:
        sources = [MEETINGS, PLANS, f"{PREFIX}{topics.EVALUATIONS_EVENTS}"]
        clock = RuleClock(
            "event",
            sources=sources,
            caught_up=lambda topic, partition, last: last is not None and last >= ends.get((topic, partition), -1),
        )
        return GroupFolding(
            settings=settings(clock="event"),
            programmes=PROGRAMMES,
            metrics=MonitoringMetrics(CollectorRegistry()),
            clock=clock,
            source_names={topic: topic.removeprefix(PREFIX) for topic in sources},
            ticks_name="ticks",
            signals_name="signals",
            deviations_name="deviations",
            dead_letters_name="dlq",
        )

    def published(outgoing: list[Any]) -> list[tuple[str, bytes, Any]]:
        # The envelope's id is drawn afresh for every record made; everything else must be the same.
        readable = []
        for record in outgoing:
            value = orjson.loads(record.value) if record.topic != "dlq" else record.value
            if isinstance(value, dict):
                value.pop("id", None)
            readable.append((record.topic, record.key, value))
        return readable

    whole = folding()
    stored: dict[str, bytes] = {}
    folded = whole.fold_groups(records, lambda group_id: decode_state(stored.get(group_id)))
    at_once = published(folded.outgoing)
    states_at_once = {group_id: encode_state(state) for group_id, state in folded.states.items()}

    one_by_one = folding()
    one_at_a_time: list[tuple[str, bytes, Any]] = []
    for record in records:
        single = one_by_one.fold_groups([record], lambda group_id: decode_state(stored.get(group_id)))
        one_at_a_time += published(single.outgoing)
        stored.update({group_id: encode_state(state) for group_id, state in single.states.items()})

    assert [topic for topic, _key, _value in at_once].count("dlq") == 1
    assert {topic for topic, _key, _value in at_once} >= {"deviations", "signals", "dlq"}
    assert at_once == one_at_a_time
    assert states_at_once == {group_id: stored[group_id] for group_id in states_at_once}


def test_a_worker_keeps_its_states_through_a_rebalance_only_if_it_was_in_the_generation_before() -> None:
    # In every generation since: nobody else owned these partitions, the states here are current.
    assert partitions_kept({1, 2, 3}, {2, 3, 4}, 7, 8) == {2, 3}
    # The group went on without it (generation 8 had other members only): another worker folded its
    # partitions meanwhile, so every state is read again from the changelogs.
    assert partitions_kept({1, 2, 3}, {1, 2, 3}, 7, 9) == set()
    assert partitions_kept({1, 2, 3}, {1, 2, 3}, None, 1) == set()  # its first assignment
