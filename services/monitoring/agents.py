"""The monitoring worker's agents: what happens to each batch of records (`app.py` owns the topics,
the tables and the timer, and hands them over here).

- `watch_groups`: one agent over every group-keyed source (meetings, plans, evaluations) and the
  worker's own ticks topic, so a group's state is only ever changed by one stream, in order. It
  works in batches: each record goes through `engine.step`, the resulting deviation events and
  facilitator signals are published and acknowledged by the broker, then the new states are stored
  and acknowledged too; only then are the batch's records acknowledged (so their offsets can be
  committed). A crash can therefore repeat a publication (same derived deviation id) but never lose
  one, and never resume after records whose state it lost.
- `watch_facilitators`: the facilitator-level rule over a stream re-keyed by facilitator id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import EventT

from services.monitoring import engine
from services.monitoring.clock import RuleClock
from services.monitoring.metrics import SERVICE, MonitoringMetrics
from services.monitoring.programmes import ProgrammeConfig, programme_config
from services.monitoring.publishing import deviation_event
from services.monitoring.rules import many_groups
from services.monitoring.rules.decisions import Decision, Open
from services.monitoring.rules.many_groups import FacilitatorState, GroupSignal
from services.monitoring.rules.state import GroupState
from services.monitoring.settings import MonitoringSettings
from services.monitoring.stored_state import decode_state, encode_state
from services.monitoring.wake_index import WakeIndex
from shared import facts, serde
from shared.deadletters import dead_letter_headers
from shared.faust_app import in_event_context, message_headers, tables_delivered, write_row
from shared.faust_offsets import overtaken, read_again
from shared.intake import Refused, take_in

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """A record to publish before the batch's states are stored."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None = None


class PhaseClock:
    """Adds the time since the previous phase ended to `pantau_monitoring_batch_phase_seconds`."""

    __slots__ = ("metrics", "since")

    def __init__(self, metrics: MonitoringMetrics) -> None:
        self.metrics = metrics
        self.since = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.metrics.batch_phase_seconds.labels(phase).inc(now - self.since)
        self.since = now


@dataclass
class FoldedGroups:
    """What one batch of group-keyed records (and ticks) decided: the records to publish first, the
    decisions among them (for the metrics), and each touched group's state before and after, with
    its partition and the index of its last record in the batch (Faust writes its row in that
    record's context)."""

    outgoing: list[Outgoing] = field(default_factory=list)
    published: list[Decision] = field(default_factory=list)
    states: dict[str, GroupState] = field(default_factory=dict)
    loaded: dict[str, GroupState] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    last_index: dict[str, int] = field(default_factory=dict)

    def changed(self) -> dict[str, GroupState]:
        """The groups whose state must be stored (a state equal to the one loaded needs no write)."""
        return {group_id: state for group_id, state in self.states.items() if _differs(state, self.loaded[group_id])}


def _differs(state: GroupState, loaded: GroupState) -> bool:
    # Nearly every folded state moved its clock or wake-up: compared first, before the whole state
    # part by part (2 % of the loop worker's time over 12,018 groups, py-spy 2026-12-04).
    return state is not loaded and (
        state.clock_at != loaded.clock_at or state.wake_at != loaded.wake_at or state != loaded
    )


@dataclass
class FoldedSignals:
    """What one batch of facilitator signals decided, and each touched facilitator's new state (as
    its stored JSON) with the index of its last signal in the batch."""

    outgoing: list[Outgoing] = field(default_factory=list)
    published: list[Decision] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_index: dict[str, int] = field(default_factory=dict)


