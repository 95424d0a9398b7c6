"""Evaluation facts on `evaluations.events` (keyed by group id)."""

from __future__ import annotations

from pydantic import Field

from shared import topics
from shared.events.base import EntityId, EvaluationDirection, GroupKeyed, ProgrammeId, RegionCode, UtcDatetime


class EvaluationSubmitted(GroupKeyed):
    """A two-way evaluation (evaluasi) was submitted: scores 1–5 per criterion."""

    kafka_topic = topics.EVALUATIONS_EVENTS
    event_type = "meetings.evaluation_submitted.v1"

    evaluation_id: EntityId = Field(description="Client-generated evaluation id; unique forever.")
    facilitator_id: EntityId = Field(description="The facilitator of the evaluated relationship.")
    programme: ProgrammeId
    region_code: RegionCode = Field(description="The group's village code.")
    direction: EvaluationDirection = Field(description="Who rates whom.")
    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$", description="`YYYY-MM` or `YYYY-Qn`.")
    scores: dict[str, int] = Field(description="Score 1–5 per criterion.")
    mean_score: float = Field(ge=1, le=5, description="Mean of the scores.")
    comment: str | None = Field(default=None, max_length=2000, description="Written feedback, if any.")
    recorded_at: UtcDatetime = Field(description="Device time the evaluation was completed.")
    received_at: UtcDatetime = Field(description="Server receipt time.")
