"""The meetings service's pure edge functions: how far a sync may move a device's watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.meetings.meeting_reports.batch import earliest_time_of, truthful_watermark

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
