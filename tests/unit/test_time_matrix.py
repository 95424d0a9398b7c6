"""The time matrix's instants: each names the calendar edge it claims, and lies ahead of the real date."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tools.time_matrix import faked_environment, instants

pytestmark = pytest.mark.unit

WIB = ZoneInfo("Asia/Jakarta")
WIT = ZoneInfo("Asia/Jayapura")


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 2, 2, 33, tzinfo=UTC),
        datetime(2026, 12, 31, 17, 31, tzinfo=UTC),  # already 1 January in WIB
        datetime(2027, 1, 10, 16, 59, 30, tzinfo=UTC),  # the 10th's due time has just passed in WIB
        datetime(2028, 2, 29, 12, 0, tzinfo=UTC),  # on the leap day itself
        datetime(2027, 12, 31, 14, 31, tzinfo=UTC),  # 31 December 23:31 WIT
    ],
)
def test_every_instant_is_the_edge_it_names_and_lies_ahead(now: datetime) -> None:
    by_name = {instant.name: instant.at for instant in instants(now)}
    assert by_name["today"] is None
    faked = {name: at for name, at in by_name.items() if at is not None}
    assert all(at > now for at in faked.values())
    month_start = faked["month-start"].astimezone(WIB)
    assert (month_start.day, month_start.hour, month_start.minute) == (1, 0, 30)
    assert faked["month-start"].astimezone(UTC).day != 1  # UTC is still in the previous month
    due = faked["due-time"].astimezone(WIB)
    assert (due.day, due.hour, due.minute) == (10, 23, 59)
    year_end = faked["year-end-wit"].astimezone(WIT)
    assert (year_end.month, year_end.day, year_end.hour, year_end.minute) == (12, 31, 23, 30)
    leap = faked["leap-day"]
    assert (leap.month, leap.day, leap.hour, leap.tzinfo) == (2, 29, 12, UTC)
    # Each is the next one: nothing of its kind lies between now and it.
    assert (faked["month-start"] - now).days < 32
    assert (faked["due-time"] - now).days < 32
    assert (faked["year-end-wit"] - now).days <= 366


def test_the_faked_environment_shifts_the_calendar_by_one_offset_and_keeps_monotonic_real() -> None:
    env = faked_environment(
        datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
        {"LD_PRELOAD": "other.so", "PATH": "/bin"},
        now=datetime(2028, 2, 28, 11, 59, 30, tzinfo=UTC),
    )
    # One offset for every process of the run, so that services started later agree with the tests.
    assert env["FAKETIME"] == "+86430"
    assert env["TZ"] == "UTC"
    assert env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
    first, second = env["LD_PRELOAD"].split(" ")
    assert first.endswith("libfaketime.so.1")
    assert second == "other.so"
    assert env["PATH"] == "/bin"
