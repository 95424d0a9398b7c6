"""The functional core of monitoring: fold one fact (or the passing of time) into a group's state and
collect the rules' decisions.

Agents call these with the table's state and the rule clock's `now`, publish the decisions as
deviation events, and only then store the returned state. Duplicated input is recognised here (by
report, evaluation and progress ids; by open and recently closed deviation ids), so redelivery
changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from services.monitoring.programmes import ManyGroupsConfig, ProgrammeConfig
from services.monitoring.rules import (
    activities,
    attendance_declining,
    facilitator_absent,
    low_attendance,
    low_score,
    overdue,
    reporting_lagging,
    sustained_success,
    too_short,
)
from services.monitoring.rules.decisions import Decision, Escalate, Open, Resolve
from services.monitoring.rules.many_groups import NOT_COUNTED, GroupSignal, counts
from services.monitoring.rules.state import (
    CLOSED_IDS_KEPT,
    EVALUATIONS_KEPT,
    SUPERSEDED_KEPT,
    ActivityState,
    DeviceWatermark,
    EvaluationSummary,
    GroupContext,
    GroupState,
    MeetingSummary,
    OpenDeviation,
    ScheduledPeriod,
    SupersededProgress,
    kept_sync_marks,
)
from services.monitoring.rules.syncs import SYNC_SETTLE, SyncMove
from shared.events.base import EventData
from shared.facts import (
    ActivityProgressed,
    DeviceSynced,
    EvaluationSubmitted,
    Fact,
    MeetingRecorded,
    MeetingScheduled,
    PlanAgreed,
    fact_of,
)
from shared.regions import time_zone_of

# The rules whose deviations `overdue.MeetingTimes` looks at (its own; the streak rule's due times
# do not depend on any).
MEETING_TIMES_RULES = frozenset({overdue.RULE})


class Outcome:
    """The new state and the decisions that led to it (only those that changed something)."""

    # A plain class, not a frozen dataclass: built several times a record, and a compiled frozen dataclass is built by
    # Python code (about 10x the cost of this `__init__`). `Final`: the type check keeps it unchanged.
    __slots__ = ("decisions", "state")

    def __init__(self, state: GroupState, decisions: tuple[Decision, ...]) -> None:
        self.state: Final = state
        self.decisions: Final = decisions

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outcome) and self.state == other.state and self.decisions == other.decisions

    def __repr__(self) -> str:
        return f"Outcome(state={self.state!r}, decisions={self.decisions!r})"


def _with_context(
    state: GroupState, programme: str, facilitator_id: str, region_code: str, partition: int
) -> GroupState:
    known = state.context
    if (
        known is not None
        and known.programme == programme
        and known.facilitator_id == facilitator_id
        and known.region_code == region_code
        and known.partition == partition
    ):
        return state  # nearly always: compared field by field, as a frozen dataclass is built by Python code
    context = GroupContext(programme, facilitator_id, region_code, partition)
    # Only the group's own facilitator's phones say anything about its reports (a sync may have
    # arrived before we knew who the facilitator is).
    if known is not None and known.facilitator_id != facilitator_id:
        return state.evolve(context=context, devices={})
    if any(mark.facilitator_id not in ("", facilitator_id) for mark in state.devices.values()):
        devices = {key: mark for key, mark in state.devices.items() if mark.facilitator_id in ("", facilitator_id)}
        return state.evolve(context=context, devices=devices)
    # The devices as they were (nearly always, the group's first context): what the plan rules
    # derived from them stays (`GroupState.evolve`), instead of being derived again for every activity.
    return state.evolve(context=context)


def on_meeting_recorded(
    state: GroupState, meeting: MeetingRecorded | EventData, programme: ProgrammeConfig, now: datetime | None = None
) -> Outcome:
    """Apply every meeting rule to a newly recorded meeting. Time then passes up to `now`, the rule
    clock (default: the report's receipt), never beyond it: in a replay the clock is held back until
    every topic has been read that far, and a record's own receipt time may be ahead of that."""
    if not isinstance(meeting, MeetingRecorded):  # the contract's event, as tests build it
        converted = fact_of(meeting)
        if not isinstance(converted, MeetingRecorded):
            raise TypeError(f"not a recorded meeting: {type(meeting).__name__}")
        meeting = converted
    if state.knows_report(meeting.report_id):
        return Outcome(state, ())
    if state.forgotten_before is not None and meeting.started_at <= state.forgotten_before:
        return Outcome(state, ())  # older than the meetings we keep: a redelivery or ancient history
    state = state.with_meeting(
        MeetingSummary(
            report_id=meeting.report_id,
            started_at=meeting.started_at,
            facilitator_present=meeting.facilitator_present,
            ended_at=meeting.ended_at,
            present=meeting.present_count,
            members=meeting.member_count,
            received_at=meeting.received_at,
        )
    )
    rules = programme.rules
    decisions: list[Decision] = []
    decisions += facilitator_absent.evaluate(state, meeting, rules.meeting_facilitator_absent)
    decisions += low_attendance.evaluate(state, meeting, rules.meeting_low_attendance)
    decisions += attendance_declining.evaluate(
        state, meeting, rules.meeting_attendance_declining, rules.meeting_low_attendance
    )
    decisions += too_short.evaluate(
        state, meeting, rules.meeting_too_short, expected_minutes=programme.expected_meeting_minutes
    )
    decisions += reporting_lagging.evaluate(state, meeting, rules.reporting_lagging)
    outcome = apply(state, decisions)
    # A meeting can settle an overdue period or extend a streak at once.
    clock = meeting.received_at if now is None else now
    return _then(outcome, on_time_passing(outcome.state, clock, programme, group_id=meeting.group_id))


def on_fact(
    state: GroupState,
    fact: Fact | EventData,
    now: datetime,
    programme: ProgrammeConfig,
    *,
    partition: int = 0,
    received_at: datetime | None = None,
    caught_up: bool = False,
) -> Outcome:
    """Fold any group-keyed fact; `now` is the rule clock when the fact is processed, `received_at`
    the server's receipt of it (its envelope's time) for facts that do not carry one. The returned
    state knows its next wake-up instant, so a later `catch_up` can trust it. `caught_up`: time has
    passed up to `now` for `state` already (`catch_up`), so the rules that time alone moves have
    nothing left to decide at `now` but what the fact changes (see `_after_sync`).
    A contract event (`shared.events`, as tests build them) is read as its fact (`shared.facts`)."""
    if isinstance(fact, EventData):
        converted = fact_of(fact)
        if converted is None:
            return Outcome(state, ())
        fact = converted
    outcome, time_passed = _fold(
        state, fact, now, programme, partition=partition, received_at=received_at, caught_up=caught_up
    )
    if outcome.state is state or time_passed:
        # Unchanged, or the fold ended with `on_time_passing(…, now)`, which recorded the wake-up
        # instant already: computing it again would repeat the costliest part of a step (every
        # activity's next decision instant) for nothing.
        return outcome
    group_id = getattr(fact, "group_id", "")
    return Outcome(with_wake(outcome.state, now, programme, group_id=group_id), outcome.decisions)


def _fold(
    state: GroupState,
    fact: Fact,
    now: datetime,
    programme: ProgrammeConfig,
    *,
    partition: int = 0,
    received_at: datetime | None = None,
    caught_up: bool = False,
) -> tuple[Outcome, bool]:
    """The fact folded into the state, and whether time passed to `now` at the end of it (the
    returned state then knows its wake-up instant)."""
    # A fact read again (a redelivery after a crash or a rebalance) changes nothing, the group's
    # context (programme, facilitator, region: the plan's time zone) included: only new facts move it.
    # When Pantau learned of a fact is its receipt (`received_at`), not the rule clock: in a replay the
    # clock waits for the slowest topic, so how far it lags a plan's or a schedule's receipt depends
    # on how the topics happened to be read, and the plan rules' "since the plan arrived" and a
    # period's "learned as history" would change with it (two replays of the same history differed).
    learned_at = now if received_at is None else received_at
    if isinstance(fact, MeetingRecorded):
        if not state.knows_report(fact.report_id):
            state = _with_context(state, fact.programme, fact.facilitator_id, fact.region_code, partition)
        recorded = on_meeting_recorded(state, fact, programme, now)
        return recorded, recorded.state is not state  # its early returns hand back the state given
    if isinstance(fact, MeetingScheduled):
        learned = next((period for period in state.periods if period.period == fact.period), None)
        if learned is None or (learned.due_at, learned.time_zone) != (fact.due_at, fact.time_zone):
            state = _with_context(state, fact.programme, fact.facilitator_id, fact.region_code, partition)
        cadence = programme.cadence
        state = state.with_period(
            ScheduledPeriod(fact.period, fact.due_at, fact.time_zone, cadence, learned_at=learned_at)
        )
        return on_time_passing(state, now, programme, group_id=fact.group_id), True
    if isinstance(fact, DeviceSynced):
        if state.context is not None and state.context.facilitator_id != fact.facilitator_id:
            return Outcome(state, ()), False
        current = state.devices.get(fact.device_id)
        if current is None or fact.synced_through > current.synced_through:
            move: SyncMove | None = None  # a new device: not one device's next sync
            if current is None:
                mark = DeviceWatermark(fact.synced_through, fact.received_at, fact.facilitator_id)
            else:
                marks = (*current.history, (current.synced_through, current.received_at))
                mark = DeviceWatermark(
                    fact.synced_through,
                    fact.received_at,
                    fact.facilitator_id,
                    kept_sync_marks(marks, now, received_by=current.received_by),
                    previous=current,
                )
                # What `syncs.sync_move(before, state)` would find, from the marks at hand.
                move = SyncMove.onto(current, marks, mark)
            devices = state.devices.copy()  # a copy, then one key: cheaper than `{**…, key: …}`
            devices[fact.device_id] = mark
            before, state = state, state.with_devices(devices)
            rules = programme.rules
            activities.carry_quiet_over_sync(
                before,
                state,
                now,
                rules.plan_activity_overdue,
                rules.plan_activity_at_risk,
                group_id=fact.group_id,
                move=move,
            )
            if caught_up:
                return _after_sync(before, state, now, programme, group_id=fact.group_id, move=move), True
        elif caught_up:
            return Outcome(state, ()), False  # a sync no newer than the device's mark: nothing moves
        return on_time_passing(state, now, programme, group_id=fact.group_id), True
    if isinstance(fact, PlanAgreed):  # PlanRevised is a PlanAgreed with changes
        time_zone = time_zone_of(state.context.region_code) if state.context else "Asia/Jakarta"
        known = state.activities
        updated = {
            activity.activity_id: known[activity.activity_id].evolve(
                title=activity.title,
                starts_on=fact.starts_on,
                due_on=activity.due_on,
                baseline=activity.indicator.baseline if activity.indicator else None,
                target=activity.indicator.target if activity.indicator else None,
            )
            if activity.activity_id in known
            else ActivityState(
                activity_id=activity.activity_id,
                plan_id=fact.plan_id,
                title=activity.title,
                starts_on=fact.starts_on,
                due_on=activity.due_on,
                time_zone=time_zone,
                baseline=activity.indicator.baseline if activity.indicator else None,
                target=activity.indicator.target if activity.indicator else None,
                # Plan rules count syncs and the offline grace from the plan's arrival (not from
                # when a busy worker got to it: a sync received in between still counts).
                known_at=learned_at,
            )
            for activity in fact.activities
        }
        others = {key: value for key, value in known.items() if value.plan_id != fact.plan_id}
        state = state.evolve(activities={**others, **updated})
        return on_time_passing(state, now, programme, group_id=fact.group_id), True
    if isinstance(fact, ActivityProgressed):
        activity = state.activities.get(fact.activity_id)
        if activity is None:
            return Outcome(state, ()), False
        latest = activity.progress_key()
        if latest is not None and (fact.reported_on, fact.recorded_at, fact.received_at, fact.progress_id) <= latest:
            # An older report arriving late does not undo newer progress, and the same report read
            # again (a redelivery after a crash) changes nothing. Reports of the same day are ordered
            # by when the phone recorded them, then by arrival, then by id: never by reading order.
            return Outcome(state, ()), False
        # Progress still needed to judge instants the clock has not passed (see SupersededProgress):
        # a window the clock is past, the settling of a sync included, has been judged already.
        superseded = tuple(item for item in activity.superseded if item.until + SYNC_SETTLE > now)
        if fact.received_at > now:  # read ahead of the rule clock: a replay reading plans.events first
            replaced = SupersededProgress(
                activity.status,
                activity.value,
                activity.reported_on,
                activity.progress_recorded_at,
                activity.progress_received_at,
                until=fact.received_at,
            )
            superseded = (*superseded, replaced)[:SUPERSEDED_KEPT]
        progressed = activity.progressed(
            fact.status,
            fact.indicator_value if fact.indicator_value is not None else activity.value,
            fact.reported_on,
            activity.done_received_at or (fact.received_at if fact.status == "done" else None),
            fact.recorded_at,
            fact.received_at,
            fact.progress_id,
            activity.status if activity.status != "done" else activity.status_before_done,
            superseded,
        )
        progressed_activities = state.activities.copy()
        progressed_activities[fact.activity_id] = progressed
        before, state = state, state.with_activities(progressed_activities)
        # Judged at the clock, even for a report read ahead of it: what it decides at its own arrival,
        # the wake index hands out once every topic has been read that far (a sync may come before it).
        decisions = activities.evaluate_progress(
            before,
            state,
            fact.activity_id,
            now,
            programme.rules.plan_activity_overdue,
            programme.rules.plan_activity_at_risk,
            group_id=fact.group_id,
            evidence_at=fact.received_at,
        )
        applied = apply(state, decisions)
        activities.carry_plan_times(
            before,
            applied.state,
            fact.activity_id,
            now,
            programme.rules.plan_activity_overdue,
            programme.rules.plan_activity_at_risk,
            group_id=fact.group_id,
            decided_nothing=not decisions,
        )
        return applied, False
    if isinstance(fact, EvaluationSubmitted):
        if any(item.evaluation_id == fact.evaluation_id for item in state.evaluations):
            return Outcome(state, ()), False
        state = _with_context(state, fact.programme, fact.facilitator_id, fact.region_code, partition)
        summary = EvaluationSummary(fact.evaluation_id, fact.direction, fact.mean_score, fact.received_at)
        state = state.evolve(evaluations=(*state.evaluations, summary)[-EVALUATIONS_KEPT:])
        return apply(state, low_score.evaluate(state, fact, programme.rules.evaluation_low_score)), False
    return Outcome(state, ()), False


def _after_sync(
    before: GroupState,
    after: GroupState,
    now: datetime,
    programme: ProgrammeConfig,
    *,
    group_id: str,
    move: SyncMove | None,
) -> Outcome:
    """`on_time_passing(after, now)` where `after` is `before` with a device's new sync and `before`
    had nothing left to decide at `now` (time had passed up to it). A sync is half of all records:
    only what the devices answer can differ between the two states, so only the rules that ask them
    are judged again, and only when the sync may answer otherwise: `meeting.overdue` for the periods
    still awaiting that evidence (`overdue.sync_may_decide`), the plan rules for the activities
    whose questions it moved (`activities.carry_quiet_over_sync`, done by the caller).
    `recognition.sustained_success` never asks the devices."""
    rules = programme.rules
    decisions: list[Decision] = []
    if overdue.sync_may_decide(before, after, now, rules.meeting_overdue, group_id=group_id, move=move):
        decisions += overdue.evaluate(after, now, rules.meeting_overdue, group_id=group_id)
    decisions += activities.evaluate_passing(
        after, now, rules.plan_activity_overdue, rules.plan_activity_at_risk, group_id=group_id
    )
    _in_order(decisions, now)
    outcome = apply(after, decisions)
    return Outcome(with_wake(outcome.state, now, programme, group_id=group_id), outcome.decisions)


def step(
    state: GroupState,
    fact: Fact | EventData | None,
    now: datetime,
    programme: ProgrammeConfig,
    *,
    group_id: str,
    partition: int = 0,
    received_at: datetime | None = None,
    replay: bool = False,
) -> Outcome:
    """One record as the worker processes it: a fact, or a tick (`fact=None`: time has come for
    this group). Time passes first, up to `now`, so the order of ticks and facts never matters.

    Everything that decides does it through here: the worker's agent, the tests, the generator's
    oracle and the benchmark's bare loop. With `replay` (the event-time clock of a replay) the group's
    own rule clock never goes back, although a partition's watermark can when a quiet topic wakes,
    and the returned state remembers the furthest instant it was judged at (`clock_at`).
    """
    if replay and state.clock_at is not None and state.clock_at > now:
        now = state.clock_at
    if fact is None:
        outcome = on_time_passing(state, now, programme, group_id=group_id)
    elif state.wake_at is None or state.wake_at > now:  # `catch_up` with nothing due: most records
        outcome = on_fact(state, fact, now, programme, partition=partition, received_at=received_at, caught_up=True)
    else:
        caught_up = on_time_passing(state, now, programme, group_id=group_id)
        outcome = _then(
            caught_up,
            on_fact(
                caught_up.state, fact, now, programme, partition=partition, received_at=received_at, caught_up=True
            ),
        )
    if replay and (outcome.state.clock_at is None or now > outcome.state.clock_at):
        return Outcome(outcome.state.with_instants(outcome.state.wake_at, now), outcome.decisions)
    return outcome


def catch_up(state: GroupState, now: datetime, programme: ProgrammeConfig, *, group_id: str) -> Outcome:
    """Let time pass up to `now` before folding a new event. Free when nothing is due: the state
    remembers its next wake-up instant (`GroupState.wake_at`, set by `with_wake`)."""
    if state.wake_at is None or state.wake_at > now:
        return Outcome(state, ())
    return on_time_passing(state, now, programme, group_id=group_id)


def _in_order(decisions: list[Decision], now: datetime) -> None:
    """Sort decisions by their instants (`now` for one without), as living through them would have
    made them. A function of its own: the key is a closure, built only when there is something to sort."""
    if len(decisions) > 1:
        decisions.sort(key=lambda decision: decision.at or now)


def with_wake(state: GroupState, now: datetime, programme: ProgrammeConfig, *, group_id: str) -> GroupState:
    """The state with its next wake-up instant after `now` recorded: `state` itself when that is the
    instant it holds already (most records: a sync or a progress report seldom moves it), one state
    fewer to build and, for a record that changed nothing else, none to store."""
    wake = next_wake(state, now, programme, group_id=group_id)
    known = state.wake_at
    if wake is None and known is None:
        return state
    if wake is not None and known is not None and wake == known and wake.tzinfo is known.tzinfo:
        return state
    return state.with_instants(wake, state.clock_at)


def on_time_passing(state: GroupState, now: datetime, programme: ProgrammeConfig, *, group_id: str) -> Outcome:
    """Rules that can fire with no new event, evaluated as of `now` (a tick, or any event's arrival).
    The returned state records its next wake-up instant after `now`."""
    rules = programme.rules
    decisions: list[Decision] = []
    decisions += overdue.evaluate(state, now, rules.meeting_overdue, group_id=group_id)
    decisions += activities.evaluate_passing(
        state, now, rules.plan_activity_overdue, rules.plan_activity_at_risk, group_id=group_id
    )
    decisions += sustained_success.evaluate(state, now, rules.recognition_sustained_success, group_id=group_id)
    # In the order living through it would have produced them (a catch-up may cover several instants).
    _in_order(decisions, now)
    outcome = apply(state, decisions)
    return Outcome(with_wake(outcome.state, now, programme, group_id=group_id), outcome.decisions)


def next_wake(state: GroupState, now: datetime, programme: ProgrammeConfig, *, group_id: str) -> datetime | None:
    """The next instant after `now` at which time alone may change a decision (for the tick index)."""
    rules = programme.rules
    # Both sets of instants are kept sorted beside the state (streaks are judged at due times, among
    # the meeting rules'): one look each, whatever the number of periods and activities.
    meeting_wake = overdue.meeting_times(state, rules.meeting_overdue, group_id=group_id).next_wake(now)
    plan = activities.plan_times(state, rules.plan_activity_overdue, rules.plan_activity_at_risk, group_id=group_id)
    plan_wake = plan.next_wake(now)
    if meeting_wake is None or plan_wake is None:
        return meeting_wake or plan_wake
    return min(meeting_wake, plan_wake)


def counts_towards_facilitator(state: GroupState, config: ManyGroupsConfig | None = None) -> bool:
    """Whether the group has an open deviation about itself heavy enough to count (the
    facilitator-level signal's input)."""
    config = config or ManyGroupsConfig()
    return any(
        item.rule not in NOT_COUNTED and item.concerns == "group" and counts(item.severity, config)
        for item in state.open.values()
    )


def facilitator_signal(
    before: GroupState, after: GroupState, config: ManyGroupsConfig, *, group_id: str, at: datetime
) -> GroupSignal | None:
    """The group's news for its facilitator's stream, if any: it appeared under this facilitator
    (so the facilitator knows how many groups they have), or it started or stopped counting."""
    context = after.context
    if context is None or (context is before.context and after.open is before.open):
        return None  # most records: neither the facilitator nor the open deviations changed
    appeared = before.context is None or before.context.facilitator_id != context.facilitator_id
    deviating = counts_towards_facilitator(after, config)
    if not appeared and deviating == counts_towards_facilitator(before, config):
        return None
    return GroupSignal(context.facilitator_id, group_id, context.region_code, context.programme, deviating, at)


def _then(first: Outcome, second: Outcome) -> Outcome:
    if not first.decisions:
        return second
    return Outcome(second.state, first.decisions + second.decisions)


def apply(state: GroupState, decisions: list[Decision]) -> Outcome:
    """Record decisions in the open set, dropping those that would change nothing."""
    if not decisions:
        return Outcome(state, ())
    open_deviations = dict(state.open)
    closed: list[str] = []
    effective: list[Decision] = []
    for decision in decisions:
        if isinstance(decision, Open):
            key = decision.deviation_id
            if key in open_deviations or key in state.closed or key in closed:
                continue
            open_deviations[key] = OpenDeviation(
                decision.rule,
                decision.occurrence,
                decision.severity,
                opened_at=decision.at,
                concerns=decision.concerns,
                memory=dict(decision.memory),
            )
        elif isinstance(decision, Escalate):
            current = open_deviations.get(decision.deviation_id)
            if current is None or current.severity == decision.severity:
                continue
            open_deviations[decision.deviation_id] = replace(current, severity=decision.severity)
        elif isinstance(decision, Resolve):
            if open_deviations.pop(decision.deviation_id, None) is None:
                continue
            closed.append(decision.deviation_id)
        effective.append(decision)
    # Deviations of other rules leave the plan rules' view as it was (their derived instants stay
    # valid), unless closing them pushes older ids out of the bounded closed list.
    # Likewise the meeting rules' instants, when only deviations of rules other than theirs changed.
    kept_closed = len(state.closed) + len(closed) <= CLOSED_IDS_KEPT
    plan_unchanged = kept_closed and all(decision.rule not in activities.RULES for decision in effective)
    meetings_unchanged = kept_closed and all(decision.rule not in MEETING_TIMES_RULES for decision in effective)
    unchanged = {"plan_unchanged": plan_unchanged, "meetings_unchanged": meetings_unchanged}
    new_state = state.evolve(**unchanged, open=open_deviations)
    if closed:
        new_state = new_state.evolve(**unchanged, closed=(*new_state.closed, *closed)[-CLOSED_IDS_KEPT:])
    return Outcome(new_state, tuple(effective))
