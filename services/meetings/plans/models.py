"""HTTP shapes of `PUT /plans/{id}` and `POST /activities/{id}/progress` (contract §3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.meetings.edge import FiniteFloat, MemberRefIn, PlausibleDate, PlausibleInstant
from shared.events.base import ID_PATTERN
from shared.web import ServedInstant


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IndicatorIn(_Body):
    """A measurable success indicator: from baseline to target, in a unit."""

    name: str = Field(min_length=1, max_length=200, examples=["KPM yang mengikuti P2K2"])
    unit: str = Field(min_length=1, max_length=50, examples=["keluarga"])
    baseline: FiniteFloat
    target: FiniteFloat


class ActivityIn(_Body):
    """One activity: stage of the empowerment process, time limit, who is responsible."""

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=300)
    stage: Literal["dialogue", "discovery", "development"]
    due_on: PlausibleDate
    responsible: Literal["facilitator", "group", "partner"]
    indicator: IndicatorIn | None = None


class PlanIn(_Body):
    """A plan agreed by the facilitator and the group."""

    group_id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=300)
    starts_on: PlausibleDate
    ends_on: PlausibleDate
    agreed_by: list[MemberRefIn] = Field(min_length=2, max_length=50, description="Facilitator id and member refs.")
    activities: list[ActivityIn] = Field(min_length=1, max_length=200)


class PlanResult(BaseModel):
    """What a plan upsert did."""

    plan_id: str
    revision: int
    outcome: Literal["agreed", "revised", "unchanged"]


class ProgressIn(_Body):
    """An activity's status and indicator value at a date."""

    progress_id: str = Field(pattern=ID_PATTERN, description="Client-generated; unique forever.")
    reported_on: PlausibleDate
    status: Literal["not_started", "in_progress", "done", "blocked"]
    indicator_value: FiniteFloat | None = None
    recorded_at: PlausibleInstant


class ProgressResult(BaseModel):
    """The stored outcome of a progress report; an identical repeat returns it again."""

    progress_id: str
    activity_id: str
    plan_id: str
    status: str
    received_at: ServedInstant
