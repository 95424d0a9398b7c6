"""The capacity plan's arithmetic (tools/capacity.py), on counts made up here."""

from __future__ import annotations

from collections import Counter

import pytest

from tools.capacity import Volumes, national

pytestmark = pytest.mark.unit


def test_volumes_scale_linearly_to_the_nation_and_months_average() -> None:
    volumes = Volumes(
        records=Counter({"meetings.events": 600, "registry.events": 30}),
        value_bytes=Counter({"meetings.events": 600 * 500, "registry.events": 30 * 800}),
        per_hour=Counter({"2026-01-10T12": 120, "2026-01-11T12": 60}),
        per_minute=Counter({"2026-01-10T12:00": 30}),
    )
    figures = national(
        volumes, scale=0.01, months=3, facilitators=400, groups=4000, by_type=Counter({"meeting_recorded": 300})
    )
    assert figures["topics"]["meetings.events"] == {
        "records_per_month_sample": 200,
        "bytes_per_record": 500,
        "records_per_month_national": 20_000,
        "gib_per_month_national": round(20_000 * 500 / 2**30, 2),
    }
    assert figures["records_per_month_national"] == 21_000
    assert figures["types"] == {"meeting_recorded": 10_000}
    assert figures["busiest_hour_per_s_national"] == round(120 * 100 / 3600, 1)
    assert figures["busiest_minute_per_s_national"] == 50.0
    assert figures["sample"]["records"] == 630
