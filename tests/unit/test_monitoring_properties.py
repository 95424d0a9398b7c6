"""Properties of monitoring's engine (Hypothesis): redelivery is harmless and a group's outcome
depends only on its own events, in its own order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.monitoring import engine
from services.monitoring.programmes import load_programmes
from services.monitoring.rules.activities import AT_RISK
from services.monitoring.rules.decisions import Decision, Open, deviation_id
from services.monitoring.rules.state import RECENT_MEETINGS_KEPT, GroupState
from services.monitoring.stored_state import decode_state, encode_state
from shared.events import ActivityProgressed, MeetingRecorded, PlanAgreed
from shared.events.meetings import Attendance
from tests.samples import SAMPLES
from tests.unit.test_monitoring_support import (
    GROUP,
    PKH,
    WIB,
    WIT,
    WITA,
    At,
    Step,
    Tick,
    activity,
    drive,
    evaluation,
    event_time,
    plan,
    progress,
    scheduled,
    step_once,
    synced,
    triples,
)
from tests.unit.test_monitoring_support import (
    meeting as build_meeting,
)

pytestmark = pytest.mark.unit

RULE = "meeting.facilitator_absent"
PROGRAMME = load_programmes()["pkh-p2k2"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    report_id: str
    offset_hours: int
    present: bool


def build(spec: Spec, group_id: str) -> MeetingRecorded:
    sample = SAMPLES[MeetingRecorded]
    assert isinstance(sample, MeetingRecorded)
    started = EPOCH + timedelta(hours=spec.offset_hours)
    return sample.model_copy(
        update={
            "group_id": group_id,
            "report_id": spec.report_id,
            "started_at": started,
            "ended_at": started + timedelta(hours=2),
            "recorded_at": started + timedelta(hours=2),
            "received_at": started + timedelta(hours=3),
            "facilitator_present": spec.present,
            "led_by": "facilitator" if spec.present else "chair",
            # Everyone present, so that only `meeting.facilitator_absent` has a reason to fire (the engine
            # now runs every meeting rule; the sample's 1 of 3 present would open `meeting.low_attendance`).
            "attendance": tuple(Attendance(member_ref=ref, status="present") for ref in ("m-1", "m-2", "m-chair")),
        }
    )


# At most the number of meetings the state keeps: a report older than the kept window is a separate,
# deterministic test in test_monitoring_rules.py.
specs = st.lists(
    st.builds(
        Spec,
        report_id=st.from_regex(r"\Ar-[a-z0-9]{1,10}\Z"),
        offset_hours=st.integers(min_value=0, max_value=24 * 365 * 3),
        present=st.booleans(),
    ),
    max_size=RECENT_MEETINGS_KEPT,
    unique_by=lambda spec: spec.report_id,
)


def run(meetings: list[MeetingRecorded]) -> tuple[GroupState, list[Decision]]:
    state = GroupState()
    decisions: list[Decision] = []
    for meeting in meetings:
        outcome = engine.on_meeting_recorded(state, meeting, PROGRAMME)
        state = outcome.state
        decisions += outcome.decisions
    return state, decisions


def opened_ids(decisions: list[Decision]) -> set[str]:
    return {d.deviation_id for d in decisions if isinstance(d, Open)}


@settings(max_examples=200, deadline=None)
@given(meetings=specs, data=st.data())
def test_redelivering_each_meeting_one_to_three_times_changes_nothing(
    meetings: list[Spec], data: st.DataObject
) -> None:
    once = [build(spec, "G-1") for spec in meetings]
    repeats = data.draw(st.lists(st.integers(1, 3), min_size=len(once), max_size=len(once)), label="repeats")
    redelivered = [meeting for meeting, times in zip(once, repeats, strict=True) for _ in range(times)]

    state_once, decisions_once = run(once)
    state_again, decisions_again = run(redelivered)

    assert state_again.open == state_once.open
    assert opened_ids(decisions_again) == opened_ids(decisions_once)
    assert decisions_again == decisions_once  # duplicates contribute no decision at all
    assert state_again == state_once


@settings(max_examples=200, deadline=None)
@given(first=specs, second=specs, data=st.data())
def test_outcome_depends_only_on_each_groups_own_order(
    first: list[Spec], second: list[Spec], data: st.DataObject
) -> None:
    streams = {"G-A": [build(s, "G-A") for s in first], "G-B": [build(s, "G-B") for s in second]}
    which = data.draw(st.permutations(["G-A"] * len(first) + ["G-B"] * len(second)), label="interleaving")

    states = {group: GroupState() for group in streams}
    decisions: dict[str, list[Decision]] = {group: [] for group in streams}
    cursors = dict.fromkeys(streams, 0)
    for group in which:
        meeting = streams[group][cursors[group]]
        cursors[group] += 1
        outcome = engine.on_meeting_recorded(states[group], meeting, PROGRAMME)
        states[group] = outcome.state
        decisions[group] += outcome.decisions

    for group, meetings in streams.items():
        alone_state, alone_decisions = run(meetings)
        assert states[group] == alone_state
        assert decisions[group] == alone_decisions
        assert all(d.deviation_id.startswith("dev-") for d in decisions[group])
        assert all(isinstance(d, Open) and d.subject == group for d in decisions[group] if isinstance(d, Open))


@settings(max_examples=200, deadline=None)
@given(meetings=specs)
def test_in_start_order_the_open_set_is_the_trailing_run_of_absences(meetings: list[Spec]) -> None:
    """An oracle for reports that arrive in start order: what stays open is exactly the absences after
    the last meeting with the facilitator, the first of them a warning and the rest critical."""
    ordered = sorted(meetings, key=lambda spec: (spec.offset_hours, spec.report_id))
    state, decisions = run([build(spec, "G-1") for spec in ordered])

    trailing: list[Spec] = []
    for spec in ordered:
        trailing = [] if spec.present else [*trailing, spec]
    expected = {
        deviation_id(RULE, "G-1", spec.report_id): ("warning" if position == 0 else "critical")
        for position, spec in enumerate(trailing)
    }
    assert {key: value.severity for key, value in state.open.items()} == expected
    assert opened_ids(decisions) == {deviation_id(RULE, "G-1", s.report_id) for s in ordered if not s.present}


# ---------------------------------------------------------------- generated quarters: replay equivalence


@dataclass(frozen=True)
class Quarter:
    """A generated stretch of one group's life: its facts (by arrival) and the live worker's extra ticks."""

    group_id: str
    facts: tuple[Step, ...]
    ticks: tuple[datetime, ...]


QUARTER_START = datetime(2026, 1, 1, tzinfo=UTC)
QUARTER_END = datetime(2026, 7, 15, tzinfo=UTC)
ZONES = (WIB, WITA, WIT)


@st.composite
def quarters(draw: st.DrawFn, group_id: str = "G-1") -> Quarter:
    time_zone = draw(st.sampled_from(ZONES), label="time_zone")
    months = draw(st.integers(3, 6), label="periods")
    periods = [f"2026-{month:02d}" for month in range(1, months + 1)]
    facts: list[Step] = [
        At(scheduled(period, time_zone=time_zone, group_id=group_id), datetime(2025, 12, 1, tzinfo=UTC))
        for period in periods
    ]
    hours = st.integers(0, 24 * 190)

    def moment(offset_hours: int) -> datetime:
        return QUARTER_START + timedelta(hours=offset_hours)

    # the plan: one or two activities, some with an indicator
    planned = []
    for index in range(draw(st.integers(0, 2), label="activities")):
        due_on = date(2026, draw(st.integers(2, 5)), draw(st.integers(1, 28)))
        measured = draw(st.booleans())
        planned.append(
            activity(f"A-{index}", due_on, baseline=0 if measured else None, target=10 if measured else None)
        )
    if planned:
        agreed = QUARTER_START + timedelta(hours=1)
        facts.append(At(plan_for(group_id, planned), agreed))
        for n in range(draw(st.integers(0, 4), label="progress reports")):
            chosen = draw(st.sampled_from(planned))
            # Progress is reported on an agreed plan's activity (the meetings API refuses it before),
            # and both travel on the group's partition of `plans.events`, in order.
            received = max(moment(draw(hours)), agreed + timedelta(minutes=1))
            facts.append(
                progress_for(
                    group_id,
                    f"pr-{n}",
                    chosen.activity_id,
                    received,
                    status=draw(st.sampled_from(["not_started", "in_progress", "done", "blocked"])),
                    value=draw(st.none() | st.integers(0, 10).map(float)),
                )
            )
    # meetings: missing, on time, late, chair-led, short, poorly attended, reported late
    for number, period in enumerate(periods):
        style = draw(st.sampled_from(["none", "ok", "ok", "late", "chair", "short", "low"]), label=f"meeting {period}")
        if style == "none":
            continue
        month = int(period[5:])
        day = draw(st.integers(11, 27)) if style == "late" else draw(st.integers(1, 9))
        started = datetime(2026, month, day, 2, tzinfo=UTC)
        delay = timedelta(hours=draw(st.sampled_from([1, 5, 30, 24 * 4, 24 * 9, 24 * 16, 24 * 25])))
        facts.append(
            build_meeting(
                f"r-{number}",
                started,
                present={"low": 6, "ok": draw(st.integers(8, 10))}.get(style, 10),
                minutes=40 if style == "short" else 120,
                facilitator_present=style != "chair",
                received_at=started + timedelta(hours=2) + delay,
                group_id=group_id,
                time_zone=time_zone,
            )
        )
    # device syncs (two phones), evaluations
    for _ in range(draw(st.integers(0, 6), label="syncs")):
        received = moment(draw(hours))
        lag = timedelta(hours=draw(st.integers(0, 72)))
        facts.append(
            synced(
                received - lag,
                received_at=received,
                device_id=draw(st.sampled_from(["hp-1", "hp-2"])),
                group_id=group_id,
            )
        )
    for n in range(draw(st.integers(0, 3), label="evaluations")):
        facts.append(
            evaluation(
                f"ev-{n}",
                draw(st.sampled_from([1.0, 2.0, 2.4, 2.5, 3.0, 4.5])),
                moment(draw(hours)),
                direction=draw(st.sampled_from(["group_rates_facilitator", "facilitator_rates_group"])),
                group_id=group_id,
            )
        )
    facts.sort(key=event_time)
    ticks = tuple(sorted(moment(h) for h in draw(st.lists(hours, max_size=12), label="extra ticks")))
    return Quarter(group_id, tuple(facts), ticks)


def plan_for(group_id: str, planned: list) -> PlanAgreed:
    return plan(*planned).model_copy(update={"group_id": group_id})


def progress_for(group_id: str, *args: object, **kwargs: object) -> ActivityProgressed:
    return progress(*args, **kwargs).model_copy(update={"group_id": group_id})  # type: ignore[arg-type]


def live(quarter: Quarter) -> list[Decision]:
    """As a live worker: every fact at its arrival, the wake index's ticks, and extra ticks anywhere."""
    extra = [Tick(at) for at in quarter.ticks]
    steps = sorted([*quarter.facts, *extra, Tick(QUARTER_END)], key=event_time)
    state, decisions, now = GroupState(), [], datetime(2025, 11, 1, tzinfo=UTC)
    for step in steps:
        while True:  # the timer hands out every wake instant that comes before this record
            wake = engine.next_wake(state, now, PKH, group_id=quarter.group_id)
            if wake is None or wake >= event_time(step):
                break
            state, made = step_once(state, Tick(wake), PKH, group_id=quarter.group_id)
            decisions += made
            now = wake
        state, made = step_once(state, step, PKH, group_id=quarter.group_id)
        decisions += made
        now = event_time(step)
    return decisions


