"""`reporting.lagging`: a report reached the server long after the meeting (default 7 days), so what
supervisors see is stale. Resolved by the next report that arrives on time."""

from __future__ import annotations

from services.monitoring.programmes import ReportingLaggingConfig
from services.monitoring.rules.decisions import Decision, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.facts import MeetingRecorded

RULE = "reporting.lagging"


def evaluate(state: GroupState, meeting: MeetingRecorded, config: ReportingLaggingConfig) -> list[Decision]:
    lag_days = (meeting.received_at - meeting.ended_at).total_seconds() / 86400
    if lag_days > config.max_lag_days:
        return [
            Open(
                rule=RULE,
                subject=meeting.group_id,
                occurrence=meeting.report_id,
                severity="info",
                evidence_at=meeting.ended_at,
                at=meeting.received_at,
                details={
                    "report_id": meeting.report_id,
                    "lag_days": round(lag_days, 1),
                    "max_lag_days": config.max_lag_days,
                    "meeting_started_at": meeting.started_at.isoformat(),
                },
            )
        ]
    return [
        Resolve(key, RULE, open_.severity, "reports_fresh", at=meeting.received_at)
        for key, open_ in sorted(state.open_of(RULE).items())
    ]
