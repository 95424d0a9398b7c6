"""A group's state as the worker stores it in its table: compact MessagePack arrays (msgspec).

Why not the JSON of `GroupState.to_json`: its field names, ISO instants and hex ids made a group's
state several kilobytes (hundreds of MiB per 100,000 groups, written to the changelog at every
change). Here every record is a positional array, instants are integer seconds since the epoch
(with microseconds and a UTC offset only when they have one), days are ordinals and deviation ids
their 16 bytes. Decoding gives back exactly the state that was encoded.

States written in the former JSON form (a worker upgraded over an existing changelog) are still
read: they start with `{`, which a version-tagged MessagePack array never does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import msgspec
import orjson

from services.monitoring.rules.state import (
    ActivityState,
    DeviceWatermark,
    EvaluationSummary,
    GroupContext,
    GroupState,
    MeetingSummary,
    OpenDeviation,
    ScheduledPeriod,
    SupersededProgress,
    pack_instant,
)

FORMAT = 1  # first element of every stored array: a later layout gets a new number
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_PREFIX = "dev-"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


# ------------------------------------------------------------------------------------------ values


def unpack_instant(packed: Any) -> datetime | None:
    """The instant `pack_instant` was given (UTC as `datetime.UTC`, like `datetime.fromisoformat`)."""
    if packed is None:
        return None
    if isinstance(packed, int):
        return _EPOCH + timedelta(seconds=packed)
    if isinstance(packed, str):
        return datetime.fromisoformat(packed)
    seconds, microseconds, offset = packed
    moment = _EPOCH + timedelta(seconds=seconds, microseconds=microseconds)
    return moment if offset == 0 else moment.astimezone(timezone(timedelta(seconds=offset)))


def pack_day(day: date | None) -> int | None:
    return None if day is None else day.toordinal()


def unpack_day(packed: int | None) -> date | None:
    return None if packed is None else date.fromordinal(packed)


def pack_id(identifier: str) -> str | bytes:
    """A derived deviation id (`dev-` and 32 hex digits) as its 16 bytes; any other text as it is."""
    if len(identifier) == 36 and identifier.startswith(_ID_PREFIX):
        try:
            packed = bytes.fromhex(identifier[4:])
        except ValueError:
            return identifier
        if packed.hex() == identifier[4:]:  # lower-case hex only: the id must come back identical
            return packed
    return identifier


def unpack_id(packed: str | bytes) -> str:
    return _ID_PREFIX + packed.hex() if isinstance(packed, bytes) else packed


# ------------------------------------------------------------------------------------------ states


def encode_state(state: GroupState) -> bytes:
    """The state's stored bytes: one MessagePack array of 12 (`FORMAT`, the context, three instants,
    the seven collections)."""
    context = state.context
    head = _encoder.encode(
        [
            FORMAT,
            None
            if context is None
            else [context.programme, context.facilitator_id, context.region_code, context.partition],
            pack_instant(state.wake_at),
            pack_instant(state.clock_at),
            pack_instant(state.forgotten_before),
        ]
    )
    # MessagePack nests by concatenation: the five items' array header (a fixarray of 5) becomes the
    # whole state's (of 12), and the collections' bytes, kept encoded, follow as they are. The same
    # bytes as encoding the whole state at once (unit-tested), without walking its collections.
    return b"".join((_STATE_HEADER, memoryview(head)[1:], *_packed_sections(state)))


_STATE_HEADER = b"\x9c"  # MessagePack fixarray of 12 elements

# What is kept beside a state (`GroupState.evolve` carries it) and beside each of its parts: their
# encoded bytes (`msgspec.Raw`, copied as they are into the bytes of whatever holds them).
_PACKED_SECTIONS = "_packed_sections"
_PACKED = "_packed"
_PACKED_ENTRY = "_packed_entry"


def _packed_sections(state: GroupState) -> list[msgspec.Raw]:
    """The state's seven collections (meetings … closed ids), each encoded once for as long as the
    state and the states evolved from it hold that very collection.

    Why: a batch writes each group it touched once, and most records change one collection (a sync
    its devices, a progress report its activities), yet every write encoded all seven again: 13 % of
    the loop worker's time over 12,018 groups (py-spy, 2026-12-04)."""
    meetings, open_, periods, devices = state.meetings, state.open, state.periods, state.devices
    activities, evaluations, closed = state.activities, state.evaluations, state.closed
    known: tuple[tuple[object, ...], list[msgspec.Raw]] | None = state._packed_sections
    if known is not None:
        kept = known[0]  # compared one by one: asked at every stored state
        if (
            kept[0] is meetings
            and kept[1] is open_
            and kept[2] is periods
            and kept[3] is devices
            and kept[4] is activities
            and kept[5] is evaluations
            and kept[6] is closed
        ):
            return known[1]
    sections = (meetings, open_, periods, devices, activities, evaluations, closed)
    before = known[0] if known is not None else (None,) * len(sections)
    encoded = [
        known[1][index] if known is not None and section is before[index] else _encode_section(index, section)
        for index, section in enumerate(sections)
    ]
    # A new pair, never the carried one changed in place: the state this one evolved from keeps its own.
    object.__setattr__(state, "_packed_sections", (sections, encoded))
    return encoded


