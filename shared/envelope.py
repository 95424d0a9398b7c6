"""The CloudEvents 1.0 envelope (structured JSON mode) that wraps every Pantau event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

SPEC_VERSION = "1.0"


def utc_now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are rejected, never guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must carry a timezone offset")
    return moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix and millisecond precision at most where present."""
    text = as_utc(moment).isoformat()
    return text.replace("+00:00", "Z")


class Envelope(BaseModel):
    """A CloudEvents 1.0 record as it travels on Kafka; `data` is the event's own payload."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents spec version.")
    id: UUID = Field(
        default_factory=uuid4,
        description="Unique per event; consumers de-duplicate on (source, id).",
    )
    source: str = Field(
        min_length=1,
        description="The producing service, as a URI reference, e.g. `/pantau/meetings`.",
    )
    type: str = Field(
        pattern=r"^[a-z]+\.[a-z_]+\.v[0-9]+$",
        description="`<producer>.<aggregate>_<past-tense-verb>.v<major>`.",
    )
    time: datetime = Field(description="When the fact happened (RFC 3339, UTC).")
    subject: str = Field(min_length=1, description="The aggregate id; equal to the Kafka key.")
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="Media type of `data`."
    )
    data: dict[str, Any] = Field(description="The event payload, as defined by its type.")
    pantaurecordedat: datetime | None = Field(
        default=None, description="Device time the underlying record was completed, if any."
    )
    pantaureceivedat: datetime | None = Field(
        default=None, description="Server receipt time of the underlying record, if any."
    )

    @field_validator("time", "pantaurecordedat", "pantaureceivedat")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_serializer("time", "pantaurecordedat", "pantaureceivedat")
    def _rfc3339(self, value: datetime | None) -> str | None:
        return None if value is None else rfc3339(value)

    @property
    def major_version(self) -> int:
        """The major version encoded in `type` (the `N` of `.vN`)."""
        return int(self.type.rsplit(".v", 1)[1])

    @property
    def dedup_key(self) -> str:
        """What consumers de-duplicate on: the producing source and the event id."""
        return f"{self.source}#{self.id}"
