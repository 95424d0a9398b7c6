"""What a batch of records decides and changes, whoever read them (`GroupFolding`): each record
decoded into its fact, through `engine.step` on its group's state, into the deviations, facilitator
signals and dead letters to publish and the states to store. The loop worker (`loop.py`) and the
Faust worker (`agents.py`) are shells around it.

Compiled with the rules (`native.COMPILED`): the loop around each record is the worker's hottest
Python after the rules themselves, and compiled it calls the compiled `engine.step` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from mypy_extensions import mypyc_attr

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
from shared import facts, serde
from shared.deadletters import headers_for
from shared.intake import Refused, take_in

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


NAMES_PROGRAMME: Final = (facts.MeetingRecorded, facts.MeetingScheduled, facts.EvaluationSubmitted)


@dataclass(frozen=True)
class Outgoing:
    """A record to publish before the batch's states are stored."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None = None


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


def _first(item: tuple[int, Outgoing]) -> int:
    return item[0]


def _differs(state: GroupState, loaded: GroupState) -> bool:
    # Nearly every folded state moved its clock or wake-up: compared first, before the whole state
    # part by part (2 % of the loop worker's time over 12,018 groups, py-spy 2026-12-04).
    return state is not loaded and (
        state.clock_at != loaded.clock_at or state.wake_at != loaded.wake_at or state != loaded
    )


# A group's record as the fold's second pass takes it: (index in the batch, partition, fact or None
# for a tick, the instant it is judged at, its receipt, the record).
Judged = tuple[int, int, facts.Fact | None, datetime, datetime | None, Any]


