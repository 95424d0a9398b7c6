"""The benchmarks themselves: each starts what it measures (against one broker), measures, stops it.

- ingestion is in `tools/bench/ingestion.py` (the service beside a bare FastAPI baseline, per store);
- `replay`: a generated programme produced onto Kafka, then read three ways from the same topic:
  the broker's raw consumer throughput (aiokafka), a bare aiokafka loop applying the monitoring
  engine's pure rules, and the real monitoring worker (until its committed offsets reach the end);
  the worker's RSS growth gives memory per 100,000 groups and its published deviations the accuracy
  against the oracle;
- `latency`: report accepted → signed webhook delivered, through all four services at a steady rate.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as SyncTopicPartition
from prometheus_client.parser import text_string_to_metric_families

from services.monitoring import engine
from services.monitoring.folding import NAMES_PROGRAMME
from services.monitoring.programmes import DEFAULT_PROGRAMME, load_programmes
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import REPLAY_BATCH_SIZES
from services.monitoring.stored_state import encode_state
from shared import facts, serde, topics
from shared.auth import mint_token
from shared.events import DeviationOpened
from shared.heap import BatchCollector, settle_for_streaming
from shared.kafka_admin import admin_client_config
from shared.settings import AuthSettings, KafkaSettings
from tools import native as native_build
from tools.bench import faust_ceiling
from tools.faults.cases import UNORDERED_RULES, settle_topic
from tools.generator.behaviour import Rates
from tools.generator.kafka_driver import produce, spool_programme
from tools.generator.oracle import ORACLE_RULES, Expected, OracleResult
from tools.generator.programme import Shape
from tools.stack import REPO_ROOT, ServiceProcess, Stack, free_port
from tools.topics import create_topics
from tools.webhook_receiver import WebhookReceiver

log = logging.getLogger("pantau.bench")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 < share ≤ 1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_services(stack: Stack, names: tuple[str, ...], timeout: float = 120, *, wait: bool = True) -> None:
    """Start only some of the stack's services (same environment as `Stack.start`); with `wait`,
    until each is ready."""
    stack.workdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        port = stack.ports.get(name) or free_port()
        log_path = stack.workdir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=Path(__file__).resolve().parents[2],
                env=stack.env_for(name, port),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.processes[name] = ServiceProcess(name, port, log_path, process)
    if wait:
        stack.wait_ready(timeout)


class _Registry:
    """A small registry for the ingestion and latency runs: one kabupaten, its supervisor, one
    facilitator per 50 groups, 20 members each."""

    def __init__(self, client: httpx.Client, *, groups: int, webhook_url: str | None, tag: str) -> None:
        self.groups = [f"KLP-BENCH-{tag}-{number:05d}" for number in range(groups)]
        self.members = [f"kpm-bench-{number:02d}" for number in range(20)]
        self.facilitator_of = {group: f"PDP-BENCH-{tag}-{index // 50:03d}" for index, group in enumerate(self.groups)}
        for code, name in (
            ("18", "Lampung"),
            ("18.71", "Kota Bandar Lampung"),
            ("18.71.01", "Teluk Betung Selatan"),
            ("18.71.01.1001", "Kelurahan Pesawahan"),
        ):
            client.put(f"/regions/{code}", json={"name": name}).raise_for_status()
        supervisor = {"name": "Koordinator Bench", "level": "kabupaten", "region_code": "18.71"}
        client.put("/supervisors/SUP-BENCH", json={**supervisor, "webhook_url": webhook_url}).raise_for_status()
        for facilitator in sorted(set(self.facilitator_of.values())):
            person = {"name": "Pendamping Bench", "programme": "pkh-p2k2", "region_code": "18.71.01"}
            client.put(f"/facilitators/{facilitator}", json=person).raise_for_status()
        for group in self.groups:
            body: dict[str, Any] = {
                "name": f"Kelompok {group[-5:]}",
                "programme": "pkh-p2k2",
                "facilitator_id": self.facilitator_of[group],
                "region_code": "18.71.01.1001",
                "members": self.members,
                "chair_member_ref": self.members[0],
                "schedule": {"cadence": "monthly", "day_of_month": 10},
            }
            client.put(f"/groups/{group}", json=body).raise_for_status()

    def report(self, group: str, started_at: datetime, *, chair_led: bool = False) -> dict[str, Any]:
        return {
            "report_id": str(uuid.uuid4()),
            "group_id": group,
            "started_at": started_at.isoformat(),
            "ended_at": (started_at + timedelta(minutes=115)).isoformat(),
            "facilitator_present": not chair_led,
            "led_by": "chair" if chair_led else "facilitator",
            "module": "Kesehatan dan Gizi",
            "topic": "Pentingnya gizi ibu hamil",
            "attendance": [
                {"member_ref": member, "status": "absent" if index % 7 == 6 else "present"}
                for index, member in enumerate(self.members)
            ],
            "recorded_at": (started_at + timedelta(minutes=120)).isoformat(),
            "device_id": "hp-bench",
        }


def _admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), subject='bench', role='admin', scope='*')}"}


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end offset."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="pantau-bench-offsets")
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([SyncTopicPartition(topic, partition) for partition in sorted(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------------------
# (ii, iv, v) replay, memory, accuracy
# --------------------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    """Replay of a generated programme through three consumers of the same topic."""

    shape: Shape
    records: int = 0
    meetings_topic_records: int = 0
    groups: int = 0
    facilitators: int = 0
    generate_seconds: float = 0.0
    produce_per_s: float = 0.0
    raw_consumer_per_s: list[float] = field(default_factory=list)
    bare_loop_per_s: list[float] = field(default_factory=list)  # the rules compiled, as the worker runs them
    bare_loop_sources_per_s: list[float] = field(default_factory=list)  # the same from the sources
    faust_empty_per_s: list[float] = field(default_factory=list)  # Faust's ceiling (`faust_ceiling`)
    worker_per_s: float = 0.0
    worker_seconds: float = 0.0
    worker_startup_seconds: float = 0.0
    worker_rss_start_mib: float = 0.0
    worker_rss_end_mib: float = 0.0
    state_bytes: int = 0  # the states as the worker stores them (stored_state.encode_state)
    state_groups: int = 0
    worker_batches: int = 0  # batches the worker's group agent processed (its Prometheus metrics)
    worker_batch_seconds: float = 0.0  # their total processing time
    worker_batch_phases: dict[str, float] = field(default_factory=dict)  # where that time went (seconds)
    pair_per_s: float = 0.0  # two workers in one consumer group, together (0: not run)
    pair_seconds: float = 0.0
    pair_missing: int = 0  # opened deviation ids of one worker the two did not publish (UNORDERED_RULES aside)
    pair_extra: int = 0  # and those they published that one worker did not
    # The loop consumer (`PANTAU_MONITORING_CONSUMER=loop`, services/monitoring/loop.py): one worker and
    # two, their ids against the Faust worker's (0: not run).
    loop_per_s: float = 0.0
    loop_startup_seconds: float = 0.0
    loop_rss_start_mib: float = 0.0
    loop_rss_end_mib: float = 0.0
    loop_batch_seconds: float = 0.0
    loop_batches: int = 0
    loop_batch_phases: dict[str, float] = field(default_factory=dict)
    loop_missing: int = 0
    loop_extra: int = 0
    loop_pair_ran: bool = False
    loop_pair_per_s: float = 0.0  # 0 when the first worker to be ready committed the whole load alone
    loop_pair_timed_s: float = 0.0  # after both workers were ready
    # One loop worker running the rules from the sources (`PANTAU_MONITORING_NATIVE=off`): the workers
    # above run them compiled with mypyc, as a worker does by default (tools/native.py).
    loop_sources_per_s: float = 0.0
    loop_sources_missing: int = 0
    loop_sources_extra: int = 0
    loop_pair_missing: int = 0
    loop_pair_extra: int = 0
    # Two loop workers, one killed (`kill -9`) at `KILL_AT` of the load or later, and not restarted.
    loop_kill_ran: bool = False
    loop_kill_after_s: float | None = None  # from the kill until everything was committed; None: no kill came
    loop_kill_share: float = 0.0  # of the load committed when the kill came
    loop_kill_missing: int = 0
    loop_kill_extra: int = 0
    loop_published: set[Expected] = field(default_factory=set)  # the loop worker's opened (rule, group, occurrence)
    oracle: OracleResult = field(default_factory=OracleResult)
    published: set[Expected] = field(default_factory=set)
    deviation_events: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class BatchFigures:
    """The worker's own account of its batches (its Prometheus metrics): how full they ran, how much
    of the replay's time was processing rather than waiting for records, and where that time went."""

    batches: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds (`batch_phase_seconds`)