def replay(quarter: Quarter) -> list[Decision]:
    """As a replay: the facts alone, at their event times, and one tick at the end."""
    _, decisions = drive([*quarter.facts, Tick(QUARTER_END)], group_id=quarter.group_id)
    return decisions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters())
def test_replay_detects_the_same_deviations_at_the_same_instants_as_living_through_it(quarter: Quarter) -> None:
    lived = triples(live(quarter))
    replayed = triples(replay(quarter))
    assert replayed == lived, f"only live: {sorted(lived - replayed)}\nonly replay: {sorted(replayed - lived)}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters(), data=st.data())
def test_duplicate_delivery_of_any_fact_never_changes_the_deviations(quarter: Quarter, data: st.DataObject) -> None:
    """Each fact delivered one to three times, plus a crash-style redelivery of a whole run of facts;
    a redelivered fact is processed at the worker's current time (the wall clock never goes back)."""
    facts = list(quarter.facts)
    repeats = data.draw(st.lists(st.integers(1, 3), min_size=len(facts), max_size=len(facts)), label="repeats")
    delivered = [fact for fact, times in zip(facts, repeats, strict=True) for _ in range(times)]
    if facts:
        first = data.draw(st.integers(0, len(facts) - 1), label="redelivered from")
        last = data.draw(st.integers(first, len(facts) - 1), label="redelivered through")
        position = delivered.index(facts[last]) + repeats[last]
        delivered[position:position] = facts[first : last + 1]

    def run(steps: list[Step]) -> tuple[GroupState, list[Decision]]:
        state, decisions = GroupState(), []
        now = datetime(2025, 11, 1, tzinfo=UTC)
        for step in [*steps, Tick(QUARTER_END)]:
            now = max(now, event_time(step))
            state, made = step_once(state, step, PKH, now=now, group_id=quarter.group_id)
            decisions += made
        return state, decisions

    once_state, once = run(facts)
    again_state, again = run(delivered)
    assert triples(again) == triples(once)
    assert len(again) == len(once)  # not even a repeated publication
    assert again_state.open == once_state.open
    assert set(again_state.closed) == set(once_state.closed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=quarters("G-A"),
    second=quarters("G-B"),
    third=quarters("G-C"),
    data=st.data(),
)
def test_generated_groups_interleaved_arbitrarily_decide_as_each_group_alone(
    first: Quarter, second: Quarter, third: Quarter, data: st.DataObject
) -> None:
    """Per-group order is all that matters: shuffle three groups' records together (keeping each
    group's own order) and every group gets exactly the decisions, in order, that it gets alone."""
    streams = {q.group_id: [*q.facts, Tick(QUARTER_END)] for q in (first, second, third)}
    order = data.draw(st.permutations([group for group, steps in streams.items() for _ in steps]), label="interleaving")
    states = {group: GroupState() for group in streams}
    decisions: dict[str, list[Decision]] = {group: [] for group in streams}
    cursors = dict.fromkeys(streams, 0)
    for group in order:
        step = streams[group][cursors[group]]
        cursors[group] += 1
        states[group], made = step_once(states[group], step, PKH, group_id=group)
        decisions[group] += made
    for group, steps in streams.items():
        alone_state, alone = drive(steps, group_id=group)
        assert decisions[group] == alone
        assert states[group] == alone_state
        assert all(getattr(d, "subject", group) == group for d in alone)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters())
