"""`meeting.low_attendance`: members present / members of the group below the programme's threshold
(default 0.75). Resolved when the latest meeting's attendance is back at or above it."""

from __future__ import annotations

from services.monitoring.programmes import LowAttendanceConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.facts import MeetingRecorded

RULE = "meeting.low_attendance"


def evaluate(state: GroupState, meeting: MeetingRecorded, config: LowAttendanceConfig) -> list[Decision]:
    if meeting.member_count <= 0:
        return []
    present = meeting.present_count  # counted over the attendance at each call: once
    ratio = present / meeting.member_count
    is_latest = state.meetings and state.meetings[-1].report_id == meeting.report_id
    if ratio < config.threshold_ratio:
        return [
            Open(
                rule=RULE,
                subject=meeting.group_id,
                occurrence=meeting.report_id,
                severity="warning",
                evidence_at=meeting.ended_at,
                at=meeting.received_at,
                details={
                    "report_id": meeting.report_id,
                    "present": present,
                    "members": meeting.member_count,
                    "attendance_ratio": round(ratio, 3),
                    "threshold_ratio": config.threshold_ratio,
                    "meeting_started_at": meeting.started_at.isoformat(),
                },
            )
        ]
    if not is_latest:
        return []
    return [
        Resolve(
            deviation_id=key, rule=RULE, severity=open_.severity, reason="attendance_recovered", at=meeting.received_at
        )
        for key, open_ in sorted(state.open_of(RULE).items())
    ]
