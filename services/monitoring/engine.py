"""The functional core of monitoring: fold one event into a group's state and collect decisions.

Agents call these with the table's state and the rule clock's `now`, publish the decisions as
deviation events, and store the returned state. Duplicated input is recognised here (by report id,
by already-open deviation ids), so redelivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.monitoring.programmes import ProgrammeConfig
from services.monitoring.rules import facilitator_absent
from services.monitoring.rules.decisions import Decision, Escalate, Open, Resolve
from services.monitoring.rules.state import GroupState, MeetingSummary, OpenDeviation
from shared.events import MeetingRecorded


@dataclass(frozen=True)
class Outcome:
    """The new state and the decisions that led to it (only those that changed something)."""

    state: GroupState
    decisions: tuple[Decision, ...]


def on_meeting_recorded(state: GroupState, meeting: MeetingRecorded, programme: ProgrammeConfig) -> Outcome:
    """Apply every meeting rule to a newly recorded meeting."""
    if state.knows_report(meeting.report_id):
        return Outcome(state, ())
    state = state.with_meeting(MeetingSummary(meeting.report_id, meeting.started_at, meeting.facilitator_present))
    decisions: list[Decision] = []
    decisions += facilitator_absent.evaluate(state, meeting, programme.rules.meeting_facilitator_absent)
    return apply(state, decisions)


def apply(state: GroupState, decisions: list[Decision]) -> Outcome:
    """Record decisions in the open set, dropping those that would change nothing."""
    open_deviations = dict(state.open)
    effective: list[Decision] = []
    for decision in decisions:
        if isinstance(decision, Open):
            if decision.deviation_id in open_deviations:
                continue
            open_deviations[decision.deviation_id] = OpenDeviation(
                decision.rule, decision.occurrence, decision.severity
            )
        elif isinstance(decision, Escalate):
            current = open_deviations.get(decision.deviation_id)
            if current is None or current.severity == decision.severity:
                continue
            open_deviations[decision.deviation_id] = replace(current, severity=decision.severity)
        elif isinstance(decision, Resolve) and open_deviations.pop(decision.deviation_id, None) is None:
            continue
        effective.append(decision)
    return Outcome(GroupState(meetings=state.meetings, open=open_deviations), tuple(effective))
