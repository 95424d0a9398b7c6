"""Meeting facts on `meetings.events` (keyed by group id)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events.base import (
    AttendanceStatus,
    EntityId,
    GroupKeyed,
    LedBy,
    MemberRef,
    ProgrammeId,
    RegionCode,
    UtcDatetime,
)


class Attendance(BaseModel):
    """One member family's attendance at a meeting."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    member_ref: MemberRef
    status: AttendanceStatus = Field(description="`present`, `absent` or `excused`.")


class MeetingRecorded(GroupKeyed):
    """A held group meeting was reported (pertemuan kelompok), with per-member attendance.

    Carries the group's programme, region and size at the time, so consumers need no join.
    """

    kafka_topic = topics.MEETINGS_EVENTS
    event_type = "meetings.meeting_recorded.v1"

    report_id: EntityId = Field(description="Client-generated report id; unique forever.")
    programme: ProgrammeId
    facilitator_id: EntityId = Field(description="The group's facilitator when the meeting was held.")
    region_code: RegionCode = Field(description="The group's village code.")
    started_at: UtcDatetime = Field(description="Meeting start.")
    ended_at: UtcDatetime = Field(description="Meeting end.")
    facilitator_present: bool = Field(description="Whether the facilitator attended.")
    led_by: LedBy = Field(description="Who led the meeting: `facilitator`, `chair` or `other`.")
    module: str | None = Field(default=None, max_length=200, description="Curriculum module, if any.")
    topic: str | None = Field(default=None, max_length=500, description="Topic discussed, if any.")
    attendance: tuple[Attendance, ...] = Field(description="Per-member attendance.")
    member_count: int = Field(ge=0, description="Number of members of the group when recorded.")
    device_id: str | None = Field(default=None, max_length=120, description="Device that recorded it.")
    recorded_at: UtcDatetime = Field(description="Device time the report was completed.")
    received_at: UtcDatetime = Field(description="Server receipt time.")

    @property
    def duration_seconds(self) -> float:
        """Length of the meeting in seconds."""
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def present_count(self) -> int:
        """Members marked present."""
        return sum(1 for entry in self.attendance if entry.status == "present")


class MeetingScheduled(GroupKeyed):
    """A group's meeting became due for a period (the clock the overdue rule runs against)."""

    kafka_topic = topics.MEETINGS_EVENTS
    event_type = "meetings.meeting_scheduled.v1"

    programme: ProgrammeId
    facilitator_id: EntityId = Field(description="The group's facilitator.")
    region_code: RegionCode = Field(description="The group's village code.")
    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="Period `YYYY-MM` the meeting is for.")
    due_at: UtcDatetime = Field(description="End of the due day in the group's local time, as UTC.")
    time_zone: str = Field(description="IANA time zone the due time was computed in.")


class DeviceSynced(GroupKeyed):
    """A facilitator's device synced everything it recorded up to `synced_through`.

    Published once per group the facilitator accompanies, so each group's partition sees the
    watermark that tells a missed meeting from a phone that has not synced yet.
    """

    kafka_topic = topics.MEETINGS_EVENTS
    event_type = "meetings.device_synced.v1"

    facilitator_id: EntityId = Field(description="Owner of the device.")
    device_id: str = Field(min_length=1, max_length=120, description="The device that synced.")
    synced_through: UtcDatetime = Field(description="Everything recorded on the device up to here is on the server.")
    received_at: UtcDatetime = Field(description="Server receipt time of the sync.")
    pending_count: int | None = Field(
        default=None,
        ge=0,
        description="Items (meetings, progress, ratings) still on the device after this sync: waiting to "
        "be sent or rejected and waiting to be corrected. `null` when the field app did not say (older "
        "versions); the latest sync's count replaces any earlier one.",
    )
