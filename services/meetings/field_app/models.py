"""HTTP shapes of the field app's endpoints: enrolment and the facilitator's worklist."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.web import ServedInstant


class EnrolmentIn(BaseModel):
    """How long the link stays valid (default from settings)."""

    model_config = ConfigDict(extra="forbid")

    valid_hours: float | None = Field(default=None, gt=0, le=24 * 31)


class EnrolmentLink(BaseModel):
    """A link (and the code in it) that signs one facilitator's device in."""

    facilitator_id: str
    code: str
    url: str = Field(description="Open on the facilitator's phone; the code travels in the fragment only.")
    expires_at: ServedInstant


class ExchangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=10, max_length=2000)


class DeviceSession(BaseModel):
    """What the device keeps: its bearer token, whose it is and until when."""

    token: str
    facilitator_id: str
    facilitator_name: str
    expires_at: ServedInstant


class Member(BaseModel):
    member_ref: str
    display_name: str | None = Field(description="As the facilitator knows the member; null when not registered.")


class Scheduled(BaseModel):
    period: str
    due_at: ServedInstant
    reported: bool = Field(description="A report for a meeting in this period is on the server.")


class RecentMeeting(BaseModel):
    report_id: str
    started_at: ServedInstant
    led_by: str
    present_count: int
    member_count: int


class OpenDeviation(BaseModel):
    deviation_id: str
    rule: str
    severity: str
    detected_at: ServedInstant


class Activity(BaseModel):
    id: str
    plan_id: str
    title: str
    stage: str
    due_on: date
    responsible: str
    indicator: dict[str, Any] | None
    status: str = Field(description="Latest reported status, `not_started` when none.")
    reported_on: date | None


class WorkGroup(BaseModel):
    id: str
    name: str
    programme: str
    region_code: str
    time_zone: str
    chair_member_ref: str | None
    cadence: str = Field(description="`monthly` or `quarterly`: how the group's periods run.")
    members: list[Member]
    scheduled: list[Scheduled]
    recent_meetings: list[RecentMeeting]
    open_deviations: list[OpenDeviation]
    activities: list[Activity]


class Programme(BaseModel):
    name: dict[str, str]
    expected_meeting_minutes: int
    modules: list[str]


class Worklist(BaseModel):
    """Everything the field app needs offline, in one call."""

    facilitator_id: str
    facilitator_name: str
    programme: str
    time_zone: str = Field(description="The facilitator's province's IANA zone (WIB/WITA/WIT).")
    generated_at: ServedInstant
    programmes: dict[str, Programme]
    groups: list[WorkGroup]