def test_after_every_step_the_state_knows_its_true_next_wake_up(quarter: Quarter) -> None:
    # `catch_up` trusts `wake_at` to skip time passing, and a step computes it only once (a fold that
    # ends by letting time pass has it already): it must always be what `next_wake` says.
    state = GroupState()
    for step in sorted([*quarter.facts, Tick(QUARTER_END)], key=event_time):
        state, _ = step_once(state, step, PKH, group_id=quarter.group_id)
        assert state.wake_at == engine.next_wake(state, event_time(step), PKH, group_id=quarter.group_id), step


@pytest.mark.parametrize("status", ["done", "in_progress"])
def test_progress_moves_the_wake_up_its_fold_does_not_compute(status: str) -> None:
    # Progress is folded without letting time pass, so `on_fact` must compute the wake-up itself:
    # a measured activity reported well ahead of pace (or done) wakes later (or never) than before.
    known_at = datetime(2026, 1, 5, tzinfo=UTC)
    state, _ = step_once(
        GroupState(), At(plan(activity("A-1", date(2026, 6, 30), baseline=0, target=10)), known_at), PKH
    )
    before = state.wake_at
    reported = datetime(2026, 1, 6, tzinfo=UTC)
    state, _ = step_once(state, progress("pr-1", "A-1", reported, status=status, value=9.0), PKH)
    assert state.wake_at == engine.next_wake(state, reported, PKH, group_id=GROUP)
    assert state.wake_at != before