def _encode_section(index: int, section: Any) -> msgspec.Raw:
    if index == 0:
        items = [_packed(meeting, _pack_meeting) for meeting in section]
    elif index == 1:
        items = [_packed_entry(pack_id(key), item, _pack_open) for key, item in section.items()]
    elif index == 2:
        items = [_packed(period, _pack_period) for period in section]
    elif index == 3:
        items = [_packed_entry(key, device, _pack_device) for key, device in section.items()]
    elif index == 4:
        items = [_packed_entry(key, activity, _pack_activity) for key, activity in section.items()]
    elif index == 5:
        items = [_packed(item, _pack_evaluation) for item in section]
    else:
        return msgspec.Raw(_encoder.encode([pack_id(key) for key in section]))
    return msgspec.Raw(_encoder.encode(items))


def _packed(item: Any, pack: Callable[[Any], list[Any]]) -> msgspec.Raw:
    # A state's parts are frozen and outlive many records (a meeting, a period, an activity until
    # its next progress): each is encoded once, and its bytes kept beside its fields.
    packed: msgspec.Raw | None = getattr(item, _PACKED, None)
    if packed is None:
        packed = msgspec.Raw(_encoder.encode(pack(item)))
        object.__setattr__(item, _PACKED, packed)
    return packed


def _packed_entry(key: str | bytes, item: Any, pack: Callable[[Any], list[Any]]) -> msgspec.Raw:
    # `[key, *fields]`: a part kept under a key (a device, an activity, an open deviation).
    known: tuple[str | bytes, msgspec.Raw] | None = getattr(item, _PACKED_ENTRY, None)
    if known is not None and known[0] == key:
        return known[1]
    packed = msgspec.Raw(_encoder.encode([key, *pack(item)]))
    object.__setattr__(item, _PACKED_ENTRY, (key, packed))
    return packed


def _pack_meeting(m: MeetingSummary) -> list[Any]:
    return [
        m.report_id,
        pack_instant(m.started_at),
        m.facilitator_present,
        pack_instant(m.ended_at),
        m.present,
        m.members,
        pack_instant(m.received_at),
    ]


def _pack_open(o: OpenDeviation) -> list[Any]:
    return [o.rule, o.occurrence, o.severity, pack_instant(o.opened_at), o.concerns, o.memory or None]


def _pack_period(p: ScheduledPeriod) -> list[Any]:
    return [p.period, pack_instant(p.due_at), p.time_zone, p.cadence, pack_instant(p.learned_at)]


def _pack_device(d: DeviceWatermark) -> list[Any]:
    history = d._packed_history  # kept from the device's previous mark, or from its stored bytes
    if history is None:
        history = [pack_instant(moment) for mark in d.history for moment in mark]
        object.__setattr__(d, "_packed_history", history)
    return [pack_instant(d.synced_through), pack_instant(d.received_at), d.facilitator_id, history]


def _pack_activity(a: ActivityState) -> list[Any]:
    return [
        a.activity_id,
        a.plan_id,
        a.title,
        pack_day(a.starts_on),
        pack_day(a.due_on),
        a.time_zone,
        a.status,
        a.baseline,
        a.target,
        a.value,
        pack_day(a.reported_on),
        pack_instant(a.done_received_at),
        pack_instant(a.known_at),
        pack_instant(a.progress_recorded_at),
        pack_instant(a.progress_received_at),
        a.status_before_done,
        a.progress_id,
        [_pack_superseded(item) for item in a.superseded],
    ]


def _pack_superseded(p: SupersededProgress) -> list[Any]:
    return [
        p.status,
        p.value,
        pack_day(p.reported_on),
        pack_instant(p.recorded_at),
        pack_instant(p.received_at),
        pack_instant(p.until),
    ]


def _pack_evaluation(e: EvaluationSummary) -> list[Any]:
    return [e.evaluation_id, e.direction, e.mean_score, pack_instant(e.received_at)]


