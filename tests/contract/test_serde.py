"""The serializer's failure modes: each gives a stable reason token, never a crash."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from shared import serde
from shared.envelope import Envelope
from shared.events import DeviceSynced, MeetingRecorded
from tests.samples import AT, SAMPLES

pytestmark = pytest.mark.contract


def _valid_raw() -> bytes:
    return serde.encode(serde.envelope_for(SAMPLES[MeetingRecorded], source="/pantau/test", time=AT))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (None, "malformed_json"),
        (b"[1, 2]", "invalid_envelope"),
        (b'{"specversion": "1.0"}', "invalid_envelope"),
    ],
)
def test_unreadable_records_have_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(serde.DecodeError) as caught:
        serde.decode(raw)
    assert caught.value.reason == reason


def test_unknown_type_is_reported_as_such() -> None:
    document = orjson.loads(_valid_raw())
    document["type"] = "meetings.meeting_recorded.v9"
    with pytest.raises(serde.DecodeError) as caught:
        serde.decode(orjson.dumps(document))
    assert caught.value.reason == "unknown_type"


def test_invalid_data_names_the_field_without_echoing_the_value() -> None:
    document = orjson.loads(_valid_raw())
    document["data"]["region_code"] = "1234567890123456"
    with pytest.raises(serde.DecodeError) as caught:
        serde.decode(orjson.dumps(document))
    assert caught.value.reason == "invalid_data"
    assert "region_code" in caught.value.detail
    assert "1234567890123456" not in caught.value.detail


def test_key_must_equal_subject() -> None:
    with pytest.raises(serde.DecodeError) as caught:
        serde.decode(_valid_raw(), key=b"another-group")
    assert caught.value.reason == "key_mismatch"


def test_newer_minor_revision_with_an_extra_field_is_still_readable() -> None:
    document = orjson.loads(_valid_raw())
    document["data"]["field_from_the_future"] = 42
    assert serde.decode(orjson.dumps(document)).event == SAMPLES[MeetingRecorded]


def test_envelope_refuses_naive_times_and_writes_utc() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Envelope(source="/x", type="meetings.meeting_recorded.v1", time=datetime(2026, 1, 1), subject="g", data={})
    document = orjson.loads(_valid_raw())
    assert document["time"].endswith("Z")
    assert document["subject"] == SAMPLES[MeetingRecorded].kafka_key()


def test_a_device_sync_from_before_pending_counts_still_reads() -> None:
    # Records written before `pending_count` existed have no such field: they read as "not said".
    document = orjson.loads(serde.encode(serde.envelope_for(SAMPLES[DeviceSynced], source="/pantau/test", time=AT)))
    assert document["data"]["pending_count"] == 3
    del document["data"]["pending_count"]
    old = serde.decode(orjson.dumps(document)).event
    assert isinstance(old, DeviceSynced)
    assert old.pending_count is None
    document["data"]["pending_count"] = -1
    with pytest.raises(serde.DecodeError) as caught:
        serde.decode(orjson.dumps(document))
    assert caught.value.reason == "invalid_data"
    assert "pending_count" in caught.value.detail
