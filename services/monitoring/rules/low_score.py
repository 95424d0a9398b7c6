"""`evaluation.low_score`: an evaluation's mean score is below the threshold (default 2.5 of 5). A group
or supervisor rating its facilitator low concerns the facilitator (routed to their supervisor).
Resolved by a later evaluation in the same direction at or above the threshold."""

from __future__ import annotations

from services.monitoring.programmes import LowScoreConfig
from services.monitoring.rules.decisions import Concerns, Decision, Open, Resolve
from services.monitoring.rules.state import GroupState
from shared.facts import EvaluationSubmitted

RULE = "evaluation.low_score"


def evaluate(state: GroupState, evaluation: EvaluationSubmitted, config: LowScoreConfig) -> list[Decision]:
    if evaluation.mean_score < config.threshold_score:
        concerns: Concerns = "group" if evaluation.direction == "facilitator_rates_group" else "facilitator"
        return [
            Open(
                rule=RULE,
                subject=evaluation.group_id,
                occurrence=evaluation.evaluation_id,
                severity="warning",
                evidence_at=evaluation.recorded_at,
                at=evaluation.received_at,
                concerns=concerns,
                details={
                    "evaluation_id": evaluation.evaluation_id,
                    "direction": evaluation.direction,
                    "period": evaluation.period,
                    "mean_score": evaluation.mean_score,
                    "threshold_score": config.threshold_score,
                },
                memory={"direction": evaluation.direction},
            )
        ]
    return [
        Resolve(key, RULE, open_.severity, "scores_recovered", at=evaluation.received_at)
        for key, open_ in sorted(state.open_of(RULE).items())
        if open_.memory.get("direction") == evaluation.direction
    ]