def batch_figures(base_url: str) -> BatchFigures:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    values: dict[str, float] = {}
    phases: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pantau_monitoring_batch_phase_seconds_total":
                phases[sample.labels["phase"]] = sample.value
            elif sample.name in {"pantau_monitoring_batch_seconds_count", "pantau_monitoring_batch_seconds_sum"}:
                values[sample.name] = sample.value
    return BatchFigures(
        int(values.get("pantau_monitoring_batch_seconds_count", 0)),
        values.get("pantau_monitoring_batch_seconds_sum", 0.0),
        phases,
    )


def phase_split(phases: dict[str, float]) -> str:
    """ "rules 38%, publish 3%, …" in the order the phases run, of their sum."""
    total = sum(phases.values()) or 1.0
    order = ("rules", "publish", "commit", "store", "changelog_send", "changelog_wait")
    names = [name for name in order if name in phases] + sorted(set(phases) - set(order))
    return ", ".join(f"{name} {phases[name] / total:.0%}" for name in names)


def source_ends(bootstrap: str, names: list[str]) -> dict[TopicPartition, int]:
    """End offsets of every partition of the given topics."""
    ends: dict[TopicPartition, int] = {}
    for name in names:
        for partition, end in end_offsets(bootstrap, name).items():
            ends[TopicPartition(name, partition)] = end
    return ends


