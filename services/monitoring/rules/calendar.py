"""Local-calendar helpers for the rules (pure): periods and day boundaries in a group's time zone."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAYS: dict[float, timedelta] = {}


def days(count: float) -> timedelta:
    """`timedelta(days=count)`, built once per count: the rules' thresholds (days of grace, of
    lateness) are asked of at most records, and building a timedelta from a float is not cheap."""
    known = _DAYS.get(count)
    if known is None:
        known = _DAYS[count] = timedelta(days=count)
    return known


@functools.lru_cache(maxsize=65536)
def local_date(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(ZoneInfo(time_zone)).date()


@functools.lru_cache(maxsize=65536)
def end_of_day(day: date, time_zone: str) -> datetime:
    """23:59:59 local on `day`, as UTC: the contract's "due at the end of the day"."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


@functools.lru_cache(maxsize=65536)
def start_of_day(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def period_bounds(period: str, cadence: str) -> tuple[date, date]:
    """First and last local day of a `YYYY-MM` period (a quarter for quarterly cadence)."""
    year, month = (int(part) for part in period.split("-"))
    months = 3 if cadence == "quarterly" else 1
    first = date(year, month, 1)
    end_month = month + months
    end_year = year + (end_month - 1) // 12
    end_month = (end_month - 1) % 12 + 1
    return first, date(end_year, end_month, 1) - timedelta(days=1)
