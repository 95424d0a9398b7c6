"""Registry upserts on `registry.events` (compacted, keyed by entity id)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events.base import (
    EntityId,
    EventData,
    Language,
    MemberRef,
    ProgrammeId,
    RegionCode,
    RegionLevel,
    SupervisorLevel,
)


class RegistryEvent(EventData):
    """Registry entities are keyed `<kind>:<id>` so a compacted topic keeps the latest of each."""

    kafka_topic = topics.REGISTRY_EVENTS
    entity_kind: ClassVar[str]

    def entity_id(self) -> str:
        raise NotImplementedError

    def kafka_key(self) -> str:
        return f"{self.entity_kind}:{self.entity_id()}"


class RegionUpserted(RegistryEvent):
    """A region (wilayah) was created or changed."""

    event_type = "meetings.region_upserted.v1"
    entity_kind = "region"
    code: RegionCode
    name: str = Field(min_length=1, max_length=200, description="Official region name.")
    level: RegionLevel = Field(description="Administrative level of the region.")
    parent_code: RegionCode | None = Field(default=None, description="Enclosing region; none for a province.")
    time_zone: str = Field(description="IANA time zone of the region's province, e.g. `Asia/Jakarta`.")

    def entity_id(self) -> str:
        return self.code


class SupervisorUpserted(RegistryEvent):
    """A supervisor (koordinator) was created or changed. Contact details needed for delivery only."""

    event_type = "meetings.supervisor_upserted.v1"
    entity_kind = "supervisor"
    supervisor_id: EntityId = Field(description="Supervisor id.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    level: SupervisorLevel = Field(description="Administrative level the supervisor watches.")
    region_code: RegionCode | None = Field(
        default=None, description="Region the supervisor is responsible for; none at `nasional` level."
    )
    email: str | None = Field(default=None, description="Where e-mail alerts go, if any.")
    webhook_url: str | None = Field(default=None, description="Where webhook alerts go, if any.")
    language: Language = Field(default="id", description="Language of alerts: `id` or `en`.")

    def entity_id(self) -> str:
        return self.supervisor_id


class FacilitatorUpserted(RegistryEvent):
    """A facilitator (pendamping) was created or changed. Phone and e-mail stay in the meetings store."""

    event_type = "meetings.facilitator_upserted.v1"
    entity_kind = "facilitator"
    facilitator_id: EntityId = Field(description="Facilitator id.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    programme: ProgrammeId
    region_code: RegionCode = Field(description="Region the facilitator works in.")

    def entity_id(self) -> str:
        return self.facilitator_id


class MeetingSchedule(BaseModel):
    """When a group is expected to meet."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    cadence: Literal["monthly", "quarterly"] = Field(description="How often the group meets.")
    day_of_month: int = Field(ge=1, le=28, description="Meetings are due by the end of this day, local time.")


class GroupUpserted(RegistryEvent):
    """A group (kelompok / pokja) was created or changed."""

    event_type = "meetings.group_upserted.v1"
    entity_kind = "group"
    group_id: EntityId = Field(description="Group id.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    programme: ProgrammeId
    facilitator_id: EntityId = Field(description="The facilitator who accompanies the group.")
    region_code: RegionCode = Field(description="The group's village (desa) code.")
    member_refs: tuple[MemberRef, ...] = Field(description="Pseudonymous refs of the member families.")
    chair_member_ref: MemberRef | None = Field(default=None, description="The group chair, if known.")
    schedule: MeetingSchedule | None = Field(default=None, description="Meeting schedule, if agreed.")
    time_zone: str = Field(description="IANA time zone of the group's province (due times are local).")

    def entity_id(self) -> str:
        return self.group_id