async def _consume_all(
    bootstrap: str,
    ends: dict[TopicPartition, int],
    handle: Callable[[ConsumerRecord[bytes, bytes]], None],
    *,
    starts: dict[TopicPartition, int] | None = None,
    isolation_level: str = "read_uncommitted",
) -> float:
    """Read every record of the given partitions from the beginning (or `starts`) to their end
    offsets; returns the seconds it took."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        client_id="pantau-bench-reader",
    )
    await consumer.start()
    try:
        starts = starts or {}
        partitions = [tp for tp, end in ends.items() if end > starts.get(tp, 0)]
        if not partitions:
            return 0.0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        for tp in partitions:
            if starts.get(tp):
                consumer.seek(tp, starts[tp])
        remaining = {tp: ends[tp] for tp in partitions}
        began = time.perf_counter()
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for tp, records in batches.items():
                end = remaining.get(tp)
                if end is None:
                    continue  # read to its end already: a fetch can bring what came after
                for record in records:
                    if record.offset < end:
                        handle(record)
                if records and records[-1].offset + 1 >= end:
                    remaining.pop(tp, None)
            # A transaction's commit marker takes the last offset of a partition written in
            # transactions (the loop consumer's deviations): no record reaches the end, the position does.
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    remaining.pop(tp, None)
        return time.perf_counter() - began
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class BareLoop:
    """The bare rules loop's run: seconds, and the states it ended with (groups, stored bytes)."""

    seconds: float
    groups: int
    state_bytes: int


PAIR_BATCH = 20_000  # the loop pair's batches in the bench (see `replay`)
KILL_BATCH = 2_000  # the killed pair's: the kill lands between two commits, with batches on both sides
KILL_AT = 0.3  # share of the load committed before one of the killed pair is killed
BARE_BATCH = REPLAY_BATCH_SIZES["loop"]  # records folded between two stores of the changed states


def bare_rules_loop(bootstrap: str, ends: dict[TopicPartition, int]) -> BareLoop:
    """What the worker does with the records, minus Kafka's transactions: in batches of `BARE_BATCH`
    records (the loop worker's replay batch) decode each, `engine.step` each group's records together
    in their order (as `folding.GroupFolding` does), encode the deviation events it would publish and
    the states that changed (`stored_state.encode_state`), read straight off the broker with one
    aiokafka consumer."""
    programmes = load_programmes()
    states: dict[str, GroupState] = {}
    pending: list[ConsumerRecord[bytes, bytes]] = []
    # The worker's collector regime (`shared/heap.BatchCollector`): none while a batch is folded, what
    # outlived it frozen after, a full collection every 2 minutes. Without it the bare loop walked its
    # growing heap again and again, and over many groups ran slower than the worker it is a baseline for.
    collector = BatchCollector()
    was_enabled = gc.isenabled()

    def fold_batch() -> None:
        by_group: dict[str, list[tuple[Any, datetime, int]]] = {}
        for record in pending:
            decoded = facts.decode(record.value, key=record.key)
            judged = by_group.get(decoded.subject)
            if judged is None:
                judged = by_group[decoded.subject] = []
            judged.append((decoded.event, decoded.received_at, record.partition))
        pending.clear()
        for group_id, judged in by_group.items():
            state = before = states.get(group_id) or GroupState()
            for fact, now, partition in judged:
                # The programme as the worker picks it (`folding.GroupFolding.programme_of`).
                name = fact.programme if isinstance(fact, NAMES_PROGRAMME) else ""
                if not name and state.context is not None:
                    name = state.context.programme
                outcome = engine.step(
                    state,
                    fact,
                    now,
                    programmes.get(name, DEFAULT_PROGRAMME),
                    group_id=group_id,
                    partition=partition,
                    received_at=now,
                )
                for decision in outcome.decisions:
                    serde.encode_event(_probe_event(decision, group_id), source="bench", time=now)
                state = outcome.state
            if state is not before:
                states[group_id] = state
                encode_state(state)
        collector.after_batch()

    def bare(record: ConsumerRecord[bytes, bytes]) -> None:
        pending.append(record)
        if len(pending) == BARE_BATCH:
            fold_batch()

    async def read_and_fold() -> float:
        seconds = await _consume_all(bootstrap, ends, bare)
        began = time.perf_counter()
        fold_batch()  # the last, partial batch
        return seconds + time.perf_counter() - began

    gc.disable()
    try:
        seconds = asyncio.run(read_and_fold())
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return BareLoop(seconds, len(states), sum(len(encode_state(state)) for state in states.values()))