def read_back(state: GroupState) -> GroupState:
    """The state as a restarted worker reads it from its table: stored (`stored_state`), then decoded;
    the former JSON form must read back the same (a changelog written before it)."""
    assert GroupState.from_json(json.loads(json.dumps(state.to_json()))) == state
    return decode_state(encode_state(state))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters(), data=st.data())
def test_a_state_stored_and_read_back_at_any_point_decides_as_the_one_kept_in_memory(
    quarter: Quarter, data: st.DataObject
) -> None:
    """A restart: the worker reads the group's stored bytes back (no derived, unstored knowledge)
    and goes on; every later decision is the one the worker that kept running makes."""
    steps = [*quarter.facts, Tick(QUARTER_END)]
    cut = data.draw(st.integers(0, len(steps)), label="restart before step")
    kept, kept_decisions = drive(steps, group_id=quarter.group_id)
    state, decisions = drive(steps[:cut], group_id=quarter.group_id)
    state = read_back(state)
    state, later = drive(steps[cut:], state=state, group_id=quarter.group_id)
    decisions += later
    assert triples(decisions) == triples(kept_decisions)
    assert read_back(state) == read_back(kept)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters(), data=st.data())
def test_a_crash_reads_the_stored_state_back_and_redelivers_what_was_not_committed(
    quarter: Quarter, data: st.DataObject
) -> None:
    """`kill -9` as the worker lives it: the state stored after fact `last` (its changelog write
    reached the broker) is read back, and the facts from the last committed offset `first` on are
    delivered again, at the worker's current time; the decisions are those of the run without it."""
    facts = list(quarter.facts)
    if not facts:
        return
    first = data.draw(st.integers(0, len(facts) - 1), label="committed up to")
    last = data.draw(st.integers(first, len(facts) - 1), label="stored through")

    def run(crash: bool) -> tuple[GroupState, list[Decision]]:
        state, decisions = GroupState(), []
        now = datetime(2025, 11, 1, tzinfo=UTC)
        steps: list[Step] = [*facts, Tick(QUARTER_END)]
        if crash:
            steps[last + 1 : last + 1] = [*facts[first : last + 1]]
        for index, step in enumerate(steps):
            if crash and index == last + 1:
                state = read_back(state)
            now = max(now, event_time(step))
            state, made = step_once(state, step, PKH, now=now, group_id=quarter.group_id)
            decisions += made
        return state, decisions

    kept_state, kept = run(crash=False)
    crashed_state, crashed = run(crash=True)
    assert triples(crashed) == triples(kept)
    assert crashed_state.open == kept_state.open


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters(), data=st.data())
def test_remembered_plan_times_decide_exactly_as_a_state_read_back_fresh(quarter: Quarter, data: st.DataObject) -> None:
    # The plan rules keep derived instants beside the state (skipping activities a record cannot
    # change); a state read back from the table has none. Both must decide the same, at the same
    # instants, with the same wake-ups, whatever the arrival order and ticks.
    extra = [Tick(at) for at in quarter.ticks]
    steps = sorted([*quarter.facts, *extra, Tick(QUARTER_END)], key=event_time)
    if steps:
        moved = data.draw(st.integers(0, len(steps) - 1), label="a record read late")
        steps.append(steps.pop(moved))  # processed at the clock of the last record: time never goes back
    remembered = fresh = GroupState()
    now = datetime(2025, 11, 1, tzinfo=UTC)
    for step in steps:
        now = max(now, event_time(step))
        remembered, made = step_once(remembered, step, PKH, now=now, group_id=quarter.group_id)
        fresh, expected = step_once(
            GroupState.from_json(fresh.to_json()), step, PKH, now=now, group_id=quarter.group_id
        )
        assert made == expected, step
        assert remembered == fresh
        assert remembered.wake_at == fresh.wake_at