def decode_state(stored: bytes | dict[str, Any] | None) -> GroupState:
    """The state from its stored form: these bytes, the former JSON bytes, or the former JSON
    already parsed (as the table handed it out before states were stored as bytes)."""
    if not stored:
        return GroupState()
    if isinstance(stored, dict):
        return GroupState.from_json(stored)
    if stored[:1] == b"{":
        return GroupState.from_json(orjson.loads(stored))
    (
        version,
        context,
        wake_at,
        clock_at,
        forgotten_before,
        meetings,
        open_,
        periods,
        devices,
        activities,
        evaluations,
        closed,
    ) = _decoder.decode(stored)
    if version != FORMAT:
        raise ValueError(f"stored group state of unknown format {version!r}")
    return GroupState(
        meetings=tuple(
            MeetingSummary(
                report_id,
                _instant(started_at),
                present_facilitator,
                unpack_instant(ended_at),
                present,
                members,
                unpack_instant(received_at),
            )
            for report_id, started_at, present_facilitator, ended_at, present, members, received_at in meetings
        ),
        open={
            unpack_id(key): OpenDeviation(
                rule, occurrence, severity, unpack_instant(opened_at), concerns, dict(memory or {})
            )
            for key, rule, occurrence, severity, opened_at, concerns, memory in open_
        },
        context=None if context is None else GroupContext(*context),
        periods=tuple(
            ScheduledPeriod(period, _instant(due_at), time_zone, cadence, unpack_instant(learned_at))
            for period, due_at, time_zone, cadence, learned_at in periods
        ),
        devices={
            key: DeviceWatermark(
                _instant(synced_through),
                _instant(received_at),
                facilitator_id,
                tuple((_instant(history[index]), _instant(history[index + 1])) for index in range(0, len(history), 2)),
                packed_history=history,  # what `_pack_device` would make of them: these very values
            )
            for key, synced_through, received_at, facilitator_id, history in devices
        },
        activities={key: _activity(fields) for key, *fields in activities},
        evaluations=tuple(
            EvaluationSummary(evaluation_id, direction, mean_score, _instant(received_at))
            for evaluation_id, direction, mean_score, received_at in evaluations
        ),
        closed=tuple(unpack_id(key) for key in closed),
        forgotten_before=unpack_instant(forgotten_before),
        wake_at=unpack_instant(wake_at),
        clock_at=unpack_instant(clock_at),
    )


def stored_schedule(stored: bytes | dict[str, Any] | None) -> tuple[int, datetime | None, datetime | None] | None:
    """(partition, wake_at, clock_at) of a stored state without building it (the timer reads these
    for every group after a rebalance); None for a group with no context yet."""
    if not stored:
        return None
    if isinstance(stored, bytes) and stored[:1] != b"{":
        _version, context, wake_at, clock_at, *_rest = _decoder.decode(stored)
        if not context:
            return None
        return context[3], unpack_instant(wake_at), unpack_instant(clock_at)
    data = stored if isinstance(stored, dict) else orjson.loads(stored)
    context = data.get("context")
    if not context:
        return None
    wake = data.get("wake_at")
    clock = data.get("clock_at")
    return (
        context["partition"],
        None if not wake else datetime.fromisoformat(wake),
        None if not clock else datetime.fromisoformat(clock),
    )


def _instant(packed: Any) -> datetime:
    moment = unpack_instant(packed)
    if moment is None:
        raise ValueError("a required instant is missing from a stored group state")
    return moment


def _activity(fields: list[Any]) -> ActivityState:
    # Stored before activities kept superseded progress: 17 elements, none superseded.
    superseded = fields[17] if len(fields) > 17 else []
    (
        activity_id,
        plan_id,
        title,
        starts_on,
        due_on,
        time_zone,
        status,
        baseline,
        target,
        value,
        reported_on,
        done_received_at,
        known_at,
        progress_recorded_at,
        progress_received_at,
        status_before_done,
        progress_id,
    ) = fields[:17]
    return ActivityState(
        activity_id=activity_id,
        plan_id=plan_id,
        title=title,
        starts_on=date.fromordinal(starts_on),
        due_on=date.fromordinal(due_on),
        time_zone=time_zone,
        status=status,
        baseline=baseline,
        target=target,
        value=value,
        reported_on=unpack_day(reported_on),
        done_received_at=unpack_instant(done_received_at),
        known_at=unpack_instant(known_at),
        progress_recorded_at=unpack_instant(progress_recorded_at),
        progress_received_at=unpack_instant(progress_received_at),
        status_before_done=status_before_done,
        progress_id=progress_id,
        superseded=tuple(
            SupersededProgress(
                status,
                value,
                unpack_day(reported_on),
                unpack_instant(recorded_at),
                unpack_instant(received_at),
                _instant(until),
            )
            for status, value, reported_on, recorded_at, received_at, until in superseded
        ),
    )