class GroupBatch:
    """A batch read (`GroupFolding.read_groups`) and being folded group by group (`fold_some`)."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, list[Judged]]] = []  # in the order the groups first appear
        self.next = 0  # the first group not folded yet
        self.placed: list[tuple[int, Outgoing]] = []  # (index of the record it comes from, what to publish)
        self.folded = FoldedGroups()


@dataclass
class FoldedSignals:
    """What one batch of facilitator signals decided, and each touched facilitator's new state (as
    its stored JSON) with the index of its last signal in the batch."""

    outgoing: list[Outgoing] = field(default_factory=list)
    published: list[Decision] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_index: dict[str, int] = field(default_factory=dict)


# The Faust shell (`agents.Agents`) is a Python subclass of this compiled class.
@mypyc_attr(allow_interpreted_subclasses=True)
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
    wall_clock: Callable[[], datetime] = utc_now

    def fold_groups(self, events: Sequence[Any], load: Callable[[str], GroupState]) -> FoldedGroups:
        """Each record through `engine.step`, in order, on the states `load` gives (once per group):
        `read_groups`, `fold_some` until done, `finish` (the loop worker yields to its event loop
        between two `fold_some`)."""
        batch = self.read_groups(events)
        while not self.fold_some(batch, load, len(events)):
            pass
        return self.finish(batch)

    def read_groups(self, events: Sequence[Any]) -> GroupBatch:
        """The first of the fold's two passes: in reading order, each record is decoded and read by the
        rule clock, so the instant it is judged at is the clock's at that point of the reading, whatever
        order the groups are folded in next; records nobody can read become dead letters.

        Then (`fold_some`) each group's records are folded together, in their order, on its state. The
        result is the same as folding record after record (a group's decisions depend only on its own
        state, its records and their instants; `tests/unit/test_monitoring_loop.py` checks it); what
        differs is the processor's caches: record after record, every record lands on a group whose
        objects were evicted long ago (`services/monitoring/README.md`, "How fast"). The records to
        publish are put back in reading order (`finish`), so a facilitator's signals (whose order the
        facilitator-level rule depends on) and each group's deviations go out as they would have
        record after record."""
        metrics = self.metrics
        batch = GroupBatch()
        read: dict[str, int] = {}  # records per topic, counted once a batch (a counter's lock per record cost 1 %)
        try:
            self._read_into(batch, events, read)
        finally:
            for topic, count in read.items():
                metrics.intake.count_processed(topic, count)
        return batch

    def _read_into(self, batch: GroupBatch, events: Sequence[Any], read: dict[str, int]) -> None:
        replay = self.settings.clock == "event"
        metrics = self.metrics
        by_group: dict[str, list[Judged]] = {}
        placed = batch.placed
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
                    placed.append((index, self.dead_letter(event, decoded.reason, decoded.detail)))
                    continue
                fact = decoded.event
                group_id = decoded.subject
                received_at = decoded.received_at
                self.clock.observe(received_at, partition, message.topic, message.offset)
                now = self.clock.now(partition)  # wall clock, or the partition's safe watermark in replay
                if fact is None:
                    continue  # a contract event the rules do not fold: it only moved the clock
            judged = by_group.get(group_id)
            if judged is None:
                judged = by_group[group_id] = []
            judged.append((index, partition, fact, now, received_at, event))
        batch.groups = list(by_group.items())

    def fold_some(self, batch: GroupBatch, load: Callable[[str], GroupState], records: int) -> bool:
        """Fold the next groups of `batch` (at least `records` records, whole groups); True once every
        group is folded."""
        replay = self.settings.clock == "event"
        groups = batch.groups
        folded = 0
        while batch.next < len(groups) and folded < records:
            group_id, judged = groups[batch.next]
            batch.next += 1
            self._fold_group(batch.folded, group_id, judged, load(group_id), batch.placed, replay)
            folded += len(judged)
        return batch.next >= len(groups)

    def finish(self, batch: GroupBatch) -> FoldedGroups:
        """What the folded batch decided, its records to publish in reading order."""
        batch.placed.sort(key=_first)  # stable: a record's own records stay in the order they were made
        batch.folded.outgoing.extend(record for _, record in batch.placed)
        batch.placed = []
        return batch.folded

    def _fold_group(
        self,
        folded: FoldedGroups,
        group_id: str,
        judged: list[Judged],
        state: GroupState,
        placed: list[tuple[int, Outgoing]],
        replay: bool,
    ) -> None:
        """One group's records of the batch through `engine.step`, in order, each at its instant."""
        folded.loaded[group_id] = state
        partition, index = 0, 0
        for index, partition, fact, now, received_at, event in judged:
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
                detail = f"{type(exc).__name__}: {exc}"[:300]
                placed.append((index, self.dead_letter(event, "processing_error", detail)))
                continue
            decisions, new_state = outcome.decisions, outcome.state
            if replay and new_state.clock_at is not None:
                now = new_state.clock_at  # the instant the group was judged at (never before its last)
            context = new_state.context
            if decisions and context is not None:
                for decision in decisions:
                    placed.append(
                        (
                            index,
                            self.deviation_record(
                                decision,
                                group_id=group_id,
                                programme=context.programme,
                                facilitator_id=context.facilitator_id,
                                region_code=context.region_code,
                                judged_at=now,
                            ),
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
                placed.append((index, Outgoing(self.signals_name, key, orjson.dumps(signal.to_json()), [])))
            state = new_state
        folded.states[group_id] = state
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
        # The fact's own programme, if it names one; else the group's. Asked by type, not with
        # `getattr(fact, "programme", None)`: a fact without the field (a sync, a progress report:
        # most records) raised and caught an AttributeError each time.
        name = fact.programme if isinstance(fact, NAMES_PROGRAMME) else ""
        if not name and state.context is not None:
            name = state.context.programme
        return programme_config(self.programmes, name)

    def deviation_record(
        self,
        decision: Decision,
        *,
        group_id: str,
        programme: str,
        facilitator_id: str,
        region_code: str,
        judged_at: datetime | None = None,
    ) -> Outgoing:
        # Every rule stamps its decisions; the instant the group was judged at (or the clock's) is the
        # fallback, never when the code happened to run.
        at = decision.at or judged_at or self.clock.now()
        event = deviation_event(
            decision,
            group_id=group_id,
            programme=programme,
            facilitator_id=facilitator_id,
            region_code=region_code,
            now=at,
        )
        value = serde.encode_event(event, source=self.settings.source, time=at)
        return Outgoing(self.deviations_name, group_id.encode(), value, serde.event_headers(event.event_type))

    def dead_letter(self, event: Any, reason: str, detail: str) -> Outgoing:
        self.metrics.intake.dead_lettered(reason)
        return Outgoing(
            self.dead_letters_name,
            event.key or b"",
            event.value if event.value is not None else b"",
            headers_for(event.message, service=SERVICE, reason=reason, detail=detail),
        )

    def observe_published(self, decisions: Sequence[Decision]) -> None:
        now = self.wall_clock()
        for decision in decisions:
            change = type(decision).__name__.lower()
            self.metrics.deviations.labels(decision.rule, decision.severity, change).inc()
            if change == "open" and self.settings.clock == "wall" and decision.at is not None:
                latency = max(0.0, (now - decision.at).total_seconds())
                self.metrics.detection_latency.labels(decision.rule).observe(latency)