def bare_loop_compiled(bootstrap: str, ends: dict[TopicPartition, int]) -> BareLoop:
    """`bare_rules_loop` with the rules compiled by mypyc (built first if the sources changed), in a
    process of its own (`tools/bench/bare_loop.py`)."""
    build = native_build.build()
    payload = {"bootstrap": bootstrap, "ends": [[tp.topic, tp.partition, end] for tp, end in ends.items()]}
    finished = subprocess.run(
        [sys.executable, "-m", "tools.bench.bare_loop", str(build), json.dumps(payload)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"the compiled bare loop failed:\n{finished.stderr[-3000:]}")
    figures = json.loads(finished.stdout.strip().splitlines()[-1])
    return BareLoop(figures["seconds"], figures["groups"], figures["state_bytes"])


def replay(
    bootstrap: str,
    workdir: Path,
    *,
    shape: Shape,
    repeats: int,
    worker_timeout: float = 900,
    pair: bool = True,
    loop: bool = True,
) -> ReplayResult:
    """Produce a generated programme, then time the raw consumer, the bare rules loop, the worker
    and (with `pair`) two workers in one consumer group; with `loop`, the same for the loop consumer."""
    prefix = "bench-replay."
    create_topics(bootstrap, prefix=prefix)
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    result = ReplayResult(shape=shape)
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as directory:
        began = time.perf_counter()
        spool, spooled = spool_programme(shape, Rates(), Path(directory))
        result.generate_seconds = time.perf_counter() - began
        stats = asyncio.run(produce(spool, kafka=kafka, total=spooled.records))
    result.records = stats.records
    result.produce_per_s = stats.records_per_second
    result.groups = spooled.groups
    result.facilitators = spooled.facilitators
    result.oracle = spooled.oracle
    source_names = [
        kafka.topic(name) for name in (topics.MEETINGS_EVENTS, topics.PLANS_EVENTS, topics.EVALUATIONS_EVENTS)
    ]
    ends = source_ends(bootstrap, source_names)
    total = sum(ends.values())
    result.meetings_topic_records = total
    log.info(
        "replay: %d records produced (%d on the monitoring's sources) at %.0f/s",
        stats.records,
        total,
        stats.records_per_second,
    )

    for repeat in range(repeats):
        count = 0

        def raw(record: ConsumerRecord[bytes, bytes]) -> None:
            nonlocal count
            count += 1

        seconds = asyncio.run(_consume_all(bootstrap, ends, raw))
        result.raw_consumer_per_s.append(count / seconds)
        result.faust_empty_per_s.append(faust_ceiling.measure(bootstrap, prefix, total, workdir / "ceiling"))
        # The rules compiled, as the worker runs them (a process of its own: the compiled modules must
        # be in place before anything imports the rules): every repeat, beside its raw read, for a
        # median (a run lasts about a second); then once from the sources, here.
        compiled = bare_loop_compiled(bootstrap, ends)
        result.bare_loop_per_s.append(total / compiled.seconds)
        if repeat > 0:
            log.info(
                "replay run %d: raw consumer %.0f/s, Faust with an empty agent %.0f/s, bare rules loop %.0f/s",
                repeat + 1,
                result.raw_consumer_per_s[-1],
                result.faust_empty_per_s[-1],
                result.bare_loop_per_s[-1],
            )
            continue
        with streaming_collector():  # the worker's collector settings (shared/heap.py), for a like comparison
            from_sources = bare_rules_loop(bootstrap, ends)
        result.bare_loop_sources_per_s.append(total / from_sources.seconds)
        result.state_groups, result.state_bytes = from_sources.groups, from_sources.state_bytes
        log.info(
            "replay run %d: raw consumer %.0f/s, Faust with an empty agent %.0f/s, bare rules loop %.0f/s "
            "(compiled; %.0f/s from the sources)",
            repeat + 1,
            result.raw_consumer_per_s[-1],
            result.faust_empty_per_s[-1],
            result.bare_loop_per_s[-1],
            result.bare_loop_sources_per_s[-1],
        )

    deviations_topic = kafka.topic(topics.MONITORING_DEVIATIONS)
    # Each run's publications, by the deviations topic's end offsets after it.
    ends_after: dict[str, dict[int, int]] = {"start": end_offsets(bootstrap, deviations_topic)}

    def workers(
        name: str, app_id: str, count: int, consumer: str = "faust", kill_at: float | None = None, **env: str
    ) -> WorkersRun:
        run = run_workers(
            bootstrap,
            workdir / name,
            prefix,
            app_id,
            count,
            source_names,
            total,
            worker_timeout,
            consumer=consumer,
            extra_env=env,
            kill_at=kill_at,
        )
        ends_after[name] = end_offsets(bootstrap, deviations_topic)
        return run

    # The workers run the rules compiled, as they do by default (`make setup` builds them; built here
    # if the sources changed since), except the one run that measures the sources.
    native_build.build()
    single = workers("replay", "pantau-monitoring", 1)
    result.worker_seconds, result.worker_startup_seconds = single.seconds, single.startup_seconds
    result.worker_per_s = single.per_s
    result.worker_rss_start_mib, result.worker_rss_end_mib = single.rss_start_mib[0], single.rss_end_mib[0]
    result.worker_batches, result.worker_batch_seconds = single.batches.batches, single.batches.seconds
    result.worker_batch_phases = single.batches.phases
    if pair:
        # Two workers in one consumer group of their own (their own changelog, ticks and signals
        # topics) over the same records: their combined pace, and whether they publish what one did.
        both = workers("replay-pair", "pantau-monitoring-pair", 2)
        result.pair_per_s, result.pair_seconds = both.per_s, both.seconds
    if loop:
        # The loop consumer over the same records (its own consumer group, changelogs and signals).
        looped = workers("replay-loop", "pantau-monitoring", 1, consumer="loop")
        result.loop_per_s, result.loop_startup_seconds = looped.per_s, looped.startup_seconds
        result.loop_rss_start_mib, result.loop_rss_end_mib = looped.rss_start_mib[0], looped.rss_end_mib[0]
        result.loop_batches, result.loop_batch_seconds = looped.batches.batches, looped.batches.seconds
        result.loop_batch_phases = looped.batches.phases
        if pair:
            # In batches of 20,000: with the replay batch (`REPLAY_BATCH_SIZES`) the first worker to be ready takes
            # the whole of this load in its first batch, and the pair shows nothing of sharing it.
            loop_pair = workers(
                "replay-loop-pair",
                "pantau-monitoring-pair",
                2,
                consumer="loop",
                PANTAU_MONITORING_BATCH_SIZE=str(PAIR_BATCH),
                PANTAU_MONITORING_BATCH_SECONDS="0.25",
            )
            result.loop_pair_ran = True
            result.loop_pair_per_s = loop_pair.per_s
            result.loop_pair_timed_s = loop_pair.seconds - loop_pair.startup_seconds
            # The same pair with one worker killed midway (`kill -9`, not restarted): the survivor
            # takes its partitions once the session times out, reads their states from the changelogs
            # and folds from the committed offsets. `python -m tools.faults --case monitoring-loop-pair-kill`
            # runs it over and over, with a baseline of its own.
            killed = workers(
                "replay-loop-kill",
                "pantau-monitoring-kill",
                2,
                consumer="loop",
                kill_at=KILL_AT,
                PANTAU_MONITORING_BATCH_SIZE=str(KILL_BATCH),
                PANTAU_MONITORING_BATCH_SECONDS="0.25",
            )
            result.loop_kill_ran = True
            result.loop_kill_after_s = killed.after_kill_s
            result.loop_kill_share = killed.committed_at_kill / total
        # The same with the rules from the sources (what the compiled build is worth).
        result.loop_sources_per_s = workers(
            "replay-loop-sources", "pantau-monitoring-sources", 1, consumer="loop", PANTAU_MONITORING_NATIVE="off"
        ).per_s

    # Opened deviation ids of each run, compared as the fault runs compare them: the facilitator-level
    # rule depends on the order partitions are read in, which no two runs share.
    def collect(record: ConsumerRecord[bytes, bytes]) -> None:
        decoded = serde.decode(record.value)
        result.deviation_events[decoded.envelope.type] += 1
        if isinstance(decoded.event, DeviationOpened):
            event = decoded.event
            result.published.add(Expected(event.rule, event.group_id, event.occurrence))

    def collect_loop(record: ConsumerRecord[bytes, bytes]) -> None:
        decoded = serde.decode(record.value)
        if isinstance(decoded.event, DeviationOpened):
            event = decoded.event
            result.loop_published.add(Expected(event.rule, event.group_id, event.occurrence))

    names = list(ends_after)
    opened: dict[str, set[str]] = {}
    for before, name in itertools.pairwise(names):
        also = collect if name == "replay" else collect_loop if name == "replay-loop" else None
        opened[name] = opened_ids(bootstrap, deviations_topic, ends_after[before], ends_after[name], also)
    single_ids = opened["replay"]

    def against_one(name: str) -> tuple[int, int]:
        got = opened.get(name, set())
        return len(single_ids - got), len(got - single_ids)

    if pair:
        result.pair_missing, result.pair_extra = against_one("replay-pair")
        log.info(
            "two workers: %.0f events/s together (one: %.0f); opened ids %d missing, %d extra against one worker",
            result.pair_per_s,
            result.worker_per_s,
            result.pair_missing,
            result.pair_extra,
        )
    if loop:
        result.loop_missing, result.loop_extra = against_one("replay-loop")
        result.loop_sources_missing, result.loop_sources_extra = against_one("replay-loop-sources")
        log.info(
            "loop consumer: %.0f events/s (Faust worker: %.0f); opened ids %d missing, %d extra against it",
            result.loop_per_s,
            result.worker_per_s,
            result.loop_missing,
            result.loop_extra,
        )
        if pair:
            result.loop_pair_missing, result.loop_pair_extra = against_one("replay-loop-pair")
            result.loop_kill_missing, result.loop_kill_extra = against_one("replay-loop-kill")
            log.info(
                "two loop workers, one killed: caught up %s after the kill; opened ids %d missing, %d extra "
                "against one Faust worker",
                "–" if result.loop_kill_after_s is None else f"{result.loop_kill_after_s:.1f} s",
                result.loop_kill_missing,
                result.loop_kill_extra,
            )
            log.info(
                "two loop workers: %.0f events/s together; opened ids %d missing, %d extra against one Faust worker",
                result.loop_pair_per_s,
                result.loop_pair_missing,
                result.loop_pair_extra,
            )
    return result


def opened_ids(
    bootstrap: str,
    topic: str,
    starts: dict[int, int],
    ends: dict[int, int],
    also: Callable[[ConsumerRecord[bytes, bytes]], None] | None = None,
) -> set[str]:
    """The opened deviation ids between two sets of end offsets of the deviations topic (the
    facilitator-level rule aside: `UNORDERED_RULES`), each record handed to `also` too."""
    found: set[str] = set()

    def collect(record: ConsumerRecord[bytes, bytes]) -> None:
        if also is not None:
            also(record)
        decoded = serde.decode(record.value)
        if isinstance(decoded.event, DeviationOpened) and decoded.event.rule not in UNORDERED_RULES:
            found.add(decoded.event.deviation_id)

    if sum(ends.values()) > sum(starts.values()):
        asyncio.run(
            _consume_all(
                bootstrap,
                {TopicPartition(topic, p): end for p, end in ends.items()},
                collect,
                starts={TopicPartition(topic, p): starts.get(p, 0) for p in ends},
                # What the notifier reads: a killed loop worker's open transaction is aborted, never seen.
                isolation_level="read_committed",
            )
        )
    return found


@contextmanager
def streaming_collector() -> Iterator[None]:
    """The collector set as a worker sets it (`shared.heap.settle_for_streaming`) while the block
    runs, as it was afterwards."""
    thresholds = gc.get_threshold()
    settle_for_streaming()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@dataclass(frozen=True)
class WorkersRun:
    """Monitoring workers of one consumer group replaying the sources until their committed offsets
    reach the end: seconds from the first start, start-up until all were ready, events per second
    after start-up, each worker's resident memory then and at the end, the first worker's batches."""

    seconds: float
    startup_seconds: float
    per_s: float
    rss_start_mib: list[float]
    rss_end_mib: list[float]
    batches: BatchFigures
    # With `kill_at`: seconds from a worker's `kill -9` until the group had committed every
    # record (None when the load was committed before the kill could come).
    after_kill_s: float | None = None
    committed_at_kill: int = 0  # records committed when the kill came


def run_workers(
    bootstrap: str,
    workdir: Path,
    prefix: str,
    app_id: str,
    count: int,
    source_names: list[str],
    total: int,
    timeout: float,
    *,
    consumer: str = "faust",
    extra_env: dict[str, str] | None = None,
    kill_at: float | None = None,
) -> WorkersRun:
    """Start `count` monitoring workers in the consumer group of `app_id` (each its own process, port
    and data directory, as `services/monitoring/README.md` says to run several) reading with
    `consumer` (`PANTAU_MONITORING_CONSUMER`), and time them. With `kill_at`, once that share of the
    records is committed, a worker still holding source records it has not committed is killed
    (`kill -9`: no shutdown hook) and not restarted: the others take its partitions over."""
    stacks = [
        Stack(
            bootstrap_servers=bootstrap,
            workdir=workdir / f"worker-{index + 1}",
            topic_prefix=prefix,
            extra_env={
                "PANTAU_MONITORING_CLOCK": "event",
                "PANTAU_MONITORING_LOG_LEVEL": "warn",
                "PANTAU_MONITORING_APP_ID": app_id,
                "PANTAU_MONITORING_CONSUMER": consumer,
                **(extra_env or {}),
            },
        )
        for index in range(count)
    ]
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    group = kafka.group_id(app_id) + ("-loop" if consumer == "loop" else "")  # loop.LoopNames
    admin = KafkaAdminClient(**admin_client_config(bootstrap, "pantau-bench-admin", 10))
    try:
        began = time.monotonic()
        for stack in stacks:  # all at once: none replays alone while another starts
            start_services(stack, ("monitoring",), wait=False)
        for stack in stacks:
            stack.wait_ready(180)
        startup = time.monotonic() - began
        processes = [stack.processes["monitoring"] for stack in stacks]
        rss_start = [rss_mib(process.process.pid) for process in processes]
        deadline = time.monotonic() + timeout

        def committed_now() -> int:
            try:
                offsets = admin.list_group_offsets(group).get(group, {})
            except Exception as exc:  # the group does not exist until a worker joined
                log.debug("no committed offsets yet: %r", exc)
                return 0
            return sum(meta.offset for tp, meta in offsets.items() if tp.topic in source_names and meta.offset > 0)

        # What the first workers to be ready did while the others started does not count as after start-up.
        at_ready = committed = committed_now()
        killed_at: float | None = None
        killed: ServiceProcess | None = None
        committed_at_kill = 0
        while time.monotonic() < deadline:
            committed = committed_now()
            log.debug("committed %d of %d", committed, total)
            if committed >= total:
                break
            victim = None
            if kill_at is not None and killed_at is None and committed >= kill_at * total:
                victim = next((process for process in processes if _work_left(process, source_names)), None)
            if victim is not None:
                os.killpg(victim.process.pid, signal.SIGKILL)
                victim.process.wait(10)
                killed, killed_at, committed_at_kill = victim, time.monotonic(), committed
                log.info("killed a worker (kill -9) with %d of %d records committed", committed, total)
            for stack, process in zip(stacks, processes, strict=True):
                if process.process.poll() is not None and process is not killed:
                    raise RuntimeError(f"monitoring exited:\n{stack.tail('monitoring')}")
            time.sleep(0.2)
        seconds = time.monotonic() - began
        standing = [process for process in processes if process.process.poll() is None]
        rss_end = [rss_mib(process.process.pid) if process in standing else 0.0 for process in processes]
        batches = batch_figures(standing[0].base_url)
        per_s = (committed - at_ready) / max(1e-9, seconds - startup)
        after_kill = None if killed_at is None or committed < total else began + seconds - killed_at
        run = WorkersRun(seconds, startup, per_s, rss_start, rss_end, batches, after_kill, committed_at_kill)
        log.info(
            "%d monitoring worker(s): %d/%d committed in %.1f s (%.1f s start-up), RSS %s → %s MiB; "
            "the first: %d batches, %.1f s processing them (%s)",
            count,
            committed,
            total,
            run.seconds,
            run.startup_seconds,
            [round(value) for value in rss_start],
            [round(value) for value in rss_end],
            batches.batches,
            batches.seconds,
            phase_split(batches.phases),
        )
        # The last deviations come from ticks after the last record's batch: wait until the topic is quiet.
        settle_topic(bootstrap, f"{prefix}{topics.MONITORING_DEVIATIONS}")
        return run
    finally:
        for stack in stacks:
            stack.stop()
        admin.close()


def _work_left(process: ServiceProcess, source_names: list[str]) -> bool:
    """Whether this worker holds a source partition it has not committed to its end: a worker killed
    with nothing left of its own would leave its survivor nothing to take over."""
    try:
        report = httpx.get(f"{process.base_url}/debug/partitions", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(
        row["topic"] in source_names and (row.get("committed") or 0) < (row.get("highwater") or 0)
        for row in report.get("partitions", [])
    )


def _probe_event(decision: Any, group_id: str) -> DeviationOpened:
    """A deviation event of the right size for a decision (the bare loop encodes what it would send)."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return DeviationOpened(
        group_id=group_id,
        deviation_id=getattr(decision, "deviation_id", "dev-x"),
        rule=decision.rule,
        severity=decision.severity,
        programme="pkh-p2k2",
        facilitator_id="PDP-x",
        region_code="18.71.01.1001",
        occurrence=getattr(decision, "occurrence", "x") or "x",
        detected_at=moment,
        evidence_at=moment,
    )


@dataclass(frozen=True)
class RuleAccuracy:
    """Precision and recall of one rule's opened deviations against the oracle."""

    rule: str
    expected: int
    published: int
    true_positives: int
    ambiguous_published: int

    @property
    def precision(self) -> float | None:
        scored = self.published - self.ambiguous_published
        return self.true_positives / scored if scored else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.expected if self.expected else None


def accuracy(oracle: OracleResult, published: set[Expected]) -> list[RuleAccuracy]:
    """Per rule: ambiguous oracle entries count neither for nor against."""
    rules = sorted(set(ORACLE_RULES) | {item.rule for item in published})
    by_rule: dict[str, list[Expected]] = defaultdict(list)
    for item in published:
        by_rule[item.rule].append(item)
    rows = []
    for rule in rules:
        expected = {item for item in oracle.certain if item.rule == rule}
        ambiguous = {item for item in oracle.ambiguous if item.rule == rule}
        got = set(by_rule[rule])
        rows.append(RuleAccuracy(rule, len(expected), len(got), len(got & expected), len(got & ambiguous)))
    return rows


# --------------------------------------------------------------------------------------------------
# (iii) end-to-end latency
# --------------------------------------------------------------------------------------------------


@dataclass
class LatencyResult:
    """Report accepted → webhook delivered."""

    rate_per_s: float = 0.0
    sent: int = 0
    delivered: int = 0
    seconds: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.seconds, 0.5) if self.seconds else float("nan")

    @property
    def p99(self) -> float:
        return percentile(self.seconds, 0.99) if self.seconds else float("nan")


def latency(bootstrap: str, workdir: Path, *, rate_per_s: float = 5, duration_s: float = 30) -> LatencyResult:
    """Send chair-led meetings (each opens a deviation → one alert) at a steady rate through the
    whole stack; the latency is webhook receipt minus the API's answer."""
    from services.monitoring.rules.decisions import deviation_id

    prefix = "bench-latency."
    create_topics(bootstrap, prefix=prefix)
    receiver = WebhookReceiver().start()
    # One message per deviation: the pipeline's own latency. With incidents (the default) a group's
    # first message waits out the group_wait (minutes) on purpose, which is policy, not speed.
    stack = Stack(
        bootstrap_servers=bootstrap,
        workdir=workdir / "latency",
        topic_prefix=prefix,
        extra_env={"PANTAU_NOTIFICATIONS_INCIDENTS_ENABLED": "false"},
    )
    result = LatencyResult(rate_per_s=rate_per_s)
    accepted: dict[str, float] = {}
    try:
        stack.start(timeout=180)
        api = f"{stack.url('meetings')}/api/v1"
        count = int(rate_per_s * duration_s)
        with httpx.Client(base_url=api, headers=_admin_headers(), timeout=60) as client:
            registry = _Registry(client, groups=count, webhook_url=receiver.url, tag="L")
            time.sleep(3)  # let notifications learn the registry before the first deviation
            base = datetime.now(UTC) - timedelta(days=3)
            began = time.monotonic()
            for number, group in enumerate(registry.groups):
                pause = began + number / rate_per_s - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                report = registry.report(group, base + timedelta(minutes=number), chair_led=True)
                response = client.post("/meetings", json=report)
                response.raise_for_status()
                accepted[deviation_id("meeting.facilitator_absent", group, report["report_id"])] = time.time()
        result.sent = len(accepted)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(receiver.accepted) < result.sent:
            time.sleep(0.25)
        for delivery in receiver.accepted:
            sent_at = accepted.get(str(delivery.body.get("deviation_id")))
            if sent_at is not None and delivery.body.get("type") == "alert.opened":
                result.seconds.append(delivery.received_at - sent_at)
        result.delivered = len(result.seconds)
        log.info("latency: %d/%d alerts, p50 %.2f s, p99 %.2f s", result.delivered, result.sent, result.p50, result.p99)
    finally:
        stack.stop()
        receiver.stop()
    return result


def median(values: list[float]) -> float:
    """Median, NaN for nothing."""
    return statistics.median(values) if values else float("nan")
