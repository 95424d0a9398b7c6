"""Base class and common field types of Pantau's event payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.envelope import as_utc

# Kemendagri region codes: province `18`, regency/city `18.71`, sub-district `18.71.01`,
# village `18.71.01.1001`.
REGION_CODE_PATTERN = r"^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$"
# Identifiers chosen by clients or the registry: short, URL-safe, never a personal identifier.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"
PROGRAMME_PATTERN = r"^[a-z0-9][a-z0-9-]{1,39}$"

UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
RegionCode = Annotated[str, Field(pattern=REGION_CODE_PATTERN, description="Kemendagri region code.")]
EntityId = Annotated[str, Field(pattern=ID_PATTERN)]
ProgrammeId = Annotated[
    str,
    Field(pattern=PROGRAMME_PATTERN, description="Programme id, e.g. `pkh-p2k2` (configuration, not code)."),
]
MemberRef = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9._:-]{1,80}$",
        description="Pseudonymous member reference; never a raw national ID.",
    ),
]

RegionLevel = Literal["provinsi", "kabupaten", "kecamatan", "desa"]
SupervisorLevel = Literal["kabupaten", "provinsi", "nasional"]
Language = Literal["id", "en"]
Stage = Literal["dialogue", "discovery", "development"]
ResponsibleParty = Literal["facilitator", "group", "partner"]
ActivityStatus = Literal["not_started", "in_progress", "done", "blocked"]
LedBy = Literal["facilitator", "chair", "other"]
AttendanceStatus = Literal["present", "absent", "excused"]
EvaluationDirection = Literal["facilitator_rates_group", "group_rates_facilitator", "supervisor_rates_facilitator"]
Severity = Literal["info", "warning", "critical"]


class EventData(BaseModel):
    """A past-tense fact. Frozen; unknown fields from newer minor revisions are ignored on read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    kafka_topic: ClassVar[str]

    def kafka_key(self) -> str:
        """The Kafka key (and CloudEvents `subject`) this event is published under."""
        raise NotImplementedError


class GroupKeyed(EventData):
    """An event about one group: keyed by group id so a group's events stay in order."""

    group_id: EntityId = Field(description="The accompanied group this fact is about.")

    def kafka_key(self) -> str:
        return self.group_id
