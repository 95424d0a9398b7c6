"""The meeting rules' derived instants (`overdue.MeetingTimes`) and the device sync's short path
(`engine._after_sync`): kept beside the group's state so that a sync, a progress report or an
evaluation does not walk every period and meeting again, and never deciding differently from the
full evaluation they stand in for."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.monitoring import engine
from services.monitoring.rules import overdue
from services.monitoring.rules.decisions import Open, Resolve
from services.monitoring.rules.state import MEETING_TIMES, DeviceWatermark, GroupState
from services.monitoring.rules.syncs import SyncMove, answer_may_change, sync_move
from shared.events.base import EventData
from tests.unit.test_monitoring_support import (
    GROUP,
    PKH,
    At,
    activity,
    drive,
    due,
    meeting,
    plan,
    progress,
    scheduled,
    synced,
    utc,
)

pytestmark = pytest.mark.unit

CONFIG = PKH.rules.meeting_overdue
GRACE = timedelta(days=CONFIG.grace_days)
JANUARY, FEBRUARY = due("2026-01"), due("2026-02")


def two_periods(*more: object) -> GroupState:
    """January and February scheduled on the first of January; what else is given after."""
    steps = [At(scheduled("2026-01"), utc(2026, 1, 1)), At(scheduled("2026-02"), utc(2026, 1, 1)), *more]
    state, _ = drive(steps)  # type: ignore[arg-type]
    return state


class TestMeetingTimes:
    def test_are_the_rules_wake_times_and_every_due_time_sorted(self) -> None:
        state = two_periods()
        times = overdue.meeting_times(state, CONFIG, group_id=GROUP)
        expected = [*overdue.wake_times(state, CONFIG, group_id=GROUP), JANUARY, FEBRUARY]
        assert times.wakes == tuple(sorted(expected))
        assert overdue.meeting_times(state, CONFIG, group_id=GROUP) is times

    def test_next_wake_is_the_first_instant_strictly_after_now(self) -> None:
        times = overdue.meeting_times(two_periods(), CONFIG, group_id=GROUP)
        assert times.next_wake(JANUARY - timedelta(seconds=1)) == JANUARY
        assert times.next_wake(JANUARY) == JANUARY + GRACE
        assert times.next_wake(times.wakes[-1]) is None

    def test_are_recomputed_for_another_group_or_configuration(self) -> None:
        state = two_periods()
        times = overdue.meeting_times(state, CONFIG, group_id=GROUP)
        assert overdue.meeting_times(state, CONFIG, group_id="G-other").group_id == "G-other"
        stricter = CONFIG.model_copy(update={"grace_days": CONFIG.grace_days + 1})
        assert overdue.meeting_times(state, stricter, group_id=GROUP) is not times

    def test_await_a_sync_for_each_period_without_a_report_in_its_grace(self) -> None:
        state = two_periods(meeting("r-1", utc(2026, 1, 5, 2)))
        awaiting = overdue.meeting_times(state, CONFIG, group_id=GROUP).awaiting_sync
        assert awaiting == ((FEBRUARY, FEBRUARY + GRACE),)  # January's report came in time

    def test_a_report_after_the_grace_still_awaits_the_sync_that_shows_it_late(self) -> None:
        late = meeting("r-1", utc(2026, 1, 5, 2), received_at=JANUARY + GRACE + timedelta(days=1))
        state = two_periods(late)
        assert (JANUARY, JANUARY + GRACE) in overdue.meeting_times(state, CONFIG, group_id=GROUP).awaiting_sync

    def test_an_open_or_closed_period_awaits_nothing(self) -> None:
        state = two_periods()
        key = overdue.deviation_id(overdue.RULE, GROUP, "2026-01")
        opened = state.evolve(open={key: engine.OpenDeviation(overdue.RULE, "2026-01", "warning")})
        assert [d for d, _ in overdue.meeting_times(opened, CONFIG, group_id=GROUP).awaiting_sync] == [FEBRUARY]
        closed = state.evolve(closed=(key,))
        assert [d for d, _ in overdue.meeting_times(closed, CONFIG, group_id=GROUP).awaiting_sync] == [FEBRUARY]


class TestEvolveKeepsTheMeetingTimes:
    @pytest.mark.parametrize("name", ["meetings", "periods", "open", "closed"])
    def test_forgets_them_when_one_of_their_inputs_changes(self, name: str) -> None:
        state = two_periods()
        overdue.meeting_times(state, CONFIG, group_id=GROUP)
        assert getattr(state, MEETING_TIMES) is not None
        assert getattr(state.evolve(**{name: getattr(state, name)}), MEETING_TIMES) is None

    def test_keeps_them_across_devices_plan_and_clock(self) -> None:
        state = two_periods()
        times = overdue.meeting_times(state, CONFIG, group_id=GROUP)
        mark = DeviceWatermark(utc(2026, 1, 3), utc(2026, 1, 3))
        for changes in ({"devices": {"hp-9": mark}}, {"activities": {}}, {"wake_at": utc(2026, 3, 1)}):
            assert getattr(state.evolve(**changes), MEETING_TIMES) is times
        assert getattr(state.evolve(meetings_unchanged=True, open={}), MEETING_TIMES) is times

    def test_apply_keeps_them_across_other_rules_decisions_only(self) -> None:
        state = two_periods()
        times = overdue.meeting_times(state, CONFIG, group_id=GROUP)
        other = Open("meeting.low_attendance", GROUP, "r-1", "warning", utc(2026, 1, 2), at=utc(2026, 1, 2))
        after = engine.apply(state, [other]).state
        assert getattr(after, MEETING_TIMES) is times
        resolved = engine.apply(after, [Resolve(other.deviation_id, other.rule, "warning", "recovered")]).state
        assert getattr(resolved, MEETING_TIMES) is times
        own = Open(overdue.RULE, GROUP, "2026-01", "warning", JANUARY, at=JANUARY + GRACE)
        assert getattr(engine.apply(state, [own]).state, MEETING_TIMES) is None

    def test_are_not_part_of_what_is_compared(self) -> None:
        state = two_periods()
        fresh = dataclasses.replace(state)
        overdue.meeting_times(state, CONFIG, group_id=GROUP)
        assert state == fresh


class TestSyncMove:
    def marks(self) -> tuple[DeviceWatermark, DeviceWatermark]:
        before = DeviceWatermark(utc(2026, 1, 10), utc(2026, 1, 10), "F-001", ((utc(2026, 1, 3), utc(2026, 1, 3)),))
        history = (*before.history, (before.synced_through, before.received_at))
        return before, DeviceWatermark(utc(2026, 1, 20), utc(2026, 1, 20), "F-001", history)

    @pytest.mark.parametrize(
        ("needed", "since", "expected"),
        [
            (utc(2026, 1, 5), None, False),  # a kept mark went past it already
            (utc(2026, 1, 15), None, True),  # the new mark is the first past it
            (utc(2026, 1, 25), None, False),  # still nobody past it
            (utc(2026, 1, 5), utc(2026, 1, 12), True),  # only the new mark came after `since`
        ],
    )
    def test_is_answer_may_change(self, needed: datetime, since: datetime | None, expected: bool) -> None:
        before, after = self.marks()
        question = (needed, needed, since)
        assert SyncMove.of(before, after).may_change(question) is expected
        assert answer_may_change(before, after, question) is expected

    def test_onto_the_marks_the_engine_built_is_of(self) -> None:
        before, after = self.marks()
        marks = (*before.history, (before.synced_through, before.received_at))
        given, found = SyncMove.onto(before, marks, after), SyncMove.of(before, after)
        assert (given.before, given.after, given.dropped) == (found.before, found.after, found.dropped)
        assert (given.active_until_before, given.active_until_after) == (
            found.active_until_before,
            found.active_until_after,
        )

    def test_a_device_leaving_the_active_window_may_change_the_answer(self) -> None:
        before, after = self.marks()
        reference = before.received_at + timedelta(days=35)  # active only after the new sync
        assert SyncMove.of(before, after).may_change((utc(2026, 1, 25), reference, None))

    def test_of_states_is_none_unless_one_device_moved_on(self) -> None:
        before, after = self.marks()
        state = GroupState(devices={"hp-1": before})
        assert sync_move(state, state.evolve(devices={"hp-1": after})) is not None
        assert sync_move(state, state.evolve(devices={"hp-1": after, "hp-2": after})) is None
        assert sync_move(state, state.evolve(devices={"hp-1": dataclasses.replace(after, history=())})) is None


# Facts the property below draws from: schedules, reports (on time, late, never), two phones'
# syncs (some older than what the phone already said), a plan with progress, and ticks.
START = utc(2026, 1, 1)


def _facts(draw: st.DrawFn) -> list[tuple[datetime, EventData | None]]:
    hours = st.integers(0, 24 * 100)
    items: list[tuple[datetime, EventData | None]] = [
        (START, scheduled("2026-01")),
        (START, scheduled("2026-02")),
        (START, scheduled("2026-03")),
        (START, plan(activity("A-1", date(2026, 2, 20), baseline=0, target=10), activity("A-2", date(2026, 3, 5)))),
    ]
    for index, (hour, lag) in enumerate(draw(st.lists(st.tuples(hours, st.integers(0, 24 * 12)), max_size=25))):
        at = START + timedelta(hours=hour)
        device = ("hp-1", "hp-2")[index % 2]
        items.append((at, synced(at - timedelta(hours=lag), received_at=at, device_id=device)))
    for index, (month, day, delay) in enumerate(
        draw(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 28), st.integers(0, 24 * 20)), max_size=3))
    ):
        held = utc(2026, month, day, 2)
        report = meeting(f"r-{index}", held, received_at=held + timedelta(hours=3 + delay))
        items.append((report.received_at, report))
    for index, hour in enumerate(draw(st.lists(hours, max_size=3))):
        at = START + timedelta(hours=hour)
        items.append((at, progress(f"p-{index}", "A-1", at, value=float(index + 1))))
    items += [(START + timedelta(hours=hour), None) for hour in draw(st.lists(hours, max_size=8))]
    return sorted(items, key=lambda item: item[0])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_sync_short_path_decides_exactly_what_letting_time_pass_decides(data: st.DataObject) -> None:
    """Every fact through `engine.step` (a sync judged on the short path) and through catch-up and
    `on_fact` without it (a sync lets time pass in full, every rule judged again): the same
    decisions, the same states, the same wake-up instants."""
    facts = data.draw(st.composite(lambda draw: _facts(draw))())
    fast = slow = GroupState()
    for at, fact in facts:
        quick = engine.step(fast, fact, at, PKH, group_id=GROUP, received_at=at)
        if fact is None:
            full = engine.on_time_passing(slow, at, PKH, group_id=GROUP)
        else:
            caught = engine.catch_up(slow, at, PKH, group_id=GROUP)
            folded = engine.on_fact(caught.state, fact, at, PKH, received_at=at)
            full = engine.Outcome(folded.state, caught.decisions + folded.decisions)
        assert quick.decisions == full.decisions, (at, fact)
        assert quick.state == full.state, (at, fact)
        fast, slow = quick.state, full.state


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_what_is_kept_beside_the_state_never_changes_a_decision(data: st.DataObject) -> None:
    """Each step taken twice: on the state as the worker keeps it (the meeting rules' and the plan's
    instants, quiet instants and packed forms carried from step to step) and on a bare copy of the
    same fields (`dataclasses.replace`: everything derived afresh). The same decisions, the same
    states, every time."""
    facts = data.draw(st.composite(lambda draw: _facts(draw))())
    kept = GroupState()
    for at, fact in facts:
        fresh = engine.step(dataclasses.replace(kept), fact, at, PKH, group_id=GROUP, received_at=at)
        carried = engine.step(kept, fact, at, PKH, group_id=GROUP, received_at=at)
        assert carried.decisions == fresh.decisions, (at, fact)
        assert carried.state == fresh.state, (at, fact)
        kept = carried.state


def test_a_state_whose_wake_up_stays_is_kept_as_it_is() -> None:
    """`engine.with_wake` builds no new state when the wake-up instant it finds is the one held (a
    sync or a progress report seldom moves it), and a new one when it moves."""
    state = two_periods()
    moment = utc(2026, 1, 2)
    woken = engine.with_wake(state, moment, PKH, group_id=GROUP)
    assert engine.with_wake(woken, moment, PKH, group_id=GROUP) is woken
    later = woken.wake_at
    assert later is not None
    moved = engine.with_wake(woken, later, PKH, group_id=GROUP)
    assert moved is not woken
    assert moved.wake_at is not None
    assert moved.wake_at > later
