"""The monitoring's source events as msgspec structs: the same contract, decoded at a fifth of the cost.

`shared.events` (pydantic) is the contract: what producers build, what the HTTP edge validates, what
`docs/contract` is generated from. A stream worker that reads every record of a national history
cannot afford pydantic's validation per record (about 10 µs of an aim of 17, `docs/profile-monitoring.md`),
so the events it folds — the group facts on `meetings.events`, `plans.events` and
`evaluations.events` — are mirrored here field for field as frozen msgspec structs, with the
contract's constraints (msgspec's `Meta`; the patterns as `Pattern`, checked once the record is
read), and `decode` reads a record, envelope and fact, in one pass straight into them.

The mirror accepts nothing the contract refuses and reads every record as the contract does:
whatever the strict msgspec decoder declines (a lax form pydantic would coerce, an instant with an
offset other than UTC, an invalid value) goes through `serde.decode`, so acceptance, the values read
and the dead-letter reasons are the contract's own (`tests/unit/test_facts.py` decodes every
generated record both ways and compares them field by field). `fact_of` turns a contract event into
its fact (tests and tools build contract events).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias, Union, get_args, get_origin, get_type_hints
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from shared import serde
from shared.events import base as contract
from shared.events.base import EventData


def _pattern(text: str) -> str:
    # The contract's patterns are matched by pydantic's Rust engine, where `$` is the end of the text;
    # Python's `re.search` lets `$` also match before a final newline.
    return text.removesuffix("$") + r"\Z"


MATCHED_KEPT: Final = 1 << 17  # values each pattern remembers as matched (about 10 MiB when full)


class Pattern:
    """A contract pattern, checked by `decode` once msgspec has read the record (`_matches`).

    Why not msgspec's own pattern constraint: msgspec runs `re.search` on every value it reads, and
    that was a third of a record's decoding. The same values come record after record (a group's id,
    its facilitator's, its programme, its region, its members), so each value that matched once is
    remembered, in a bounded set emptied when full, and not searched again.
    """

    __slots__ = ("_matched", "_search", "remember", "text")

    def __init__(self, text: str, *, remember: bool = True) -> None:
        self.text: Final = text
        self.remember: Final = remember
        self._search: Final = re.compile(_pattern(text)).search
        self._matched: Final[set[str]] = set()

    def matches(self, value: str) -> bool:
        if value in self._matched:
            return True
        if self._search(value) is None:
            return False
        if not self.remember:
            return True
        if len(self._matched) >= MATCHED_KEPT:
            self._matched.clear()
        self._matched.add(value)
        return True

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


Instant = Annotated[datetime, Meta(tz=True)]  # made UTC by `decode` (offsets other than UTC take the slow path)
EntityId = Annotated[str, Pattern(contract.ID_PATTERN)]
# A record's own id (a report's, a progress report's, an evaluation's) comes once: not remembered.
OwnId = Annotated[str, Pattern(contract.ID_PATTERN, remember=False)]
ProgrammeId = Annotated[str, Pattern(contract.PROGRAMME_PATTERN)]
RegionCode = Annotated[str, Pattern(contract.REGION_CODE_PATTERN)]
MemberRef = Annotated[str, Pattern(r"^[A-Za-z0-9._:-]{1,80}$")]
MonthPeriod = Annotated[str, Pattern(r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
EvaluationPeriod = Annotated[str, Pattern(r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$")]


class Attendance(Struct, frozen=True, gc=False):
    member_ref: MemberRef
    status: contract.AttendanceStatus


class MeetingRecorded(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.meeting_recorded.v1"
    group_id: EntityId
    report_id: OwnId
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
        # A list counted, not a generator summed: half the cost over a meeting's 20 to 30 members.
        return [entry.status for entry in self.attendance].count("present")


class MeetingScheduled(Struct, frozen=True, gc=False):
    event_type: ClassVar[str] = "meetings.meeting_scheduled.v1"
    group_id: EntityId
    programme: ProgrammeId
    facilitator_id: EntityId
    region_code: RegionCode
    period: MonthPeriod
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
    progress_id: OwnId
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
    evaluation_id: OwnId
    facilitator_id: EntityId
    programme: ProgrammeId
    region_code: RegionCode
    direction: contract.EvaluationDirection
    period: EvaluationPeriod
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


class Envelope(Struct, frozen=True, gc=False, tag_field="type"):
    """The CloudEvents envelope as the monitoring reads it (`shared.envelope.Envelope` is the contract).
    One subclass per fact type (`_ENVELOPES`), its `type` the tag: one pass reads the envelope and
    the fact in it (reading `data` raw and decoding it again cost a sixth of a record's decoding)."""

    source: Annotated[str, Meta(min_length=1)]
    time: Instant
    subject: Annotated[str, Meta(min_length=1)]
    data: Fact  # each subclass declares its own fact type
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


_ENVELOPES: Final = msgspec.json.Decoder(
    Union[  # noqa: UP007 (a tuple of types, built here)
        tuple(
            msgspec.defstruct(f"{cls.__name__}Envelope", [("data", cls)], bases=(Envelope,), tag=name)
            for name, cls in FACT_TYPES.items()
        )
    ]
)


def decode(raw: bytes | None, *, key: bytes | None = None) -> Decoded:
    """Kafka value bytes → the fact, as `serde.decode` reads them (same errors, same values)."""
    if raw is not None:
        try:
            envelope: Envelope = _ENVELOPES.decode(raw)
            fact = envelope.data
            if (key is None or key.decode() == envelope.subject) and _CHECKERS[type(fact)](fact) and _all_utc(envelope):
                received_at = envelope.pantaureceivedat or envelope.time
                return Decoded(envelope.subject, received_at, fact, fact.event_type)
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


# Each struct's fields with a `Pattern`, and its fields holding structs (alone, optional or in a
# tuple) that have patterns of their own.
_Patterns: TypeAlias = tuple[tuple[tuple[str, Pattern], ...], tuple[str, ...]]


def _patterns_of(cls: type[Struct], known: dict[type[Struct], _Patterns]) -> _Patterns:
    if cls not in known:
        hints = get_type_hints(cls, include_extras=True)
        own: list[tuple[str, Pattern]] = []
        nested: list[str] = []
        for name in cls.__struct_fields__:
            hint = hints[name]
            if get_origin(hint) is Annotated:
                own += [(name, meta) for meta in get_args(hint)[1:] if isinstance(meta, Pattern)]
                continue
            inner = [arg for arg in (hint, *get_args(hint)) if isinstance(arg, type) and issubclass(arg, Struct)]
            if any(_patterns_of(item, known) != ((), ()) for item in inner):
                nested.append(name)
        known[cls] = (tuple(own), tuple(nested))
    return known[cls]


_PATTERNS: Final[dict[type[Struct], _Patterns]] = {}
for _fact_type in FACT_TYPES.values():
    _patterns_of(_fact_type, _PATTERNS)


def _checker(cls: type[Struct], checkers: dict[type[Struct], Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """A function that says whether a decoded `cls` holds to the contract beyond what msgspec
    checked: every patterned value (nested structs included) matches its pattern, and every instant
    of a fact is in UTC. Written out for its fields, one statement each, and compiled once per type:
    looping over a table of field names and patterns was a quarter of a record's decoding (py-spy,
    2026-12-05), the per-field work being a set lookup."""
    if cls in checkers:
        return checkers[cls]
    own, nested = _PATTERNS[cls]
    namespace: dict[str, Any] = {"UTC": UTC}
    lines = ["def check(value):"]
    for index, (name, pattern) in enumerate(own):
        # The set first: a value matched before costs no call (it is emptied, never replaced, when full).
        namespace[f"matched_{index}"], namespace[f"matches_{index}"] = pattern._matched, pattern.matches
        lines += [
            f"    field = value.{name}",
            f"    if field not in matched_{index} and not matches_{index}(field):",
            "        return False",
        ]
    for index, name in enumerate(nested):
        namespace[f"inner_{index}"] = _nested_checker(cls, name, checkers)
        lines += [f"    if not inner_{index}(value.{name}):", "        return False"]
    event_type = getattr(cls, "event_type", None)
    for name in _INSTANTS.get(event_type, ()) if isinstance(event_type, str) else ():
        lines += [f"    if value.{name}.tzinfo is not UTC:", "        return False"]
    lines.append("    return True")
    exec(compile("\n".join(lines), f"<contract checks of {cls.__name__}>", "exec"), namespace)
    checkers[cls] = namespace["check"]
    return checkers[cls]


def _nested_checker(
    cls: type[Struct], name: str, checkers: dict[type[Struct], Callable[[Any], bool]]
) -> Callable[[Any], bool]:
    """The check of a field holding structs (alone, optional or in a tuple) that have patterns."""
    hint = get_type_hints(cls, include_extras=True)[name]
    inner = [arg for arg in (hint, *get_args(hint)) if isinstance(arg, type) and issubclass(arg, Struct)]
    by_type = {item: _checker(item, checkers) for item in inner}

    def check(value: Any) -> bool:
        if value is None:
            return True
        if isinstance(value, tuple):
            for item in value:  # noqa: SIM110 (a loop: no generator per record, a meeting's attendance)
                if not by_type[type(item)](item):
                    return False
            return True
        return by_type[type(value)](value)

    return check


_CHECKERS: Final[dict[type[Struct], Callable[[Any], bool]]] = {}
for _fact_type in FACT_TYPES.values():
    _checker(_fact_type, _CHECKERS)


def _matches(value: Struct) -> bool:
    """Whether `value` holds to its patterns and its instants are in UTC (`_checker`)."""
    return _CHECKERS[type(value)](value)


def _all_utc(envelope: Envelope) -> bool:
    """Whether the envelope's instants are in UTC (the fact's own are `_matches`')."""
    if envelope.time.tzinfo is not UTC:
        return False
    recorded, received = envelope.pantaurecordedat, envelope.pantaureceivedat
    return (recorded is None or recorded.tzinfo is UTC) and (received is None or received.tzinfo is UTC)


def fact_of(event: EventData) -> Fact | None:
    """The fact for a contract event (None for an event the monitoring does not fold)."""
    cls = FACT_TYPES.get(event.event_type)
    if cls is None:
        return None
    return msgspec.convert(event, cls, from_attributes=True)