def read_with_progress_ahead(quarter: Quarter, early: list[bool]) -> list[Decision]:
    """As the replaying worker reads a group's partition when plans.events runs ahead of the slower
    meetings topic: the facts in arrival order, except that before each one the next progress reports
    may be read early (`early`, one choice each time); the rule clock (the partition's safe watermark)
    is the arrival of the latest other fact read, so nothing unread arrived before it; the wake
    index ticks whenever the clock reaches the state's wake-up; one tick at the end."""
    reports = [step for step in quarter.facts if isinstance(step, ActivityProgressed)]
    plans = [step for step in quarter.facts if isinstance(step, At) and isinstance(step.fact, PlanAgreed)]
    choices = iter(early)
    order: list[Step] = []
    for step in quarter.facts:
        # after the plan only: its progress travels behind it on the same topic
        while reports and len(order) > quarter.facts.index(plans[0]) and next(choices, False):
            order.append(reports.pop(0))
        if isinstance(step, ActivityProgressed):
            if step not in reports:
                continue  # read early already
            reports.remove(step)
        order.append(step)
    state, decisions = GroupState(), []
    clock = datetime(2025, 11, 1, tzinfo=UTC)
    for step in order:
        if not isinstance(step, ActivityProgressed):
            clock = max(clock, event_time(step))
        for record in (step, None):
            fact = None if record is None else record.fact if isinstance(record, At) else record
            if record is None and (state.wake_at is None or state.wake_at > clock):
                continue
            outcome = engine.step(state, fact, clock, PKH, group_id=quarter.group_id, replay=True)
            state, decisions = outcome.state, [*decisions, *outcome.decisions]
    outcome = engine.step(state, None, QUARTER_END, PKH, group_id=quarter.group_id, replay=True)
    return [*decisions, *outcome.decisions]


def at_risk_warnings(quarter: Quarter, decisions: list[Decision]) -> set[tuple[str, str, datetime | None]]:
    """The at-risk decisions about the quarter's activities, as (deviation id, kind, instant)."""
    plans = [step.fact for step in quarter.facts if isinstance(step, At) and isinstance(step.fact, PlanAgreed)]
    ids = {deviation_id(AT_RISK, quarter.group_id, item.activity_id) for plan in plans for item in plan.activities}
    return {entry for entry in triples(decisions) if entry[0] in ids}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quarter=quarters(), early=st.lists(st.booleans(), max_size=40))
def test_progress_read_ahead_of_the_other_topics_warns_as_living_through_it(
    quarter: Quarter, early: list[bool]
) -> None:
    """`plan.activity_at_risk` judges an instant with the progress received by then, however far
    ahead of the other topics the worker read plans.events: the same warnings open and end, at the
    same instants, as in arrival order."""
    lived = at_risk_warnings(quarter, replay(quarter))
    read = at_risk_warnings(quarter, read_with_progress_ahead(quarter, early))
    assert read == lived, f"only lived: {sorted(lived - read)}\nonly read ahead: {sorted(read - lived)}"
