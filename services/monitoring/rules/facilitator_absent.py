"""`meeting.facilitator_absent`: a meeting was held without the facilitator (seed 004: a meeting held
only by the group chair is a neglected duty). Warning; critical when it happens again in a row (in
start order, whatever order the reports arrive in). Resolved when the facilitator is present at a
later meeting. An absence that reaches us after a later meeting with the facilitator has already
cleared, so it opens nothing."""

from __future__ import annotations

from services.monitoring.programmes import FacilitatorAbsentConfig
from services.monitoring.rules.decisions import Decision, Escalate, Open, Resolve, deviation_id
from services.monitoring.rules.state import GroupState
from shared.facts import MeetingRecorded

RULE = "meeting.facilitator_absent"


def consecutive_absences(state: GroupState, report_id: str) -> int:
    """Meetings without the facilitator in a row, in start order, ending at this report (0 if unknown)."""
    meetings = list(state.meetings)
    index = next((i for i, meeting in enumerate(meetings) if meeting.report_id == report_id), None)
    if index is None:
        return 0
    count = 0
    for meeting in reversed(meetings[: index + 1]):
        if meeting.facilitator_present:
            break
        count += 1
    return count


def evaluate(state: GroupState, meeting: MeetingRecorded, config: FacilitatorAbsentConfig) -> list[Decision]:
    """Decisions for a newly recorded meeting; `state` already includes it."""
    meetings = list(state.meetings)
    index = next((i for i, known in enumerate(meetings) if known.report_id == meeting.report_id), None)
    if index is None:
        return []  # older than everything we keep: too old to say anything about now
    later = meetings[index + 1 :]
    if not meeting.facilitator_present:
        if any(known.facilitator_present for known in later):
            return []  # the facilitator has been back since: the condition has already cleared
        in_a_row = consecutive_absences(state, meeting.report_id)
        severity = "critical" if in_a_row >= config.consecutive_for_critical else config.severity
        decisions: list[Decision] = [
            Open(
                rule=RULE,
                subject=meeting.group_id,
                occurrence=meeting.report_id,
                severity=severity,
                evidence_at=meeting.ended_at,
                at=meeting.received_at,
                details={
                    "report_id": meeting.report_id,
                    "led_by": meeting.led_by,
                    "meeting_started_at": meeting.started_at.isoformat(),
                    "module": meeting.module,
                    "absences_in_a_row": in_a_row,
                },
            )
        ]
        # An earlier absence that arrived late makes the later open ones "in a row".
        for later_meeting in later:
            later_id = deviation_id(RULE, meeting.group_id, later_meeting.report_id)
            open_later = state.open.get(later_id)
            count = consecutive_absences(state, later_meeting.report_id)
            if (
                open_later is not None
                and open_later.severity != "critical"
                and count >= config.consecutive_for_critical
            ):
                decisions.append(
                    Escalate(
                        deviation_id=later_id,
                        rule=RULE,
                        previous_severity=open_later.severity,
                        severity="critical",
                        reason="absent_again_in_a_row",
                        details={"absences_in_a_row": count},
                        at=meeting.received_at,
                    )
                )
        return decisions
    if later:
        return []  # an older meeting synced late: it says nothing about the facilitator now
    return [
        Resolve(
            deviation_id=key,
            rule=RULE,
            severity=deviation.severity,
            reason="facilitator_present_again",
            at=meeting.received_at,
        )
        for key, deviation in sorted(state.open_of(RULE).items())
    ]
