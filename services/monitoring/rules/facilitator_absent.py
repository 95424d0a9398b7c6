"""`meeting.facilitator_absent`: a meeting was held without the facilitator (seed 004: a meeting held
only by the group chair is a neglected duty). Warning; critical when it happens again in a row.
Resolved when the facilitator is present at a later meeting."""

from __future__ import annotations

from services.monitoring.programmes import FacilitatorAbsentConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.events import MeetingRecorded

RULE = "meeting.facilitator_absent"


def consecutive_absences(state: GroupState, report_id: str) -> int:
    """Meetings without the facilitator in a row, in start order, ending at this report."""
    count = 0
    meetings = list(state.meetings)
    index = next(i for i, meeting in enumerate(meetings) if meeting.report_id == report_id)
    for meeting in reversed(meetings[: index + 1]):
        if meeting.facilitator_present:
            break
        count += 1
    return count


def evaluate(state: GroupState, meeting: MeetingRecorded, config: FacilitatorAbsentConfig) -> list[Decision]:
    """Decisions for a newly recorded meeting; `state` already includes it."""
    if not meeting.facilitator_present:
        in_a_row = consecutive_absences(state, meeting.report_id)
        severity = "critical" if in_a_row >= config.consecutive_for_critical else config.severity
        return [
            Open(
                rule=RULE,
                subject=meeting.group_id,
                occurrence=meeting.report_id,
                severity=severity,
                evidence_at=meeting.ended_at,
                details={
                    "report_id": meeting.report_id,
                    "led_by": meeting.led_by,
                    "meeting_started_at": meeting.started_at.isoformat(),
                    "module": meeting.module,
                    "absences_in_a_row": in_a_row,
                },
            )
        ]
    latest = state.meetings[-1]
    if latest.report_id != meeting.report_id:
        return []  # an older meeting synced late: it says nothing about the facilitator now
    return [
        Resolve(deviation_id=deviation_id, rule=RULE, severity=deviation.severity, reason="facilitator_present_again")
        for deviation_id, deviation in sorted(state.open.items())
        if deviation.rule == RULE
    ]
