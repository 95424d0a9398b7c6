"""The monitoring's source events as msgspec structs: the same contract, decoded at a fifth of the cost.

`shared.events` (pydantic) is the contract: what producers build, what the HTTP edge validates, what
`docs/contract` is generated from. A stream worker that reads every record of a national history
cannot afford pydantic's validation per record (about 10 µs of an aim of 17, `docs/profile-monitoring.md`),
so the events it folds — the group facts on `meetings.events`, `plans.events` and
`evaluations.events` — are mirrored here field for field as frozen msgspec structs, with the
contract's constraints (`Meta`), and `decode` reads a record straight into them.

The mirror accepts nothing the contract refuses and reads every record as the contract does:
whatever the strict msgspec decoder declines (a lax form pydantic would coerce, an instant with an
offset other than UTC, an invalid value) goes through `serde.decode`, so acceptance, the values read
and the dead-letter reasons are the contract's own (`tests/unit/test_facts.py` decodes every
generated record both ways and compares them field by field). `fact_of` turns a contract event into
its fact (tests and tools build contract events).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, ClassVar, Final, Literal, TypeAlias
from uuid import UUID

import msgspec
from msgspec import Meta, Raw, Struct

from shared import serde
from shared.events import base as contract
from shared.events.base import EventData


def _pattern(text: str) -> str:
    # The contract's patterns are matched by pydantic's Rust engine, where `$` is the end of the text;
    # msgspec uses Python's `re.search`, where `$` also matches before a final newline.
    return text.removesuffix("$") + r"\Z"


Instant = Annotated[datetime, Meta(tz=True)]  # made UTC by `decode` (offsets other than UTC take the slow path)
EntityId = Annotated[str, Meta(pattern=_pattern(contract.ID_PATTERN))]
ProgrammeId = Annotated[str, Meta(pattern=_pattern(contract.PROGRAMME_PATTERN))]
RegionCode = Annotated[str, Meta(pattern=_pattern(contract.REGION_CODE_PATTERN))]
MemberRef = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,80}\Z")]


class Attendance(Struct, frozen=True, gc=False):
    member_ref: MemberRef
    status: contract.AttendanceStatus


class MeetingRecorded(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.meeting_recorded.v1"
    group_id: EntityId
    report_id: EntityId
    programme: ProgrammeId
    facilitator_id: EntityId
    region_code: RegionCode
    started_at: Instant
    ended_at: Instant
    facilitator_present: bool
    led_by: contract.LedBy
    attendance: tuple[Attendance, ...]
    member_count: Annotated[int, Meta(ge=0)]
    recorded_at: Instant
    received_at: Instant
    module: Annotated[str, Meta(max_length=200)] | None = None
    topic: Annotated[str, Meta(max_length=500)] | None = None
    device_id: Annotated[str, Meta(max_length=120)] | None = None

    @property
    def duration_seconds(self) -> float:
        """Length of the meeting in seconds."""
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def present_count(self) -> int:
        """Members marked present."""
        return sum(1 for entry in self.attendance if entry.status == "present")


class MeetingScheduled(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.meeting_scheduled.v1"
    group_id: EntityId
    programme: ProgrammeId
    facilitator_id: EntityId
    region_code: RegionCode
    period: Annotated[str, Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")]
    due_at: Instant
    time_zone: str


class DeviceSynced(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.device_synced.v1"
    group_id: EntityId
    facilitator_id: EntityId
    device_id: Annotated[str, Meta(min_length=1, max_length=120)]
    synced_through: Instant
    received_at: Instant
    pending_count: Annotated[int, Meta(ge=0)] | None = None


class Indicator(Struct, frozen=True, gc=False):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    unit: Annotated[str, Meta(min_length=1, max_length=50)]
    baseline: float
    target: float


class PlannedActivity(Struct, frozen=True, gc=False):
    activity_id: EntityId
    title: Annotated[str, Meta(min_length=1, max_length=300)]
    stage: contract.Stage
    due_on: date
    responsible: contract.ResponsibleParty
    indicator: Indicator | None = None


class PlanAgreed(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.plan_agreed.v1"
    group_id: EntityId
    plan_id: EntityId
    revision: Annotated[int, Meta(ge=1)]
    title: Annotated[str, Meta(min_length=1, max_length=300)]
    starts_on: date
    ends_on: date
    agreed_by: tuple[str, ...]
    activities: tuple[PlannedActivity, ...]


class ActivityChange(Struct, frozen=True, gc=False):
    activity_id: EntityId
    change: Literal["added", "removed", "modified"]
    fields: tuple[str, ...] = ()


class PlanRevised(PlanAgreed, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.plan_revised.v1"
    changes: tuple[ActivityChange, ...]


class ActivityProgressed(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.activity_progressed.v1"
    group_id: EntityId
    progress_id: EntityId
    plan_id: EntityId
    activity_id: EntityId
    reported_on: date
    status: contract.ActivityStatus
    recorded_at: Instant
    received_at: Instant
    indicator_value: float | None = None


class EvaluationSubmitted(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.evaluation_submitted.v1"
    group_id: EntityId
    evaluation_id: EntityId
    facilitator_id: EntityId
    programme: ProgrammeId
    region_code: RegionCode
    direction: contract.EvaluationDirection
    period: Annotated[str, Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])\Z")]
    scores: dict[str, int]
    mean_score: Annotated[float, Meta(ge=1, le=5)]
    recorded_at: Instant
    received_at: Instant
    comment: Annotated[str, Meta(max_length=2000)] | None = None


Fact: TypeAlias = (
    MeetingRecorded
    | MeetingScheduled
    | DeviceSynced
    | PlanAgreed
    | PlanRevised
    | ActivityProgressed
    | EvaluationSubmitted
)
FACT_TYPES: Final[dict[str, type[Fact]]] = {
    cls.event_type: cls
    for cls in (
        MeetingRecorded,
        MeetingScheduled,
        DeviceSynced,
        PlanAgreed,
        PlanRevised,
        ActivityProgressed,
        EvaluationSubmitted,
    )
}
# The instants of each fact (all at its top level), checked to be UTC as the contract makes them.
_INSTANTS: Final[dict[str, tuple[str, ...]]] = {
    MeetingRecorded.event_type: ("started_at", "ended_at", "recorded_at", "received_at"),
    MeetingScheduled.event_type: ("due_at",),
    DeviceSynced.event_type: ("synced_through", "received_at"),
    PlanAgreed.event_type: (),
    PlanRevised.event_type: (),
    ActivityProgressed.event_type: ("recorded_at", "received_at"),
    EvaluationSubmitted.event_type: ("recorded_at", "received_at"),
}


class Envelope(Struct, frozen=True, gc=False):
    """The CloudEvents envelope as the monitoring reads it (`shared.envelope.Envelope` is the contract)."""

    source: Annotated[str, Meta(min_length=1)]
    type: Annotated[str, Meta(pattern=r"^[a-z]+\.[a-z_]+\.v[0-9]+\Z")]
    time: Instant
    subject: Annotated[str, Meta(min_length=1)]
    data: Raw
    id: UUID | None = None
    specversion: Literal["1.0"] = "1.0"
    datacontenttype: Literal["application/json"] = "application/json"
    pantaurecordedat: Instant | None = None
    pantaureceivedat: Instant | None = None


class Decoded(Struct, frozen=True, gc=False):
    """A record the monitoring reads: the group (the envelope's subject, the Kafka key), when Pantau
    received the underlying record, and the fact (None for a contract event the monitoring does not
    fold, which it counts and passes over)."""

    subject: str
    received_at: datetime
    event: Fact | None
    type: str


_ENVELOPE: Final = msgspec.json.Decoder(Envelope)
_DECODERS: Final[dict[str, msgspec.json.Decoder[Fact]]] = {
    name: msgspec.json.Decoder(cls) for name, cls in FACT_TYPES.items()
}


def decode(raw: bytes | None, *, key: bytes | None = None) -> Decoded:
    """Kafka value bytes → the fact, as `serde.decode` reads them (same errors, same values)."""
    if raw is not None:
        try:
            envelope = _ENVELOPE.decode(raw)
            decoder = _DECODERS.get(envelope.type)
            if decoder is not None and (key is None or key.decode() == envelope.subject):
                fact = decoder.decode(envelope.data)
                if _all_utc(envelope, fact):
                    received_at = envelope.pantaureceivedat or envelope.time
                    return Decoded(envelope.subject, received_at, fact, envelope.type)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            pass  # the contract's own decoder says what is wrong, or reads what this one declined
    decoded = serde.decode(raw, key=key)
    envelope_model = decoded.envelope
    return Decoded(
        envelope_model.subject,
        envelope_model.pantaureceivedat or envelope_model.time,
        fact_of(decoded.event),
        envelope_model.type,
    )


def _all_utc(envelope: Envelope, fact: Fact) -> bool:
    if envelope.time.tzinfo is not UTC:
        return False
    for moment in (envelope.pantaurecordedat, envelope.pantaureceivedat):
        if moment is not None and moment.tzinfo is not UTC:
            return False
    for name in _INSTANTS[fact.event_type]:  # noqa: SIM110 (a loop: no generator per record)
        if getattr(fact, name).tzinfo is not UTC:
            return False
    return True


def fact_of(event: EventData) -> Fact | None:
    """The fact for a contract event (None for an event the monitoring does not fold)."""
    cls = FACT_TYPES.get(event.event_type)
    if cls is None:
        return None
    return msgspec.convert(event, cls, from_attributes=True)
