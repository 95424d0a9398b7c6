"""`meeting.too_short`: the meeting lasted less than a share (default 0.6) of the programme's expected
duration (120 minutes for PKH P2K2). Resolved when the latest meeting is long enough again."""

from __future__ import annotations

from services.monitoring.programmes import TooShortConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.facts import MeetingRecorded

RULE = "meeting.too_short"


def evaluate(
    state: GroupState, meeting: MeetingRecorded, config: TooShortConfig, *, expected_minutes: int
) -> list[Decision]:
    minutes = meeting.duration_seconds / 60
    minimum = config.min_share_of_expected * expected_minutes
    if minutes < minimum:
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
                    "duration_minutes": round(minutes, 1),
                    "expected_minutes": expected_minutes,
                    "minimum_minutes": round(minimum, 1),
                    "meeting_started_at": meeting.started_at.isoformat(),
                },
            )
        ]
    if not state.meetings or state.meetings[-1].report_id != meeting.report_id:
        return []
    return [
        Resolve(key, RULE, open_.severity, "duration_recovered", at=meeting.received_at)
        for key, open_ in sorted(state.open_of(RULE).items())
    ]
