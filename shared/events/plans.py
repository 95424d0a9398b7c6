"""Plan facts on `plans.events` (keyed by group id)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events.base import ActivityStatus, EntityId, GroupKeyed, ResponsibleParty, Stage, UtcDatetime


class Indicator(BaseModel):
    """A measurable success indicator: from baseline to target, in a unit."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=200, description="What is measured.")
    unit: str = Field(min_length=1, max_length=50, description="Unit of the values.")
    baseline: float = Field(description="Value when the plan was agreed.")
    target: float = Field(description="Value to reach by the due date.")


class PlannedActivity(BaseModel):
    """One activity of a facilitation plan."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    activity_id: EntityId = Field(description="Activity id.")
    title: str = Field(min_length=1, max_length=300, description="What will be done.")
    stage: Stage = Field(description="Process stage: `dialogue`, `discovery` or `development`.")
    due_on: date = Field(description="Time limit (local date of the group).")
    responsible: ResponsibleParty = Field(description="Who carries it out.")
    indicator: Indicator | None = Field(default=None, description="Success indicator, if any.")


class PlanAgreed(GroupKeyed):
    """A facilitation plan (rencana pendampingan) was agreed by facilitator and group."""

    kafka_topic = topics.PLANS_EVENTS
    event_type = "meetings.plan_agreed.v1"

    plan_id: EntityId = Field(description="Plan id.")
    revision: int = Field(ge=1, description="Revision number; 1 when first agreed.")
    title: str = Field(min_length=1, max_length=300, description="Plan title.")
    starts_on: date = Field(description="First day of the plan.")
    ends_on: date = Field(description="Last day of the plan.")
    agreed_by: tuple[str, ...] = Field(description="Who agreed it (facilitator id, member refs of the group).")
    activities: tuple[PlannedActivity, ...] = Field(description="The plan's activities.")


class ActivityChange(BaseModel):
    """What a revision did to one activity."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    activity_id: EntityId = Field(description="The activity changed.")
    change: Literal["added", "removed", "modified"] = Field(description="Kind of change.")
    fields: tuple[str, ...] = Field(default=(), description="Fields modified (for `modified`).")


class PlanRevised(PlanAgreed):
    """A plan was revised; carries the whole new plan and what changed."""

    event_type = "meetings.plan_revised.v1"

    changes: tuple[ActivityChange, ...] = Field(description="Changes against the previous revision.")


class ActivityProgressed(GroupKeyed):
    """An activity's status and indicator value were reported (realisasi)."""

    kafka_topic = topics.PLANS_EVENTS
    event_type = "meetings.activity_progressed.v1"

    progress_id: EntityId = Field(description="Client-generated progress id; unique forever.")
    plan_id: EntityId = Field(description="The plan the activity belongs to.")
    activity_id: EntityId = Field(description="The activity.")
    reported_on: date = Field(description="Date the progress refers to.")
    status: ActivityStatus = Field(description="Status at that date.")
    indicator_value: float | None = Field(default=None, description="Indicator value at that date, if any.")
    recorded_at: UtcDatetime = Field(description="Device time the report was completed.")
    received_at: UtcDatetime = Field(description="Server receipt time.")
