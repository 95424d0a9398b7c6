"""Rules judged on each meeting report and evaluation: `meeting.low_attendance`,
`meeting.attendance_declining`, `meeting.too_short`, `reporting.lagging`, `evaluation.low_score`,
plus the engine's de-duplication of every input and the facilitator-level rule's `on_signal`."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.monitoring import engine
from services.monitoring.programmes import ManyGroupsConfig
from services.monitoring.rules import (
    attendance_declining,
    low_attendance,
    low_score,
    many_groups,
    reporting_lagging,
    too_short,
)
from services.monitoring.rules.decisions import Open, Resolve, deviation_id
from services.monitoring.rules.many_groups import FacilitatorState, GroupSignal, on_signal, signal_deviation_id
from services.monitoring.rules.state import GroupState
from tests.unit.test_monitoring_support import (
    DAY,
    FACILITATOR,
    GROUP,
    PKH,
    REGION_WIB,
    SECOND,
    SSK,
    At,
    Tick,
    activity,
    drive,
    evaluation,
    kind,
    meeting,
    of_rule,
    plan,
    progress,
    scheduled,
    summary,
    synced,
    triples,
    utc,
)

pytestmark = pytest.mark.unit

LOW = low_attendance.RULE
DECLINING = attendance_declining.RULE
SHORT = too_short.RULE
LAGGING = reporting_lagging.RULE
SCORE = low_score.RULE
T0 = utc(2026, 1, 5, 2)


def nth(n: int) -> datetime:
    return T0 + timedelta(days=30 * n)


def attended(n: int, present: int, members: int = 100, **kwargs: object) -> object:
    return meeting(f"r-{n}", nth(n), present=present, members=members, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- meeting.low_attendance


class TestLowAttendance:
    def test_exactly_the_threshold_is_not_low(self) -> None:
        _, decisions = drive([attended(0, 15, 20)])  # 0.75
        assert decisions == []

    def test_just_below_the_threshold_opens_a_warning_at_the_reports_arrival(self) -> None:
        report = attended(0, 74, 100)
        _, decisions = drive([report])
        [opened] = decisions
        assert isinstance(opened, Open)
        assert (opened.rule, opened.severity, opened.occurrence) == (LOW, "warning", "r-0")
        assert (opened.at, opened.evidence_at) == (report.received_at, report.ended_at)
        assert opened.details["attendance_ratio"] == 0.74
        assert opened.details["threshold_ratio"] == 0.75

    def test_a_later_meeting_at_the_threshold_resolves_it(self) -> None:
        recovered = attended(1, 75, 100)
        state, decisions = drive([attended(0, 50, 100), recovered])
        assert summary(decisions) == [
            ("open", LOW, nth(0) + timedelta(hours=3)),
            ("resolve", LOW, recovered.received_at),
        ]
        assert decisions[-1].reason == "attendance_recovered"
        assert state.open == {}

    def test_an_older_good_meeting_arriving_late_does_not_resolve(self) -> None:
        state, decisions = drive([attended(1, 50, 100), attended(0, 100, 100)])
        assert [kind(d) for d in decisions] == ["open"]
        assert set(state.open) == {deviation_id(LOW, GROUP, "r-1")}

    def test_every_low_meeting_is_its_own_deviation(self) -> None:
        state, decisions = drive([attended(0, 50, 100), attended(1, 60, 100)])
        assert [d.occurrence for d in decisions] == ["r-0", "r-1"]
        assert len(state.open_of(LOW)) == 2

    def test_a_group_without_members_is_not_judged(self) -> None:
        assert low_attendance.evaluate(GroupState(), attended(0, 0, 0), PKH.rules.meeting_low_attendance) == []


# ---------------------------------------------------------------- meeting.attendance_declining


class TestAttendanceDeclining:
    def test_fires_on_the_third_meeting_of_a_falling_window_still_above_threshold(self) -> None:
        first_two = [attended(0, 100), attended(1, 90)]
        _, decisions = drive(first_two)
        assert decisions == []
        third = attended(2, 79)  # 1.00 -> 0.79: fell by 0.21 > 0.20, still >= 0.75
        _state, decisions = drive([*first_two, third])
        [opened] = decisions
        assert isinstance(opened, Open)
        assert (opened.rule, opened.severity, opened.occurrence, opened.at) == (
            DECLINING,
            "info",
            "r-2",
            third.received_at,
        )
        assert opened.details["attendance_ratios"] == "1.00, 0.90, 0.79"
        assert of_rule(decisions, LOW) == []

    @pytest.mark.parametrize(
        ("percent_present", "first_fires_on"),
        [
            ([100, 98, 96, 90, 85, 80, 76], None),  # windows fall by .04 .08 .11 .10 .09: never
            ([100, 98, 96, 85, 76], None),  # (96, 85, 76) fell by exactly 0.20: not more
            ([100, 99, 97, 88, 76], 4),  # (97, 88, 76) fell by 0.21 on the fifth meeting
            ([100, 80, 79, 90], 2),  # not monotone: first to last of the window counts
        ],
    )
    def test_the_exact_meeting_it_first_fires_on(self, percent_present: list[int], first_fires_on: int | None) -> None:
        state = GroupState()
        fired = None
        for n, present in enumerate(percent_present):
            state, decisions = drive([attended(n, present)], state=state)
            if of_rule(decisions, DECLINING) and fired is None:
                fired = n
        assert fired == first_fires_on

    def test_exactly_the_margin_does_not_fire(self) -> None:
        _, decisions = drive([attended(0, 100), attended(1, 90), attended(2, 80)])
        assert decisions == []

    def test_a_fall_below_the_threshold_is_low_attendance_not_declining(self) -> None:
        _, decisions = drive([attended(0, 100), attended(1, 90), attended(2, 70)])
        assert [d.rule for d in decisions] == [LOW]

    def test_recovering_within_the_margin_of_the_start_resolves(self) -> None:
        steps = [attended(0, 100), attended(1, 90), attended(2, 79)]
        _, decisions = drive([*steps, attended(3, 79)])
        assert [kind(d) for d in of_rule(decisions, DECLINING)] == ["open"]  # 0.79 < 1.00 - 0.20: still declining
        back = attended(3, 80)
        state, decisions = drive([*steps, back])
        resolved = of_rule(decisions, DECLINING)[-1]
        assert isinstance(resolved, Resolve)
        assert (resolved.reason, resolved.at) == ("attendance_recovered", back.received_at)
        assert state.open_of(DECLINING) == {}

    def test_dropping_below_the_threshold_resolves_it_as_superseded(self) -> None:
        below = attended(3, 70)
        _, decisions = drive([attended(0, 100), attended(1, 90), attended(2, 79), below])
        assert sorted(summary(decisions)[1:]) == [
            ("open", LOW, below.received_at),
            ("resolve", DECLINING, below.received_at),
        ]
        assert of_rule(decisions, DECLINING)[-1].reason == "below_threshold"

    def test_only_the_newest_meeting_shows_a_trend(self) -> None:
        _, decisions = drive([attended(0, 100), attended(2, 79), attended(1, 90)])
        assert decisions == []


# ---------------------------------------------------------------- meeting.too_short


class TestTooShort:
    @pytest.mark.parametrize(
        ("programme", "minutes", "short"),
        [
            (PKH, 72, False),  # 0.6 x 120 exactly
            (PKH, 72 - 1 / 60, True),  # one second less
            (PKH, 60, True),
            (SSK, 54, False),  # 0.6 x 90
            (SSK, 54 - 1 / 60, True),
            (SSK, 60, False),  # long enough for a 90-minute programme, short for a 120-minute one
        ],
    )
    def test_boundary(self, programme: object, minutes: float, short: bool) -> None:
        report = meeting("r-1", T0, minutes=minutes, programme=programme.programme)  # type: ignore[attr-defined]
        _, decisions = drive([report], programme)  # type: ignore[arg-type]
        assert [(d.rule, d.at) for d in decisions] == ([(SHORT, report.received_at)] if short else [])

    def test_details_and_resolution_by_a_long_enough_latest_meeting(self) -> None:
        short_one = meeting("r-1", T0, minutes=45)
        long_one = meeting("r-2", nth(1), minutes=120)
        state, decisions = drive([short_one, long_one])
        opened, resolved = decisions
        assert opened.details == {
            "report_id": "r-1",
            "duration_minutes": 45.0,
            "expected_minutes": 120,
            "minimum_minutes": 72.0,
            "meeting_started_at": T0.isoformat(),
        }
        assert (resolved.reason, resolved.at) == ("duration_recovered", long_one.received_at)
        assert state.open == {}

    def test_an_older_long_meeting_arriving_late_does_not_resolve(self) -> None:
        state, _ = drive([meeting("r-2", nth(1), minutes=45), meeting("r-1", T0, minutes=120)])
        assert set(state.open) == {deviation_id(SHORT, GROUP, "r-2")}


# ---------------------------------------------------------------- reporting.lagging


class TestReportingLagging:
    def lagging(self, lag: timedelta, report_id: str = "r-1", start: datetime = T0) -> object:
        ended = start + timedelta(hours=2)
        return meeting(report_id, start, received_at=ended + lag)

    def test_exactly_seven_days_is_not_lagging(self) -> None:
        _, decisions = drive([self.lagging(7 * DAY)])
        assert decisions == []

    def test_a_second_more_is_lagging_info_at_the_arrival(self) -> None:
        report = self.lagging(7 * DAY + SECOND)
        _, decisions = drive([report])
        [opened] = decisions
        assert (opened.rule, opened.severity, opened.at, opened.evidence_at) == (
            LAGGING,
            "info",
            report.received_at,
            report.ended_at,
        )
        assert opened.details["lag_days"] == 7.0

    def test_the_next_fresh_report_resolves(self) -> None:
        fresh = self.lagging(DAY, "r-2", nth(1))
        state, decisions = drive([self.lagging(10 * DAY), fresh])
        assert [(kind(d), d.at) for d in decisions] == [
            ("open", T0 + timedelta(hours=2) + 10 * DAY),
            ("resolve", fresh.received_at),
        ]
        assert decisions[-1].reason == "reports_fresh"
        assert state.open == {}


# ---------------------------------------------------------------- evaluation.low_score


class TestLowScore:
    def test_exactly_the_threshold_is_not_low(self) -> None:
        _, decisions = drive([evaluation("ev-1", 2.5, T0)])
        assert decisions == []

    @pytest.mark.parametrize(
        ("direction", "concerns"),
        [
            ("group_rates_facilitator", "facilitator"),
            ("supervisor_rates_facilitator", "facilitator"),
            ("facilitator_rates_group", "group"),
        ],
    )
    def test_below_opens_a_warning_concerning_whom_it_rates(self, direction: str, concerns: str) -> None:
        state, decisions = drive([evaluation("ev-1", 2.4, T0, direction=direction)])
        [opened] = decisions
        assert isinstance(opened, Open)
        assert (opened.rule, opened.severity, opened.concerns, opened.at) == (SCORE, "warning", concerns, T0)
        assert opened.details["direction"] == direction
        assert state.open[opened.deviation_id].concerns == concerns
        # only a deviation about the group counts towards the facilitator-level signal
        assert engine.counts_towards_facilitator(state) == (concerns == "group")

    def test_resolved_only_by_a_good_score_in_the_same_direction(self) -> None:
        low = evaluation("ev-1", 2.0, T0, direction="group_rates_facilitator")
        other_direction = evaluation("ev-2", 4.5, T0 + DAY, direction="facilitator_rates_group")
        same_direction = evaluation("ev-3", 2.5, T0 + 2 * DAY, direction="group_rates_facilitator")
        state, decisions = drive([low, other_direction])
        assert [kind(d) for d in decisions] == ["open"]
        state, decisions = drive([same_direction], state=state)
        [resolved] = decisions
        assert (resolved.reason, resolved.at) == ("scores_recovered", T0 + 2 * DAY)
        assert state.open == {}

    def test_a_redelivered_evaluation_changes_nothing(self) -> None:
        low = evaluation("ev-1", 2.0, T0)
        state, _ = drive([low])
        again, decisions = drive([low], state=state)
        assert decisions == []
        assert again == state


# ---------------------------------------------------------------- engine: de-duplication


SCHEDULE = At(scheduled("2026-03"), utc(2026, 2, 1))
PLAN = At(plan(activity("A-1", utc(2026, 3, 31).date(), baseline=10, target=20)), utc(2026, 1, 1))


def a_busy_quarter() -> list:
    """Every input kind, with deviations opened and resolved along the way."""
    due = scheduled("2026-03").due_at
    return [
        SCHEDULE,
        PLAN,
        synced(utc(2026, 1, 20)),
        attended(0, 50),  # low attendance, too... (two hours: not short)
        meeting("r-short", nth(1), minutes=30, facilitator_present=False),
        evaluation("ev-1", 2.0, nth(1) + DAY, direction="facilitator_rates_group"),
        progress("pr-1", "A-1", utc(2026, 2, 1), value=11),
        synced(due + 3 * DAY),
        progress("pr-2", "A-1", due + 4 * DAY, value=19),
        meeting("r-late", utc(2026, 3, 8, 2), received_at=due + 5 * DAY),
        evaluation("ev-2", 4.0, due + 6 * DAY, direction="facilitator_rates_group"),
        synced(utc(2026, 4, 2)),  # past the activity's due day: it is overdue, not waiting on the phone
        Tick(utc(2026, 4, 3)),
    ]


class TestDeduplication:
    def test_the_busy_quarter_has_deviations_of_many_rules(self) -> None:
        _, decisions = drive(a_busy_quarter())
        rules = {d.rule for d in decisions}
        assert {LOW, SHORT, "meeting.facilitator_absent", SCORE, "meeting.overdue", "plan.activity_overdue"} <= rules
        assert {"open", "resolve"} <= {kind(d) for d in decisions}

    @pytest.mark.parametrize("index", range(13))
    def test_redelivering_any_input_right_after_it_changes_nothing(self, index: int) -> None:
        steps = a_busy_quarter()
        redelivered = [*steps[: index + 1], steps[index], *steps[index + 1 :]]
        once_state, once = drive(steps)
        again_state, again = drive(redelivered)
        assert triples(again) == triples(once)
        assert again_state.open == once_state.open
        assert again_state.closed == once_state.closed

    def test_redelivering_the_whole_quarter_at_its_end_makes_nothing_new(self) -> None:
        """A consumer that crashed before committing re-reads everything (the wall clock, later)."""
        steps = a_busy_quarter()
        state, _once = drive(steps)
        end = utc(2026, 4, 2)
        replayed = [step if isinstance(step, Tick) else At(getattr(step, "fact", step), end) for step in steps]
        again_state, again = drive(replayed, state=state)
        assert [d for d in again if isinstance(d, Open)] == []
        assert again_state.open == state.open

    def test_closed_ids_never_reopen(self) -> None:
        opened = Open(rule=LOW, subject=GROUP, occurrence="r-0", severity="warning", evidence_at=T0, at=T0)
        state = engine.apply(GroupState(), [opened]).state
        state = engine.apply(state, [Resolve(opened.deviation_id, LOW, "warning", "attendance_recovered", at=T0)]).state
        outcome = engine.apply(state, [opened])
        assert outcome.decisions == ()
        assert outcome.state.open == {}
        assert opened.deviation_id in outcome.state.closed

    def test_a_redelivered_low_meeting_after_its_resolution_does_not_reopen(self) -> None:
        low_meeting = attended(0, 50)
        state, _ = drive([low_meeting, attended(1, 100)])
        assert state.open == {}
        again, decisions = drive([low_meeting], state=state)
        assert decisions == []
        assert again.open == {}

    def test_state_survives_the_json_round_trip_mid_quarter(self) -> None:
        steps = a_busy_quarter()
        for cut in range(len(steps)):
            state, _first = drive(steps[:cut])
            restored = GroupState.from_json(state.to_json())
            assert restored == state
            _, rest_a = drive(steps[cut:], state=state)
            _, rest_b = drive(steps[cut:], state=restored)
            assert rest_a == rest_b


# ---------------------------------------------------------------- facilitator.many_groups_deviating


CONFIG = ManyGroupsConfig()


def signal(group: str, deviating: bool, at: datetime = T0) -> GroupSignal:
    return GroupSignal("F-001", group, "18.71.01.1001", "pkh-p2k2", deviating, at)


def feed_signals(signals: list[GroupSignal]) -> tuple[FacilitatorState, list[tuple[str, object]]]:
    state = FacilitatorState()
    published: list[tuple[str, object]] = []
    for item in signals:
        state, decisions = on_signal(state, item, CONFIG)
        published += decisions
    return state, published


class TestManyGroups:
    def test_opens_at_the_third_deviating_group_published_under_it(self) -> None:
        state, published = feed_signals([signal("G-1", True), signal("G-2", True)])
        assert published == []
        state, published = feed_signals([signal("G-1", True), signal("G-2", True), signal("G-3", True, T0 + DAY)])
        [(group_id, opened)] = published
        assert group_id == "G-3"
        assert isinstance(opened, Open)
        assert (opened.rule, opened.concerns, opened.severity, opened.at) == (
            many_groups.RULE,
            "facilitator",
            "warning",
            T0 + DAY,
        )
        assert opened.occurrence == "F-001#1"
        assert opened.deviation_id == signal_deviation_id("F-001", 1) == state.open_deviation_id
        assert opened.details == {
            "groups_deviating": 3,
            "groups_total": 3,
            "threshold_groups": 3,
            "threshold_share": 0.5,
        }

    def test_repeated_signals_of_one_group_count_once(self) -> None:
        _, published = feed_signals([signal("G-1", True)] * 5)
        assert published == []

    def test_a_fourth_group_changes_nothing_and_resolution_comes_below_the_threshold(self) -> None:
        signals = [signal(g, True) for g in ("G-1", "G-2", "G-3", "G-4")]
        state, published = feed_signals([*signals, signal("G-1", False)])
        assert len(published) == 1  # still 3 deviating
        state, published = feed_signals([*signals, signal("G-1", False), signal("G-2", False, T0 + 2 * DAY)])
        group_id, resolved = published[-1]
        assert isinstance(resolved, Resolve)
        assert group_id == "G-3"  # published under the group the opening was published under
        assert (resolved.reason, resolved.at) == ("fewer_groups_deviating", T0 + 2 * DAY)
        assert state.open_deviation_id is None
        assert sorted(state.deviating_groups) == ["G-3", "G-4"]

    def test_a_second_episode_has_a_new_id(self) -> None:
        up = [signal(g, True) for g in ("G-1", "G-2", "G-3")]
        state, published = feed_signals([*up, signal("G-1", False), signal("G-1", True)])
        ids = [decision.deviation_id for _, decision in published]
        assert ids == [
            signal_deviation_id("F-001", 1),
            signal_deviation_id("F-001", 1),
            signal_deviation_id("F-001", 2),
        ]
        assert state.episode == 2

    def test_state_json_round_trip_and_place_of(self) -> None:
        state, _ = feed_signals([signal(g, True) for g in ("G-1", "G-2", "G-3")])
        assert FacilitatorState.from_json(state.to_json()) == state
        assert state.place_of("G-2") == ("18.71.01.1001", "pkh-p2k2")
        assert state.place_of("G-9") is None
        assert FacilitatorState.from_json(None) == FacilitatorState()

    def test_three_of_many_groups_is_ordinary_half_of_them_stands_out(self) -> None:
        hello = [signal(f"G-{n}", False) for n in range(1, 9)]  # eight groups appear, none deviating
        _, published = feed_signals([*hello, *[signal(f"G-{n}", True) for n in (1, 2, 3)]])
        assert published == []  # 3 of 8: below half
        _, published = feed_signals([*hello, *[signal(f"G-{n}", True) for n in (1, 2, 3, 4)]])
        [(group_id, opened)] = published
        assert (group_id, opened.details["groups_deviating"], opened.details["groups_total"]) == ("G-4", 4, 8)
        _, published = feed_signals([*hello, *[signal(f"G-{n}", True) for n in (1, 2, 3, 4)], signal("G-9", False)])
        assert isinstance(published[-1][1], Resolve)  # a ninth group: 4 of 9 is below half again

    def test_the_facilitator_hears_of_each_group_once_and_of_every_change(self) -> None:
        fresh, _ = drive([At(scheduled("2026-03"), T0)])
        assert engine.facilitator_signal(GroupState(), fresh, CONFIG, group_id=GROUP, at=T0) == GroupSignal(
            FACILITATOR, GROUP, REGION_WIB, "pkh-p2k2", False, T0
        )
        assert engine.facilitator_signal(fresh, fresh, CONFIG, group_id=GROUP, at=T0) is None
        low, _ = drive([attended(0, 50)], state=fresh)
        assert engine.facilitator_signal(fresh, low, CONFIG, group_id=GROUP, at=T0).deviating  # type: ignore[union-attr]
        assert engine.facilitator_signal(GroupState(), GroupState(), CONFIG, group_id=GROUP, at=T0) is None

    def test_only_warnings_and_above_count(self) -> None:
        declining, _ = drive([attended(n, present) for n, present in enumerate((100, 90, 78))])
        assert {item.severity for item in declining.open.values()} == {"info"}
        assert not engine.counts_towards_facilitator(declining, CONFIG)
        assert engine.counts_towards_facilitator(declining, ManyGroupsConfig(from_severity="info"))

    def test_counts_towards_facilitator_only_for_group_deviations(self) -> None:
        state, _ = drive([attended(0, 50)])
        assert engine.counts_towards_facilitator(state)
        state, _ = drive([evaluation("ev-1", 1.0, T0)])  # about the facilitator
        assert not engine.counts_towards_facilitator(state)