@dataclass
class GroupFolding:
    """A batch of records in, what to publish and what to store out: the part of the worker that
    does not depend on how records arrive. `Agents` (Faust) and `loop.LoopWorker` (a consumer of
    its own, Kafka transactions) are the two shells around it.

    A record is anything with `key`, `value` and a `message` with `topic`, `partition`, `offset`
    and `headers` (a Faust event; `loop.Delivery` around an aiokafka record). A record of
    `ticks_name` is a tick: time has come for the group of its key (`{"at": instant}`)."""

    settings: MonitoringSettings
    programmes: dict[str, ProgrammeConfig]
    metrics: MonitoringMetrics
    clock: RuleClock
    source_names: dict[str, str]  # prefixed topic name -> contract name
    ticks_name: str
    signals_name: str
    deviations_name: str
    dead_letters_name: str
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def fold_groups(self, events: Sequence[Any], load: Callable[[str], GroupState]) -> FoldedGroups:
        """Each record through `engine.step`, in order, on the states `load` gives (once per group)."""
        metrics = self.metrics
        folded = FoldedGroups()
        read: dict[str, int] = {}  # records per topic, counted once a batch (a counter's lock per record cost 1 %)
        try:
            self._fold_groups_into(folded, events, load, read)
        finally:
            for topic, count in read.items():
                metrics.intake.count_processed(topic, count)
        return folded

    def _fold_groups_into(
        self, folded: FoldedGroups, events: Sequence[Any], load: Callable[[str], GroupState], read: dict[str, int]
    ) -> None:
        settings, metrics = self.settings, self.metrics
        replay = settings.clock == "event"
        states, loaded, outgoing = folded.states, folded.loaded, folded.outgoing
        for index, event in enumerate(events):
            message = event.message
            partition = message.partition
            fact: facts.Fact | None = None
            received_at: datetime | None = None
            if message.topic == self.ticks_name:
                read["ticks"] = read.get("ticks", 0) + 1
                group_id = (event.key or b"").decode()
                tick_at = datetime.fromisoformat(orjson.loads(event.value or b"{}")["at"])
                # In replay a tick is an instant the timer saw this partition's clock reach, handed out
                # while the batch that moved the clock there may still have been unstored. After a
                # kill or a seek those records are read again, possibly after the tick: the tick must
                # not judge the group past what is read now (a progress report not yet read again
                # would look missing). Clamped, it decides nothing early; the group's wake-up instant
                # stays, and the index hands it out again when the clock gets there.
                now = min(tick_at, self.clock.now(partition)) if replay else self.clock.now()
            else:
                topic = self.source_names.get(message.topic, message.topic)
                # Read straight into the facts the rules fold (`shared.facts`: the contract's values
                # and refusals, at a fifth of pydantic's cost).
                read[topic] = read.get(topic, 0) + 1
                decoded = take_in(
                    event.value, event.key, topic=topic, metrics=metrics.intake, decode=facts.decode, counted=True
                )
                if decoded is None:
                    continue
                if isinstance(decoded, Refused):
                    outgoing.append(self.dead_letter(event, decoded.reason, decoded.detail))
                    continue
                fact = decoded.event
                group_id = decoded.subject
                received_at = decoded.received_at
                self.clock.observe(received_at, partition, message.topic, message.offset)
                now = self.clock.now(partition)  # wall clock, or the partition's safe watermark in replay
                if fact is None:
                    continue  # a contract event the rules do not fold: it only moved the clock
            if group_id not in states:
                loaded[group_id] = states[group_id] = load(group_id)
            state = states[group_id]
            try:
                programme = self.programme_of(state, fact)
                outcome = engine.step(
                    state,
                    fact,
                    now,
                    programme,
                    group_id=group_id,
                    partition=partition,
                    received_at=received_at,
                    replay=replay,
                )
            except Exception as exc:  # a bug must cost one record (kept in the DLQ), not the agent
                log.exception("processing a record of group %s failed", group_id)
                outgoing.append(self.dead_letter(event, "processing_error", f"{type(exc).__name__}: {exc}"[:300]))
                continue
            decisions, new_state = outcome.decisions, outcome.state
            if replay and new_state.clock_at is not None:
                now = new_state.clock_at  # the instant the group was judged at (never before its last)
            context = new_state.context
            if decisions and context is not None:
                for decision in decisions:
                    outgoing.append(
                        self.deviation_record(
                            decision,
                            group_id=group_id,
                            programme=context.programme,
                            facilitator_id=context.facilitator_id,
                            region_code=context.region_code,
                        )
                    )
                folded.published += decisions
            signal = engine.facilitator_signal(
                state,
                new_state,
                programme.rules.facilitator_many_groups_deviating,
                group_id=group_id,
                at=max((d.at or now for d in decisions), default=now) if decisions else now,
            )
            if signal is not None:
                key = signal.facilitator_id.encode()
                outgoing.append(Outgoing(self.signals_name, key, orjson.dumps(signal.to_json()), []))
            states[group_id] = new_state
            folded.partitions[group_id] = partition
            folded.last_index[group_id] = index

    def fold_signals(self, events: Sequence[Any], load: Callable[[str], Any]) -> FoldedSignals:
        """Each group's news through the facilitator-level rule, on the stored JSON `load` gives."""
        folded = FoldedSignals()
        states: dict[str, FacilitatorState] = {}
        for index, event in enumerate(events):
            self.metrics.intake.count_processed("facilitator-signals")
            data: dict[str, Any] = orjson.loads(event.value or b"{}")
            signal = GroupSignal.from_json(data)
            key = signal.facilitator_id
            state = states.get(key) or FacilitatorState.from_json(load(key))
            config = programme_config(self.programmes, signal.programme).rules.facilitator_many_groups_deviating
            open_place = state.place_of(state.open_group_id) if state.open_group_id else None
            state, decisions = many_groups.on_signal(state, signal, config)
            for group_id, decision in decisions:
                region, programme = (
                    (signal.region_code, signal.programme)
                    if isinstance(decision, Open) or open_place is None
                    else open_place
                )
                folded.outgoing.append(
                    self.deviation_record(
                        decision,
                        group_id=group_id,
                        programme=programme,
                        facilitator_id=signal.facilitator_id,
                        region_code=region,
                    )
                )
                folded.published.append(decision)
            states[key] = state
            folded.last_index[key] = index
        folded.states = {key: state.to_json() for key, state in states.items()}
        return folded

    def programme_of(self, state: GroupState, fact: facts.Fact | None) -> ProgrammeConfig:
        name = (getattr(fact, "programme", None) if fact is not None else None) or (
            state.context.programme if state.context else ""
        )
        return programme_config(self.programmes, name)

    def deviation_record(
        self, decision: Decision, *, group_id: str, programme: str, facilitator_id: str, region_code: str
    ) -> Outgoing:
        at = decision.at or self.clock.now()
        event = deviation_event(
            decision,
            group_id=group_id,
            programme=programme,
            facilitator_id=facilitator_id,
            region_code=region_code,
            now=at,
        )
        envelope = serde.envelope_for(event, source=self.settings.source, time=at)
        return Outgoing(self.deviations_name, group_id.encode(), serde.encode(envelope), serde.kafka_headers(envelope))

    def dead_letter(self, event: Any, reason: str, detail: str) -> Outgoing:
        message = event.message
        log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        self.metrics.intake.dead_lettered(reason)
        return Outgoing(
            self.dead_letters_name,
            event.key or b"",
            event.value if event.value is not None else b"",
            dead_letter_headers(
                service=SERVICE,
                reason=reason,
                detail=detail,
                source_topic=message.topic,
                source_partition=message.partition,
                source_offset=message.offset,
                original_headers=message_headers(message),
            ),
        )

    def observe_published(self, decisions: Sequence[Decision]) -> None:
        now = self.wall_clock()
        for decision in decisions:
            change = type(decision).__name__.lower()
            self.metrics.deviations.labels(decision.rule, decision.severity, change).inc()
            if change == "open" and self.settings.clock == "wall" and decision.at is not None:
                latency = max(0.0, (now - decision.at).total_seconds())
                self.metrics.detection_latency.labels(decision.rule).observe(latency)


