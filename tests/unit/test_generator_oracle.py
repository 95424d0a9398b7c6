"""The oracle on tiny hand-made histories: one facilitator, one group, a few facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.monitoring.programmes import load_programmes
from tools.generator.behaviour import History, SimEvaluation, SimMeeting, SimProgress, SimSchedule, SimSync, due_at
from tools.generator.oracle import (
    ACTIVITY_AT_RISK,
    ACTIVITY_OVERDUE,
    ATTENDANCE_DECLINING,
    FACILITATOR_ABSENT,
    LOW_ATTENDANCE,
    LOW_SCORE,
    OVERDUE,
    REPORTING_LAGGING,
    TOO_SHORT,
    Expected,
    expected_deviations,
)
from tools.generator.programme import Activity, Facilitator, Group, Indicator, Plan

pytestmark = pytest.mark.unit

PROGRAMMES = load_programmes()
TZ = "Asia/Jakarta"
GROUP_ID = "KLP-1871011001-0001"
MEMBERS = tuple(f"kpm-{number:02d}" for number in range(20))
MORE_MEMBERS = tuple(f"kpm-{number:02d}" for number in range(25))
DUE = due_at("2026-01", 10, TZ)  # 2026-01-10T16:59:59Z
HORIZON = datetime(2026, 3, 1, tzinfo=UTC)
ACTIVITY = Activity(
    "KLP-A1", "Pemetaan sosial partisipatif", "discovery", date(2026, 1, 31), "group", Indicator("Peta", "peta", 0, 10)
)
PLAN = Plan("RP-1", "Rencana", date(2026, 1, 1), date(2026, 2, 28), (ACTIVITY,))
GROUP = Group(
    GROUP_ID, "Kelompok Mawar", "pkh-p2k2", "PDP-1", "18.71.01.1001", TZ, MEMBERS, MEMBERS[0], "monthly", 10, 120, PLAN
)
FACILITATOR = Facilitator("PDP-1", "Siti", "pkh-p2k2", "18.71.01", TZ, "+62 811", "hp-1", (GROUP,))


def meeting(
    report_id: str = "r-1",
    *,
    start: datetime = datetime(2026, 1, 8, 2, 0, tzinfo=UTC),
    minutes: int = 115,
    present: int = 20,
    facilitator: bool = True,
    received_after: timedelta = timedelta(minutes=30),
    members: tuple[str, ...] = MEMBERS,
) -> SimMeeting:
    end = start + timedelta(minutes=minutes)
    attendance = tuple((ref, "present" if index < present else "absent") for index, ref in enumerate(members))
    return SimMeeting(
        report_id,
        GROUP_ID,
        f"{start:%Y-%m}",
        start,
        end,
        facilitator,
        "facilitator" if facilitator else "chair",
        "Kesehatan",
        "Gizi",
        attendance,  # type: ignore[arg-type]
        len(members),
        end + timedelta(minutes=5),
        end + received_after,
        received_after > timedelta(hours=1),
    )


def history(
    *,
    meetings: tuple[SimMeeting, ...] = (),
    syncs: tuple[SimSync, ...] = (),
    progress: tuple[SimProgress, ...] = (),
    evaluations: tuple[SimEvaluation, ...] = (),
    schedules: tuple[SimSchedule, ...] = (
        SimSchedule(GROUP_ID, "2026-01", DUE, datetime(2025, 12, 31, 17, tzinfo=UTC)),
    ),
) -> History:
    return History(
        FACILITATOR, HORIZON, datetime(2025, 12, 30, tzinfo=UTC), schedules, meetings, syncs, progress, evaluations
    )


def done_on_time() -> tuple[SimProgress, ...]:
    """Progress ahead of the line and done before the due date: no plan deviation."""
    return tuple(
        SimProgress(f"p-{n}", GROUP_ID, "RP-1", "KLP-A1", day, status, value, at, at)  # type: ignore[arg-type]
        for n, (day, status, value) in enumerate(
            [
                (date(2026, 1, 8), "in_progress", 5.0),
                (date(2026, 1, 16), "in_progress", 8.0),
                (date(2026, 1, 25), "done", 10.0),
            ]
        )
        for at in [datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)]
    )


def sync(at: datetime) -> SimSync:
    return SimSync("hp-1", at, at)


def rules_of(result: set[Expected]) -> set[str]:
    return {item.rule for item in result}


def test_a_good_month_causes_nothing() -> None:
    result = expected_deviations(
        history(meetings=(meeting(),), syncs=(sync(DUE + timedelta(days=1)),), progress=done_on_time()), PROGRAMMES
    )
    assert result.certain == set()
    assert result.ambiguous == set()


def test_chair_led_meeting_is_a_facilitator_absence_keyed_by_report_id() -> None:
    result = expected_deviations(
        history(meetings=(meeting("r-7", facilitator=False),), progress=done_on_time()), PROGRAMMES
    )
    assert result.certain == {Expected(FACILITATOR_ABSENT, GROUP_ID, "r-7")}


def test_absence_reported_after_a_later_attended_meeting_is_ambiguous() -> None:
    later = meeting("r-feb", start=datetime(2026, 2, 5, 2, tzinfo=UTC))
    earlier = meeting("r-jan", facilitator=False, received_after=timedelta(days=30))
    result = expected_deviations(history(meetings=(later, earlier), progress=done_on_time()), PROGRAMMES)
    assert Expected(FACILITATOR_ABSENT, GROUP_ID, "r-jan") in result.ambiguous


def test_low_attendance_and_too_short_are_per_meeting() -> None:
    result = expected_deviations(
        history(meetings=(meeting("r-1", present=12, minutes=60),), progress=done_on_time()), PROGRAMMES
    )
    assert result.certain == {Expected(LOW_ATTENDANCE, GROUP_ID, "r-1"), Expected(TOO_SHORT, GROUP_ID, "r-1")}


def test_attendance_at_the_threshold_is_not_low() -> None:
    result = expected_deviations(history(meetings=(meeting(present=15),), progress=done_on_time()), PROGRAMMES)
    assert LOW_ATTENDANCE not in rules_of(result.certain)


def test_skipped_meeting_is_overdue_for_its_period_once_a_sync_passes_due() -> None:
    result = expected_deviations(history(syncs=(sync(DUE + timedelta(days=3)),), progress=done_on_time()), PROGRAMMES)
    assert result.certain == {Expected(OVERDUE, GROUP_ID, "2026-01")}


def test_late_meeting_after_the_sync_is_overdue_but_within_grace_is_not() -> None:
    late = meeting(start=DUE + timedelta(days=5))
    just_late = meeting(start=DUE + timedelta(hours=12))
    syncs = (sync(DUE + timedelta(days=3)),)
    assert (
        Expected(OVERDUE, GROUP_ID, "2026-01")
        in expected_deviations(history(meetings=(late,), syncs=syncs, progress=done_on_time()), PROGRAMMES).certain
    )
    assert OVERDUE not in rules_of(
        expected_deviations(history(meetings=(just_late,), syncs=syncs, progress=done_on_time()), PROGRAMMES).certain
    )


def test_offline_phone_gets_the_offline_grace() -> None:
    # Held in time but synced 5 days after due, and no sync before: within the 7-day offline grace.
    batched = meeting(received_after=timedelta(days=7))
    assert batched.received_at < DUE + timedelta(days=7)
    result = expected_deviations(
        history(meetings=(batched,), syncs=(sync(batched.received_at),), progress=done_on_time()), PROGRAMMES
    )
    assert OVERDUE not in rules_of(result.certain | result.ambiguous)


def test_report_between_the_two_readings_of_offline_grace_is_ambiguous() -> None:
    batched = meeting(received_after=timedelta(days=10, hours=12))  # due + ~8 days
    result = expected_deviations(
        history(meetings=(batched,), syncs=(sync(batched.received_at),), progress=done_on_time()), PROGRAMMES
    )
    assert Expected(OVERDUE, GROUP_ID, "2026-01") in result.ambiguous


def test_overdue_not_yet_when_the_clock_has_not_reached_it() -> None:
    result = expected_deviations(history(progress=done_on_time()), PROGRAMMES, now=DUE + timedelta(days=1))
    assert OVERDUE not in rules_of(result.certain | result.ambiguous)


def test_lagging_report_is_keyed_by_report_id() -> None:
    lagging = meeting("r-lag", received_after=timedelta(days=9))
    result = expected_deviations(
        history(meetings=(lagging,), syncs=(sync(lagging.received_at),), progress=done_on_time()), PROGRAMMES
    )
    assert Expected(REPORTING_LAGGING, GROUP_ID, "r-lag") in result.certain


def test_declining_attendance_fires_on_the_newest_meeting_of_the_window() -> None:
    meetings = (
        meeting("r-1", start=datetime(2026, 1, 8, 2, tzinfo=UTC), present=25, members=MORE_MEMBERS),
        meeting("r-2", start=datetime(2026, 2, 8, 2, tzinfo=UTC), present=22, members=MORE_MEMBERS),
        meeting("r-3", start=datetime(2026, 2, 20, 2, tzinfo=UTC), present=19, members=MORE_MEMBERS),
    )
    result = expected_deviations(history(meetings=meetings, progress=done_on_time()), PROGRAMMES)
    assert Expected(ATTENDANCE_DECLINING, GROUP_ID, "r-3") in result.certain
    assert LOW_ATTENDANCE not in rules_of(result.certain)


def test_a_fall_of_exactly_the_margin_is_ambiguous() -> None:
    meetings = (
        meeting("r-1", start=datetime(2026, 1, 8, 2, tzinfo=UTC), present=20),
        meeting("r-2", start=datetime(2026, 2, 8, 2, tzinfo=UTC), present=18),
        meeting("r-3", start=datetime(2026, 2, 20, 2, tzinfo=UTC), present=16),
    )
    result = expected_deviations(history(meetings=meetings, progress=done_on_time()), PROGRAMMES)
    assert Expected(ATTENDANCE_DECLINING, GROUP_ID, "r-3") in result.ambiguous


def test_low_evaluation_in_either_direction() -> None:
    at = datetime(2026, 1, 9, tzinfo=UTC)
    evaluations = (
        SimEvaluation("e-1", GROUP_ID, "group_rates_facilitator", "2026-01", (("a", 2), ("b", 2)), at, at),
        SimEvaluation("e-2", GROUP_ID, "facilitator_rates_group", "2026-01", (("a", 1), ("b", 3)), at, at),
        SimEvaluation("e-3", GROUP_ID, "facilitator_rates_group", "2026-01", (("a", 2), ("b", 3)), at, at),
    )
    result = expected_deviations(
        history(meetings=(meeting(),), evaluations=evaluations, progress=done_on_time()), PROGRAMMES
    )
    assert {item for item in result.certain if item.rule == LOW_SCORE} == {
        Expected(LOW_SCORE, GROUP_ID, "e-1"),
        Expected(LOW_SCORE, GROUP_ID, "e-2"),
    }


def test_activity_not_done_by_its_due_day_is_overdue() -> None:
    progress = done_on_time()[:2]
    result = expected_deviations(history(meetings=(meeting(),), progress=progress), PROGRAMMES)
    assert Expected(ACTIVITY_OVERDUE, GROUP_ID, "KLP-A1") in result.certain
    assert ACTIVITY_AT_RISK not in rules_of(result.certain | result.ambiguous)


def test_activity_behind_the_line_after_half_time_is_at_risk() -> None:
    on_time = done_on_time()
    behind = replace(on_time[1], indicator_value=2.0)
    result = expected_deviations(history(meetings=(meeting(),), progress=(on_time[0], behind, on_time[2])), PROGRAMMES)
    assert Expected(ACTIVITY_AT_RISK, GROUP_ID, "KLP-A1") in result.certain | result.ambiguous
    assert ACTIVITY_OVERDUE not in rules_of(result.certain)


def test_the_oracle_is_pure() -> None:
    case = history(meetings=(meeting("r-1", facilitator=False, present=10),), syncs=(sync(DUE + timedelta(days=3)),))
    assert expected_deviations(case, PROGRAMMES) == expected_deviations(case, PROGRAMMES)


ACTIVITY_LATE = datetime(2026, 1, 31, 17, tzinfo=UTC)  # the second after 31 January ends in WIB


def test_activity_overdue_opens_at_the_first_sync_past_its_due_day() -> None:
    result = expected_deviations(
        history(meetings=(meeting(),), syncs=(sync(ACTIVITY_LATE + timedelta(days=2)),), progress=done_on_time()[:2]),
        PROGRAMMES,
    )
    expected = Expected(ACTIVITY_OVERDUE, GROUP_ID, "KLP-A1")
    assert expected in result.certain
    timing = result.timing[expected]
    assert (timing.opened_at, timing.evidence, timing.resolved_at) == (
        ACTIVITY_LATE + timedelta(days=2),
        "device_synced",
        None,
    )


def test_activity_overdue_without_a_sync_waits_for_the_offline_grace() -> None:
    result = expected_deviations(history(meetings=(meeting(),), progress=done_on_time()[:2]), PROGRAMMES)
    timing = result.timing[Expected(ACTIVITY_OVERDUE, GROUP_ID, "KLP-A1")]
    assert (timing.opened_at, timing.evidence) == (ACTIVITY_LATE + timedelta(days=7), "offline_grace_expired")


def test_done_arriving_with_the_sync_past_the_due_day_is_not_overdue() -> None:
    batch_at = ACTIVITY_LATE + timedelta(days=2)
    done = replace(done_on_time()[2], received_at=batch_at)
    result = expected_deviations(
        history(meetings=(meeting(),), syncs=(sync(batch_at),), progress=(*done_on_time()[:2], done)), PROGRAMMES
    )
    assert Expected(ACTIVITY_OVERDUE, GROUP_ID, "KLP-A1") not in result.certain


def test_not_started_is_at_risk_once_a_sync_passes_half_its_time() -> None:
    half_synced = datetime(2026, 1, 18, 13, tzinfo=UTC)  # past 16 January, 12.00 WIB
    done = done_on_time()[2]
    result = expected_deviations(
        history(meetings=(meeting(),), syncs=(sync(half_synced),), progress=(done,)), PROGRAMMES
    )
    expected = Expected(ACTIVITY_AT_RISK, GROUP_ID, "KLP-A1")
    assert expected in result.certain
    assert (result.timing[expected].opened_at, result.timing[expected].resolved_at) == (half_synced, done.received_at)
