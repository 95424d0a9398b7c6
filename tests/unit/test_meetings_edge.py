"""The meetings service's pure edge functions: how far a sync may move a device's watermark, what
the API's shapes accept against what the event contract accepts, and where a NIK may not be."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.meetings.edge import FiniteFloat, MemberRefIn, PlausibleInstant, nik_fields
from services.meetings.meeting_reports.batch import earliest_time_of, pending_after, truthful_watermark
from shared.events.base import MemberRef, UtcDatetime

NIK = "1871015501800002"

T = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
UNKNOWN = datetime.min.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, UNKNOWN),
        ("x", UNKNOWN),
        ({}, UNKNOWN),
        ({"started_at": "yesterday"}, UNKNOWN),
        ({"started_at": "2026-11-18T09:00:00"}, UNKNOWN),  # no offset: not an instant
        ({"started_at": 5, "recorded_at": None}, UNKNOWN),
        ({"started_at": "0001-01-01T00:00:00+07:00"}, UNKNOWN),  # cannot be moved to UTC
        ({"started_at": "2026-11-18T09:00:00+07:00"}, datetime(2026, 11, 18, 2, 0, tzinfo=UTC)),
        ({"recorded_at": "2026-11-18T02:00:00Z"}, datetime(2026, 11, 18, 2, 0, tzinfo=UTC)),
        (
            {"started_at": "2026-11-18T09:00:00+07:00", "recorded_at": "2026-11-17T00:00:00Z"},
            datetime(2026, 11, 17, 0, 0, tzinfo=UTC),
        ),
    ],
)
def test_earliest_time_of_a_raw_item(raw: Any, expected: datetime) -> None:
    assert earliest_time_of(raw) == expected


def test_truthful_watermark() -> None:
    assert truthful_watermark(T, None) == T
    assert truthful_watermark(T, UNKNOWN) is None
    assert truthful_watermark(T, T - timedelta(days=1)) == T - timedelta(days=1, microseconds=1)
    assert truthful_watermark(T, T + timedelta(days=1)) == T


# ---------- one validation: what the API's shapes accept, the event contract accepts ----------

API_MEMBER_REF: TypeAdapter[str] = TypeAdapter(MemberRefIn)
EVENT_MEMBER_REF: TypeAdapter[str] = TypeAdapter(MemberRef)
API_NUMBER: TypeAdapter[float] = TypeAdapter(FiniteFloat)
API_INSTANT: TypeAdapter[datetime] = TypeAdapter(PlausibleInstant)
EVENT_INSTANT: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=90))
def test_every_member_ref_the_api_accepts_the_event_accepts(text: str) -> None:
    try:
        accepted = API_MEMBER_REF.validate_python(text)
    except ValidationError:
        return
    EVENT_MEMBER_REF.validate_python(accepted)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_number_the_api_accepts_survives_json(value: float) -> None:
    try:
        accepted = API_NUMBER.validate_python(value)
    except ValidationError:
        assert not math.isfinite(value)
        return
    assert json.loads(json.dumps(accepted)) == accepted


@settings(max_examples=100, deadline=None)
@given(st.datetimes(timezones=st.timezones()))
def test_every_instant_the_api_accepts_the_event_accepts(moment: datetime) -> None:
    try:
        accepted = API_INSTANT.validate_python(moment)
    except ValidationError:
        return
    assert 2000 <= EVENT_INSTANT.validate_python(accepted).year <= 2099


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        ({"members": [NIK, f"{NIK[:4]} {NIK[4:8]} {NIK[8:12]} {NIK[12:]}", {"nik": NIK}]}, []),
        ({"agreed_by": ["PDP-1", NIK], "chair_member_ref": NIK}, []),
        ({"members": [f"kpm-{NIK}"]}, ["members[0]"]),
        (
            {"name": f"Ibu {NIK}", "members": [{"member_ref": "m-1", "display_name": NIK}]},
            ["name", "members[0].display_name"],
        ),
        ({"device_id": NIK, "target": int(NIK), "ok": 1.5, "flag": True}, ["device_id", "target"]),
        ({NIK: 1}, ["(body)"]),
        ([{"topic": "x"}, {"topic": NIK}], ["[1].topic"]),
        ({"report_id": "12345678-1234-4234-9234-123456789012"}, []),
    ],
)
def test_nik_fields_names_where_a_nik_may_not_be(document: Any, fields: list[str]) -> None:
    assert list(nik_fields(document)) == fields


@pytest.mark.parametrize(
    ("reported", "rejected", "expected"),
    [(None, 0, None), (None, 2, None), (0, 0, 0), (4, 0, 4), (0, 2, 2), (4, 2, 6)],
)
def test_what_stays_on_the_phone_after_a_batch(reported: int | None, rejected: int, expected: int | None) -> None:
    # The device counts what it holds besides the batch; the batch's own rejected reports stay too.
    assert pending_after(reported, rejected=rejected) == expected
