"""Turn rule decisions into deviation events (pure) for the agents to publish."""

from __future__ import annotations

from datetime import datetime

from services.monitoring.rules.decisions import Decision, Escalate, Open, Resolve
from shared.events import DeviationEscalated, DeviationOpened, DeviationResolved
from shared.events.monitoring import DeviationEvent


def deviation_event(
    decision: Decision,
    *,
    group_id: str,
    programme: str,
    facilitator_id: str,
    region_code: str,
    now: datetime,
) -> DeviationEvent:
    """The contract event for a decision, stamped with the rule clock's `now`."""
    common = {
        "group_id": group_id,
        "programme": programme,
        "facilitator_id": facilitator_id,
        "region_code": region_code,
        "rule": decision.rule,
        "severity": decision.severity,
    }
    if isinstance(decision, Open):
        return DeviationOpened(
            **common,
            deviation_id=decision.deviation_id,
            concerns=decision.concerns,
            occurrence=decision.occurrence,
            detected_at=now,
            evidence_at=decision.evidence_at,
            details=decision.details,
        )
    if isinstance(decision, Escalate):
        return DeviationEscalated(
            **common,
            deviation_id=decision.deviation_id,
            previous_severity=decision.previous_severity,
            escalated_at=now,
            reason=decision.reason,
            details=decision.details,
        )
    if isinstance(decision, Resolve):
        return DeviationResolved(**common, deviation_id=decision.deviation_id, resolved_at=now, reason=decision.reason)
    raise TypeError(f"unknown decision {decision!r}")
