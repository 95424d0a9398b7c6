"""`recognition.sustained_success`: positive recognition (seed 003 "recognizing success"). The group
met on schedule (a meeting in the period, started by the due time) with attendance at or above a
ratio (default 0.9) for several periods in a row (default 6). Opened once per streak, as `info`;
resolved when the streak ends (a period whose due time passed without such a meeting)."""

from __future__ import annotations

from datetime import datetime

from services.monitoring.programmes import SustainedSuccessConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve
from services.monitoring.rules.overdue import meeting_for_period
from services.monitoring.rules.state import GroupState, MeetingSummary, ScheduledPeriod

RULE = "recognition.sustained_success"


def _qualifying(state: GroupState, scheduled: ScheduledPeriod, ratio: float) -> MeetingSummary | None:
    meeting = meeting_for_period(state, scheduled)
    if meeting is None or meeting.started_at > scheduled.due_at:
        return None
    attendance = meeting.attendance_ratio
    return meeting if attendance is not None and attendance >= ratio else None


def evaluate(state: GroupState, now: datetime, config: SustainedSuccessConfig, *, group_id: str) -> list[Decision]:
    streak: list[tuple[ScheduledPeriod, MeetingSummary]] = []
    broken_at: datetime | None = None
    for scheduled in state.periods:
        meeting = _qualifying(state, scheduled, config.attendance_ratio)
        if meeting is not None:
            streak.append((scheduled, meeting))
        elif scheduled.due_at <= now:
            streak, broken_at = [], scheduled.due_at
    open_ = state.open_of(RULE)
    if open_ and not streak and broken_at is not None:
        return [Resolve(key, RULE, item.severity, "streak_ended", at=broken_at) for key, item in sorted(open_.items())]
    if open_ or len(streak) < config.periods:
        return []
    scheduled, meeting = streak[config.periods - 1]
    # The streak was known only when the last of its reports arrived, whatever their order.
    arrivals = [m.received_at for _p, m in streak[: config.periods] if m.received_at is not None]
    known_at = max(arrivals) if arrivals else now
    return [
        Open(
            rule=RULE,
            subject=group_id,
            occurrence=scheduled.period,
            severity="info",
            evidence_at=meeting.started_at,
            at=known_at,
            details={"periods_in_a_row": len(streak), "through_period": streak[-1][0].period},
        )
    ]
