"""HTTP shapes of the registry endpoints (contract §3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from services.meetings.edge import MemberRefIn, NikIn
from shared.events.base import ID_PATTERN, PROGRAMME_PATTERN, REGION_CODE_PATTERN


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegionIn(_Body):
    """A region (wilayah). Level and parent follow from the code; when given they must agree."""

    name: str = Field(min_length=1, max_length=200, examples=["Kota Bandar Lampung"])
    level: Literal["provinsi", "kabupaten", "kecamatan", "desa"] | None = None
    parent_code: str | None = Field(default=None, pattern=REGION_CODE_PATTERN)


class SupervisorIn(_Body):
    """A supervisor (koordinator) who receives alerts."""

    name: str = Field(min_length=1, max_length=200)
    level: Literal["kabupaten", "provinsi", "nasional"]
    region_code: str | None = Field(default=None, pattern=REGION_CODE_PATTERN, examples=["18.71"])
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook_url: HttpUrl | None = None
    language: Literal["id", "en"] = "id"


class FacilitatorIn(_Body):
    """A facilitator (pendamping)."""

    name: str = Field(min_length=1, max_length=200)
    programme: str = Field(pattern=PROGRAMME_PATTERN, examples=["pkh-p2k2"])
    region_code: str = Field(pattern=REGION_CODE_PATTERN)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()-]{6,40}$")


class NikRef(_Body):
    """A member given by national ID; replaced by a pseudonym at once, never stored."""

    nik: NikIn = Field(description="16 digits, whole or grouped by spaces, dots or dashes.")


class ScheduleIn(_Body):
    """When the group meets: due by the end of `day_of_month`, local time."""

    cadence: Literal["monthly", "quarterly"] = "monthly"
    day_of_month: int = Field(ge=1, le=28)


class NamedMember(_Body):
    """A member with the name the facilitator knows them by. The name stays in the meetings store and
    reaches only the group's own facilitator (field app worklist); events carry the ref alone."""

    member_ref: str | None = Field(default=None, pattern=ID_PATTERN)
    nik: NikIn | None = None
    display_name: str = Field(min_length=1, max_length=80, examples=["Ibu Sari (RT 03)"])

    @model_validator(mode="after")
    def _one_identity(self) -> NamedMember:
        if (self.member_ref is None) == (self.nik is None):
            raise ValueError("give exactly one of member_ref and nik")
        return self


MemberIn = MemberRefIn | NikRef | NamedMember


class GroupIn(_Body):
    """An accompanied group (kelompok / pokja)."""

    name: str = Field(min_length=1, max_length=200)
    programme: str = Field(pattern=PROGRAMME_PATTERN)
    facilitator_id: str = Field(pattern=ID_PATTERN)
    region_code: str = Field(pattern=r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$", description="Village code.")
    members: list[MemberIn] = Field(default_factory=list, max_length=500)
    chair_member_ref: MemberIn | None = None
    schedule: ScheduleIn | None = None


class UpsertResult(BaseModel):
    """What an upsert did."""

    id: str
    outcome: Literal["created", "updated", "unchanged"]
