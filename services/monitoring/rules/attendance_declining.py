"""`meeting.attendance_declining`: an early warning. Attendance is still at or above the threshold, but
it fell by more than a margin (default 0.20) across the last three meetings (first to last of the
window). Resolved when a later meeting's attendance is back within the margin of where the decline
started, or superseded by `meeting.low_attendance` when it drops below the threshold."""

from __future__ import annotations

from services.monitoring.programmes import AttendanceDecliningConfig, LowAttendanceConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.facts import MeetingRecorded

RULE = "meeting.attendance_declining"


def evaluate(
    state: GroupState,
    meeting: MeetingRecorded,
    config: AttendanceDecliningConfig,
    low: LowAttendanceConfig,
) -> list[Decision]:
    if not state.meetings or state.meetings[-1].report_id != meeting.report_id:
        return []  # only the newest meeting can show a trend now
    ratios = [m.attendance_ratio for m in state.meetings[-config.window_meetings :]]
    latest = ratios[-1]
    if latest is None:
        return []
    decisions: list[Decision] = []
    for key, open_ in sorted(state.open_of(RULE).items()):
        start = float(open_.memory.get("window_start_ratio", 1.0) or 1.0)
        if latest < low.threshold_ratio:
            decisions.append(Resolve(key, RULE, open_.severity, "below_threshold", at=meeting.received_at))
        elif latest >= start - config.margin_ratio:
            decisions.append(Resolve(key, RULE, open_.severity, "attendance_recovered", at=meeting.received_at))
    if decisions or len(ratios) < config.window_meetings or any(r is None for r in ratios):
        return decisions
    first = ratios[0]
    assert first is not None
    if latest >= low.threshold_ratio and first - latest > config.margin_ratio and not state.open_of(RULE):
        decisions.append(
            Open(
                rule=RULE,
                subject=meeting.group_id,
                occurrence=meeting.report_id,
                severity="info",
                evidence_at=meeting.ended_at,
                at=meeting.received_at,
                details={
                    "report_id": meeting.report_id,
                    "attendance_ratios": ", ".join(f"{r:.2f}" for r in ratios if r is not None),
                    "fall_ratio": round(first - latest, 3),
                    "margin_ratio": config.margin_ratio,
                },
                memory={"window_start_ratio": first},
            )
        )
    return decisions
