"""HTTP shapes of `POST /meetings` (contract §3)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.meetings.edge import DeviceId, MemberRefIn, PlausibleInstant
from services.meetings.registry.models import NikRef
from shared.events.base import ID_PATTERN
from shared.web import ServedInstant


class AttendanceIn(BaseModel):
    """One member's attendance; the member by ref, or by NIK (pseudonymised at once)."""

    model_config = ConfigDict(extra="forbid")

    member_ref: MemberRefIn | NikRef = Field(description='Pseudonymous member ref (or `{"nik": …}`).')
    status: Literal["present", "absent", "excused"]


class MeetingIn(BaseModel):
    """A held group meeting as a field app reports it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    report_id: str = Field(pattern=ID_PATTERN, description="Client-generated UUID; unique forever.")
    group_id: str = Field(pattern=ID_PATTERN)
    started_at: PlausibleInstant
    ended_at: PlausibleInstant
    facilitator_present: bool
    led_by: Literal["facilitator", "chair", "other"]
    module: str | None = Field(default=None, max_length=200)
    topic: str | None = Field(default=None, max_length=500)
    attendance: list[AttendanceIn] = Field(default_factory=list, max_length=500)
    recorded_at: PlausibleInstant = Field(description="Device time the report was completed.")
    device_id: DeviceId | None = None


class MeetingResult(BaseModel):
    """The stored outcome of a report; an identical repeat returns the same document."""

    report_id: str
    group_id: str
    status: Literal["recorded"] = "recorded"
    received_at: ServedInstant
    present_count: int
    member_count: int


class BatchIn(BaseModel):
    """An offline sync from a field app: up to 500 reports and how far the device has synced."""

    model_config = ConfigDict(extra="forbid")

    device_id: DeviceId
    synced_through: PlausibleInstant = Field(
        description="Everything the device recorded up to this instant is in this or an earlier sync."
    )
    facilitator_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Device owner; taken from the token for facilitators."
    )
    pending_count: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        strict=True,
        description="Items the device still holds besides this batch's reports (waiting for a later batch, "
        "or rejected earlier and waiting to be corrected). The server adds this batch's rejected reports "
        "and keeps the sum as the device's pending count. Absent: the device does not say.",
    )
    # Items stay untyped here so one malformed item (a `null`, a string, a bad field) is that
    # item's `rejected` result, never a refusal of the whole batch.
    reports: list[Any] = Field(
        max_length=500,
        description="Meeting reports, each as for POST /meetings; each is validated on its own.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/MeetingIn"}},
    )


class BatchItem(BaseModel):
    """One report's outcome in a batch."""

    index: int
    report_id: str | None
    outcome: Literal["created", "duplicate", "rejected"]
    result: MeetingResult | None = None
    problem: dict[str, Any] | None = None


class BatchResult(BaseModel):
    """One result per item, never all-or-nothing."""

    device_id: str
    synced_through: ServedInstant = Field(description="The watermark the device claimed, as sent.")
    watermark_through: ServedInstant | None = Field(
        default=None,
        description="The device's watermark after this sync: the claim, held back to just before the "
        "earliest rejected item's meeting or recording time (not moved at all when a rejected item has "
        "no readable time); never moved back. `null` while the device has no watermark.",
    )
    watermark_advanced: bool
    pending_count: int | None = Field(
        default=None,
        description="Items still on the device after this sync as the server keeps them: the device's "
        "`pending_count` plus this batch's rejected reports; `null` when the device did not say.",
    )
    counts: dict[str, int]
    results: list[BatchItem]
