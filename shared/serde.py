"""The one serializer between Pantau events and Kafka bytes.

Producers build an `Envelope` with `envelope_for` and turn it into bytes with `encode`; consumers
call `decode` and get the envelope with its typed payload, or a `DecodeError` whose `reason` is a
stable token fit for a dead-letter header and a bounded metric label.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

import orjson
from pydantic import ValidationError

from shared.envelope import Envelope, rfc3339
from shared.events import EVENT_CATALOGUE, EventData

E = TypeVar("E", bound=EventData)

DecodeFailure = Literal["malformed_json", "invalid_envelope", "unknown_type", "invalid_data", "key_mismatch"]


class DecodeError(Exception):
    """A record that cannot be read. `reason` is one of a small fixed set; `detail` is for humans."""

    def __init__(self, reason: DecodeFailure, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DecodeFailure = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    """A decoded record: its envelope and its typed payload."""

    envelope: Envelope
    event: E


def envelope_for(
    event: EventData,
    *,
    source: str,
    time: datetime,
    event_id: UUID | None = None,
    recorded_at: datetime | None = None,
    received_at: datetime | None = None,
) -> Envelope:
    """Wrap a payload in its CloudEvents envelope; `subject` is the payload's Kafka key."""
    fields: dict[str, Any] = {
        "source": source,
        "type": event.event_type,
        "time": time,
        "subject": event.kafka_key(),
        "data": event.model_dump(mode="json"),
        "pantaurecordedat": recorded_at,
        "pantaureceivedat": received_at,
    }
    if event_id is not None:
        fields["id"] = event_id
    return Envelope(**fields)


def encode(envelope: Envelope) -> bytes:
    """Envelope → Kafka value bytes (CloudEvents structured JSON)."""
    return orjson.dumps(envelope.model_dump(mode="json", exclude_none=True))


# Random version-4 UUIDs for envelope ids, made 256 at a time: `uuid4()` asks the kernel for 16
# bytes at each call, a system call per deviation that a replay publishes by the thousand (2 % of the
# bench's bare loop, py-spy 2026-12-05). The same randomness (`os.urandom`), read in larger blocks.
_IDS_PER_BLOCK = 256
_spare_ids: list[str] = []


def _id_block() -> list[str]:
    block = os.urandom(16 * _IDS_PER_BLOCK)
    ids = []
    for start in range(0, len(block), 16):
        value = bytearray(block[start : start + 16])
        value[6] = (value[6] & 0x0F) | 0x40  # version 4
        value[8] = (value[8] & 0x3F) | 0x80  # the RFC 4122 variant
        text = value.hex()
        ids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return ids


def new_event_id() -> str:
    """A fresh random envelope id (a version-4 UUID's text)."""
    try:
        return _spare_ids.pop()  # atomic: threads never share an id
    except IndexError:
        ids = _id_block()
        taken = ids.pop()
        _spare_ids.extend(ids)
        return taken


# A forked child must not hand out the ids its parent holds.
os.register_at_fork(after_in_child=_spare_ids.clear)


def encode_event(event: EventData, *, source: str, time: datetime) -> bytes:
    """`encode(envelope_for(event, source=source, time=time))` without building the envelope's model:
    the same document (but for the envelope's random id). The event was validated when it was built;
    what the envelope adds is this function's own. Why: a replay publishes deviations by the thousand,
    and the envelope's validation and its second dump were half of each one's cost."""
    if not source:
        raise ValueError("an envelope needs a source")
    document = {
        "specversion": "1.0",
        "id": new_event_id(),
        "source": source,
        "type": event.event_type,
        "time": rfc3339(time),
        "subject": event.kafka_key(),
        "datacontenttype": "application/json",
        "data": event.model_dump(mode="json"),
    }
    return orjson.dumps(document)


def kafka_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """Headers every Pantau record carries: content type and the event type for cheap filtering."""
    return event_headers(envelope.type)


def event_headers(event_type: str) -> list[tuple[str, bytes]]:
    """`kafka_headers` for an event of this type."""
    return [
        ("content-type", b"application/cloudevents+json"),
        ("ce_type", event_type.encode()),
    ]


def decode_envelope(raw: bytes | None) -> Envelope:
    """Kafka value bytes → envelope, without interpreting `data`."""
    if raw is None:
        raise DecodeError("malformed_json", "record has no value")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("malformed_json", str(exc)[:200]) from exc
    if not isinstance(document, dict):
        raise DecodeError("invalid_envelope", "value is not a JSON object")
    try:
        return Envelope.model_validate(document)
    except ValidationError as exc:
        raise DecodeError("invalid_envelope", _first_error(exc)) from exc


def decode(raw: bytes | None, *, key: bytes | str | None = None) -> Decoded[EventData]:
    """Kafka value bytes → envelope and typed payload.

    Raises `DecodeError` with reason `unknown_type` for a type this build does not know (callers
    count and skip those), and other reasons for records that belong in a dead-letter topic.
    """
    envelope = decode_envelope(raw)
    event_class = EVENT_CATALOGUE.get(envelope.type)
    if event_class is None:
        raise DecodeError("unknown_type", envelope.type)
    try:
        event = event_class.model_validate(envelope.data)
    except ValidationError as exc:
        raise DecodeError("invalid_data", _first_error(exc)) from exc
    if key is not None:
        key_text = key.decode() if isinstance(key, bytes) else key
        if key_text != envelope.subject:
            raise DecodeError("key_mismatch", "Kafka key differs from the envelope subject")
    return Decoded(envelope=envelope, event=event)


def _first_error(exc: ValidationError) -> str:
    """The first validation error as `field.path: message`, without echoing the input value."""
    error = exc.errors(include_input=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or "(root)"
    return f"{location}: {error['msg']}"[:300]
