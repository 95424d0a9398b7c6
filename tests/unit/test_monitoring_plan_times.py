"""The plan rules' derived instants: kept on each activity and beside the group's state so that a
record costs the same whatever the plan's size, and never deciding differently from the full
evaluation they stand in for."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.monitoring import engine
from services.monitoring.rules import activities
from services.monitoring.rules.activities import PlanTimes
from services.monitoring.rules.calendar import end_of_day, start_of_day
from services.monitoring.rules.decisions import Open, Resolve
from services.monitoring.rules.state import CLOSED_IDS_KEPT, PLAN_TIMES, GroupState
from services.monitoring.rules.syncs import sync_move
from tests.unit.test_monitoring_support import (
    GROUP,
    PKH,
    WITA,
    At,
    activity,
    drive,
    plan,
    progress,
    synced,
    utc,
)

pytestmark = pytest.mark.unit

OVERDUE_CONFIG = PKH.rules.plan_activity_overdue
AT_RISK_CONFIG = PKH.rules.plan_activity_at_risk
PLAN = At(
    plan(
        activity("A-1", date(2026, 3, 31), baseline=10, target=20),
        activity("A-2", date(2026, 2, 15)),
        activity("A-3", date(2026, 1, 20)),
    ),
    utc(2026, 1, 1),
)


def planned() -> GroupState:
    state, _ = drive([PLAN])
    return state


def times_of(*wakes: datetime, quiet_at: datetime | None = None) -> PlanTimes:
    return PlanTimes(GROUP, OVERDUE_CONFIG, AT_RISK_CONFIG, tuple(sorted(wakes)), quiet_at)


class TestActivityInstants:
    def test_are_the_local_days_start_and_end_and_the_second_after(self) -> None:
        state, _ = drive([PLAN])
        built = state.activities["A-1"]
        assert built.start_at == start_of_day(date(2026, 1, 1), built.time_zone)
        assert built.due_end_at == end_of_day(date(2026, 3, 31), built.time_zone)
        assert built.late_at == built.due_end_at + timedelta(seconds=1)

    def test_follow_a_moved_due_date_and_another_time_zone(self) -> None:
        built = planned().activities["A-1"]
        moved = dataclasses.replace(built, due_on=date(2026, 4, 30), time_zone=WITA)
        assert moved.due_end_at == end_of_day(date(2026, 4, 30), WITA)
        assert moved.late_at == moved.due_end_at + timedelta(seconds=1)

    def test_are_not_part_of_what_is_stored_or_compared(self) -> None:
        built = planned().activities["A-1"]
        assert "late_at" not in built.to_json()
        assert type(built).from_json(built.to_json()) == built

    def test_are_rebuilt_beside_the_latest_reports_id_when_read_back(self) -> None:
        state, _ = drive([PLAN, progress("pr-1", "A-1", utc(2026, 1, 10), value=12.0)])
        built = state.activities["A-1"]
        stored = built.to_json()
        assert stored["progress_id"] == "pr-1"
        back = type(built).from_json(stored)
        assert back == built
        assert back.progress_id == "pr-1"
        assert back.progress_key() == built.progress_key()
        assert (back.start_at, back.due_end_at, back.late_at) == (built.start_at, built.due_end_at, built.late_at)


class TestEvolve:
    def test_is_what_replace_gives(self) -> None:
        state = planned()
        changed = {"wake_at": utc(2026, 2, 1), "clock_at": utc(2026, 1, 2), "closed": ("dev-x",)}
        assert state.evolve(**changed) == dataclasses.replace(state, **changed)
        assert state.evolve(**changed) is not state

    @pytest.mark.parametrize("name", ["activities", "devices", "open", "closed"])
    def test_forgets_the_plan_times_when_one_of_their_inputs_changes(self, name: str) -> None:
        state = planned()
        activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        assert getattr(state, PLAN_TIMES) is not None
        assert getattr(state.evolve(**{name: getattr(state, name)}), PLAN_TIMES) is None

    def test_keeps_them_for_other_fields_or_when_told_the_plan_is_unchanged(self) -> None:
        state = planned()
        times = activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        assert getattr(state.evolve(wake_at=utc(2026, 2, 1)), PLAN_TIMES) is times
        assert getattr(state.evolve(plan_unchanged=True, open={}), PLAN_TIMES) is times


class TestPlanTimesNextWake:
    def test_is_the_first_instant_strictly_after_now(self) -> None:
        times = times_of(utc(2026, 2, 1), utc(2026, 1, 10), utc(2026, 3, 1))
        assert times.next_wake(utc(2026, 1, 1)) == utc(2026, 1, 10)
        assert times.next_wake(utc(2026, 1, 10)) == utc(2026, 2, 1)
        assert times.next_wake(utc(2026, 3, 1)) is None

    def test_none_without_instants(self) -> None:
        assert times_of().next_wake(utc(2026, 1, 1)) is None


class TestPlanTimesQuietThrough:
    def test_unknown_until_an_evaluation_found_nothing(self) -> None:
        assert not times_of().quiet_through(utc(2026, 1, 1))

    def test_never_before_the_quiet_instant(self) -> None:
        assert not times_of(quiet_at=utc(2026, 1, 5)).quiet_through(utc(2026, 1, 4))

    def test_quiet_until_the_next_instant_arrives(self) -> None:
        times = times_of(utc(2026, 1, 5), utc(2026, 1, 10), quiet_at=utc(2026, 1, 5))
        assert times.quiet_through(utc(2026, 1, 5))
        assert times.quiet_through(utc(2026, 1, 9, 23))
        assert not times.quiet_through(utc(2026, 1, 10))

    def test_quiet_for_ever_with_no_instant_left(self) -> None:
        assert times_of(utc(2026, 1, 1), quiet_at=utc(2026, 1, 2)).quiet_through(utc(2030, 1, 1))


class TestPlanTimes:
    def test_are_the_sorted_wake_times_computed_once(self) -> None:
        state = planned()
        times = activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        expected = sorted(activities.wake_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP))
        assert list(times.wakes) == expected
        assert len(expected) >= 3
        assert activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP) is times

    def test_are_recomputed_for_another_group_or_configuration(self) -> None:
        state = planned()
        times = activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        other = activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id="G-other")
        assert other is not times
        assert other.group_id == "G-other"
        stricter = OVERDUE_CONFIG.model_copy(update={"offline_grace_days": OVERDUE_CONFIG.offline_grace_days + 1})
        assert activities.plan_times(state, stricter, AT_RISK_CONFIG, group_id=GROUP).overdue == stricter


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hours=st.lists(st.integers(0, 24 * 120), min_size=1, max_size=30),
    sync_hours=st.lists(st.integers(0, 24 * 120), max_size=4),
    done_hour=st.one_of(st.none(), st.integers(0, 24 * 120)),
)
def test_evaluate_passing_decides_exactly_what_evaluate_decides(
    hours: list[int], sync_hours: list[int], done_hour: int | None
) -> None:
    """Time passing in steps (never backwards), with syncs and a "done" in between: skipping the
    evaluation while the plan is quiet changes no decision."""
    start = utc(2026, 1, 1)
    facts = {start + timedelta(hours=hour): synced(start + timedelta(hours=hour)) for hour in sync_hours}
    if done_hour is not None:
        moment = start + timedelta(hours=done_hour)
        facts[moment] = progress("pr-1", "A-2", moment, status="done")
    fast = slow = planned()
    for moment in sorted({start + timedelta(hours=hour) for hour in hours} | set(facts)):
        fact = facts.get(moment)
        if fact is not None:
            fast = engine.on_fact(fast, fact, moment, PKH, received_at=moment).state
            slow = engine.on_fact(slow, fact, moment, PKH, received_at=moment).state
        expected = activities.evaluate(slow, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        passing = activities.evaluate_passing(fast, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        assert passing == expected, moment
        fast = engine.apply(fast, passing).state
        slow = engine.apply(slow, expected).state
        assert fast == slow


class TestApplyKeepsThePlanTimes:
    def test_across_other_rules_decisions(self) -> None:
        state = planned()
        times = activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        opened = Open("meeting.low_attendance", GROUP, "r-1", "warning", utc(2026, 1, 2), at=utc(2026, 1, 2))
        after = engine.apply(state, [opened]).state
        assert getattr(after, PLAN_TIMES) is times
        closed = engine.apply(after, [Resolve(opened.deviation_id, opened.rule, "warning", "recovered")]).state
        assert getattr(closed, PLAN_TIMES) is times

    def test_not_across_the_plan_rules_own(self) -> None:
        state = planned()
        activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        opened = Open(activities.AT_RISK, GROUP, "A-1", "info", utc(2026, 2, 15), at=utc(2026, 2, 15))
        assert getattr(engine.apply(state, [opened]).state, PLAN_TIMES) is None

    def test_not_when_closing_pushes_older_ids_out(self) -> None:
        state = dataclasses.replace(planned(), closed=tuple(f"dev-{index}" for index in range(CLOSED_IDS_KEPT)))
        opened = Open("meeting.low_attendance", GROUP, "r-1", "warning", utc(2026, 1, 2), at=utc(2026, 1, 2))
        state = engine.apply(state, [opened]).state
        activities.plan_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        closed = engine.apply(state, [Resolve(opened.deviation_id, opened.rule, "warning", "recovered")]).state
        assert getattr(closed, PLAN_TIMES) is None
        assert closed.closed[-1] == opened.deviation_id


def test_activity_wake_times_add_up_to_the_plans() -> None:
    state = planned()
    shares = [
        moment
        for item in state.activities.values()
        for moment in activities.activity_wake_times(state, item, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
    ]
    assert shares == activities.wake_times(state, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)


def read_back() -> GroupState:
    """The planned group as read back from the table: nothing derived known."""
    return dataclasses.replace(planned())


def quiet_at(moment: datetime) -> GroupState:
    """The planned group judged by time passing at `moment`, twice: the second finds nothing left to
    decide, so its plan is then known quiet."""
    state = engine.step(planned(), None, moment, PKH, group_id=GROUP).state
    state = engine.step(state, None, moment, PKH, group_id=GROUP).state
    assert getattr(state, PLAN_TIMES).quiet_through(moment)
    return state


def progressed(before: GroupState, fact_at: datetime, **fields: object) -> GroupState:
    fact = progress("pr-9", "A-1", fact_at, **fields)  # type: ignore[arg-type]
    current = before.activities["A-1"]
    changed = dataclasses.replace(
        current,
        status=fact.status,
        value=fact.indicator_value,
        reported_on=fact.reported_on,
        progress_recorded_at=fact.recorded_at,
        progress_received_at=fact.received_at,
        progress_id=fact.progress_id,
        done_received_at=fact.received_at if fact.status == "done" else None,
    )
    return before.evolve(activities={**before.activities, "A-1": changed})


PROGRESS_CASES = [
    (utc(2026, 1, 10), {"status": "in_progress", "value": 19.0}),
    (utc(2026, 2, 20), {"status": "in_progress", "value": 11.0}),
    (utc(2026, 2, 20), {"status": "done"}),
    (utc(2026, 3, 20), {"status": "blocked"}),
]


class TestEvaluateProgress:
    @pytest.mark.parametrize(("moment", "fields"), PROGRESS_CASES)
    def test_decides_what_evaluate_decides(self, moment: datetime, fields: dict[str, object]) -> None:
        for before in (read_back(), quiet_at(moment)):
            after = progressed(before, moment, **fields)
            expected = activities.evaluate(
                after, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP, evidence_at=moment
            )
            assert (
                activities.evaluate_progress(
                    before, after, "A-1", moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP, evidence_at=moment
                )
                == expected
            )


class TestCarryPlanTimes:
    @pytest.mark.parametrize(("moment", "fields"), PROGRESS_CASES)
    def test_are_the_times_a_fresh_state_computes(self, moment: datetime, fields: dict[str, object]) -> None:
        before = quiet_at(moment)
        after = progressed(before, moment, **fields)
        decisions = activities.evaluate_progress(
            before, after, "A-1", moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP, evidence_at=moment
        )
        applied = engine.apply(after, decisions).state
        activities.carry_plan_times(before, applied, "A-1", moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        carried = getattr(applied, PLAN_TIMES)
        fresh = activities.plan_times(dataclasses.replace(applied), OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)
        assert carried.wakes == fresh.wakes
        assert carried.by_activity == fresh.by_activity
        if carried.quiet_at is not None:
            assert not activities.evaluate(applied, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)

    def test_not_when_the_plan_was_not_known_quiet(self) -> None:
        before = read_back()
        after = progressed(before, utc(2026, 1, 10), status="in_progress", value=19.0)
        activities.carry_plan_times(
            before, after, "A-1", utc(2026, 1, 10), OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP
        )
        assert getattr(after, PLAN_TIMES) is None


class TestCarryQuietOverSync:
    def synced_state(self, before: GroupState, moment: datetime) -> GroupState:
        return engine._fold(before, synced(moment), moment, PKH)[0].state

    def test_quiet_when_every_instant_is_later(self) -> None:
        moment = utc(2026, 1, 10)
        before = quiet_at(moment)
        after = before.evolve(devices=self.synced_state(before, moment).devices)
        activities.carry_quiet_over_sync(
            before, after, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP, move=sync_move(before, after)
        )
        times = getattr(after, PLAN_TIMES)
        assert times.quiet_through(moment)
        assert not activities.evaluate(after, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP)

    def test_nothing_known_when_the_plan_was_not_known_quiet(self) -> None:
        moment = utc(2026, 1, 10)
        before = read_back()
        after = before.evolve(devices=self.synced_state(before, moment).devices)
        activities.carry_quiet_over_sync(
            before, after, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP, move=sync_move(before, after)
        )
        assert getattr(after, PLAN_TIMES) is None

    def test_nothing_known_when_more_than_the_devices_changed(self) -> None:
        moment = utc(2026, 1, 10)
        before = quiet_at(moment)
        after = before.evolve(devices=self.synced_state(before, moment).devices, closed=("dev-x",))
        activities.carry_quiet_over_sync(
            before, after, moment, OVERDUE_CONFIG, AT_RISK_CONFIG, group_id=GROUP, move=sync_move(before, after)
        )
        assert getattr(after, PLAN_TIMES) is None


class TestProgressOrderingOnTheFastPath:
    """A report whose (reported_on, recorded_at, received_at, progress_id) is not after the latest
    applied one changes nothing, whether the plan was known quiet (one activity judged) or not."""

    def reported(self, before: GroupState, moment: datetime) -> GroupState:
        fact = progress("pr-5", "A-1", moment, value=19.0)
        state = engine.step(before, fact, moment, PKH, group_id=GROUP).state
        assert state.activities["A-1"].progress_id == "pr-5"
        return state

    def test_a_redelivered_report_changes_nothing(self) -> None:
        moment = utc(2026, 1, 10)
        assert getattr(self.reported(quiet_at(moment), moment), PLAN_TIMES).quiet_at == moment  # the fast path
        for before in (read_back(), quiet_at(moment)):
            state = self.reported(before, moment)
            again = engine.step(state, progress("pr-5", "A-1", moment, value=19.0), moment, PKH, group_id=GROUP)
            assert again.decisions == ()
            assert again.state == state
            assert again.state.activities["A-1"] is state.activities["A-1"]

    def test_an_earlier_report_of_the_same_day_changes_nothing(self) -> None:
        moment = utc(2026, 1, 10, 12)
        for before in (read_back(), quiet_at(moment)):
            state = self.reported(before, moment)
            earlier = progress("pr-4", "A-1", moment - timedelta(hours=1), status="not_started")
            again = engine.step(state, earlier, moment, PKH, group_id=GROUP)
            assert again.decisions == ()
            assert again.state.activities["A-1"] is state.activities["A-1"]

    def test_the_same_instants_under_a_later_id_are_applied(self) -> None:
        moment = utc(2026, 1, 10)
        for before in (read_back(), quiet_at(moment)):
            state = self.reported(before, moment)
            later = progress("pr-6", "A-1", moment, status="blocked")
            after = engine.step(state, later, moment, PKH, group_id=GROUP).state
            assert after.activities["A-1"].status == "blocked"
            assert after.activities["A-1"].progress_id == "pr-6"

    def test_decisions_and_wake_ups_are_those_of_a_state_read_back(self) -> None:
        moment = utc(2026, 2, 20)
        facts = [
            progress("pr-2", "A-1", moment, value=11.0),
            progress("pr-1", "A-1", moment - timedelta(minutes=5), status="not_started"),
            progress("pr-2", "A-1", moment, value=11.0),
            progress("pr-3", "A-1", moment, status="done"),
            progress("pr-2", "A-1", moment, value=11.0),
        ]
        remembered = quiet_at(moment)
        fresh = GroupState.from_json(remembered.to_json())
        for fact in facts:
            kept = engine.step(remembered, fact, moment, PKH, group_id=GROUP)
            anew = engine.step(GroupState.from_json(fresh.to_json()), fact, moment, PKH, group_id=GROUP)
            assert kept.decisions == anew.decisions, fact.progress_id
            assert kept.state == anew.state
            assert kept.state.wake_at == anew.state.wake_at
            remembered, fresh = kept.state, anew.state
        assert remembered.activities["A-1"].status == "done"
