"""HTTP shapes of `POST /evaluations` (contract §3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.meetings.edge import PlausibleInstant
from shared.events.base import ID_PATTERN
from shared.web import ServedInstant

Score = Annotated[int, Field(ge=1, le=5)]
Criterion = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class EvaluationIn(BaseModel):
    """Scores 1–5 per criterion, in one of three directions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    evaluation_id: str = Field(pattern=ID_PATTERN, description="Client-generated; unique forever.")
    group_id: str = Field(pattern=ID_PATTERN)
    facilitator_id: str = Field(pattern=ID_PATTERN)
    direction: Literal["facilitator_rates_group", "group_rates_facilitator", "supervisor_rates_facilitator"]
    period: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2]|Q[1-4])$", examples=["2026-11", "2026-Q4"])
    scores: dict[Criterion, Score] = Field(min_length=1, max_length=20, examples=[{"kehadiran": 4, "komunikasi": 5}])
    comment: str | None = Field(default=None, max_length=2000)
    recorded_at: PlausibleInstant


class EvaluationResult(BaseModel):
    """The stored outcome; an identical repeat returns it again."""

    evaluation_id: str
    group_id: str
    direction: str
    mean_score: float
    received_at: ServedInstant