@dataclass(kw_only=True)
class Agents(GroupFolding):
    """The Faust shell: the agents, their tables and Faust's producer (given by `app.create_app`)."""

    app: faust.App
    wake: WakeIndex
    group_state: Any  # faust Table: group id -> the GroupState's stored bytes (stored_state.py)
    facilitator_state: Any  # faust Table: facilitator id -> FacilitatorState JSON
    # The last decoded state per group, valid while the table still holds the very same value object
    # (after a rebalance or recovery the table holds new objects, and the cache simply misses). Kept
    # for the groups stored most recently only (`decoded_states_kept`): a decoded state is about ten
    # times its stored bytes, so a worker holding all 400,000 groups must not keep every one; a miss
    # costs one msgspec decode.
    _decoded: dict[str, tuple[Any, GroupState]] = field(default_factory=dict)

    # -- the agents ---------------------------------------------------------------------------------

    async def watch_groups(self, stream: Any) -> None:  # a faust Stream (StreamT lacks take_events)
        async for batch in stream.take_events(self.settings.batch_size, within=self.settings.batch_seconds):
            began = time.perf_counter()
            await self.process_groups(batch)
            self.metrics.batch_records.observe(len(batch))
            self.metrics.batch_seconds.observe(time.perf_counter() - began)

    async def watch_facilitators(self, stream: Any) -> None:
        async for batch in stream.take_events(self.settings.batch_size, within=self.settings.batch_seconds):
            await self.process_signals(batch)

    # -- one batch ----------------------------------------------------------------------------------

    async def process_groups(self, events: Sequence[EventT]) -> None:
        phases = PhaseClock(self.metrics)
        folded = self.fold_groups(events, self.load_state)
        phases.done("rules")
        await self.publish(folded.outgoing)
        self.observe_published(folded.published)
        phases.done("publish")
        again = await self.overtaken(events)
        for group_id, state in folded.states.items():
            partition = folded.partitions[group_id]
            if partition in again:
                continue
            if state.context is not None:
                self.wake.schedule(group_id, partition, state.wake_at)
            if state != folded.loaded[group_id]:
                write_row(self.group_state, group_id, encode_state(state), events[folded.last_index[group_id]])
                self._decoded.pop(group_id, None)  # re-inserted last: the dict's order is recency
                self._decoded[group_id] = (self.group_state.get(group_id), state)
        while len(self._decoded) > self.settings.decoded_states_kept:
            del self._decoded[next(iter(self._decoded))]
        phases.done("store")
        await self.group_state.changelog_sent()
        phases.done("changelog_send")
        # Only now may the batch's records be acknowledged (and their offsets committed).
        await tables_delivered(self.group_state)
        phases.done("changelog_wait")

    async def process_signals(self, events: Sequence[EventT]) -> None:
        folded = self.fold_signals(events, self.facilitator_state.get)
        await self.publish(folded.outgoing)
        self.observe_published(folded.published)
        if overtaken(self.app, events):
            # A facilitator's state folds signals of every partition: read the whole batch again.
            await read_again(self.app, events)
            return
        for key, value in folded.states.items():
            with in_event_context(events[folded.last_index[key]]):
                self.facilitator_state[key] = value
        await tables_delivered(self.facilitator_state)

    # -- helpers ------------------------------------------------------------------------------------

    async def overtaken(self, events: Sequence[EventT]) -> set[int]:
        """The partitions of this batch that a rebalance overtook since their records were delivered.
        Their groups' states must then not be stored: the tables are being rebuilt from the changelog
        meanwhile, and a state written now can be overwritten by an older one from the rebuild (a
        survivor then folded new facts into a group's past and reported done activities as overdue).
        Nor are their records acknowledged: they are read again and decide the same deviation ids
        again. The other partitions' groups are stored as usual."""
        again = overtaken(self.app, events)
        if again:
            behind = [event for event in events if event.message.partition in again]
            log.info(
                "a rebalance overtook %d of a batch of %d records (partitions %s): they will be read again",
                len(behind),
                len(events),
                sorted(again),
            )
            await read_again(self.app, behind)
        return again

    def load_state(self, group_id: str) -> GroupState:
        raw = self.group_state.get(group_id)
        cached = self._decoded.get(group_id)
        if cached is not None and raw is not None and cached[0] is raw:
            return cached[1]
        return decode_state(raw)

    async def publish(self, records: Sequence[Outgoing]) -> None:
        """Send everything, then wait for every acknowledgement (acks=all). Retries until it succeeds:
        an exception escaping here would crash the agent, and Faust's `take_events` acknowledges the
        batch on the way out, so records whose states were never stored would count as done.
        Re-sending after a partial failure only repeats events with the same derived ids."""
        if not records:
            return
        delay = 0.5
        while True:
            try:
                producer = self.app.producer
                pending = [
                    await producer.send(record.topic, record.key, record.value, record.partition, None, record.headers)
                    for record in records
                ]
                await asyncio.gather(*pending)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.publish_retries.inc()
                log.warning("publishing %d records failed (%s); retrying in %.1fs", len(records), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
