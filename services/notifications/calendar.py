"""Working hours and holidays in a supervisor's own time zone (pure, apart from reading the YAML).

Non-critical alerts wait for the next working moment: inside the daily window (07:00–20:00 local by
default), not on a rest day (Sunday by default), not on a national holiday from the shipped,
editable calendar (`holidays/id-2026-2027.yaml`). Critical alerts never wait; the caller decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from shared import regions

DEFAULT_HOLIDAYS_FILE = Path(__file__).parent / "holidays" / "id-2026-2027.yaml"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def load_holidays(path: Path) -> dict[date, str]:
    """`{date: name}` from a YAML file of `holidays: [{date, name}, …]`."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    holidays: dict[date, str] = {}
    for entry in document.get("holidays", []):
        day = entry["date"] if isinstance(entry["date"], date) else date.fromisoformat(str(entry["date"]))
        holidays[day] = str(entry.get("name", ""))
    return holidays


def weekday_numbers(names: list[str]) -> frozenset[int]:
    """`["sunday"]` → `{6}` (Monday is 0)."""
    return frozenset(_WEEKDAYS.index(name.strip().lower()) for name in names if name.strip())


def supervisor_time_zone(region_code: str | None) -> str:
    """A supervisor's zone: their province's (WIB/WITA/WIT); a national supervisor keeps WIB (Jakarta)."""
    if not region_code:
        return regions.WIB
    try:
        return regions.time_zone_of(region_code)
    except ValueError:
        return regions.WIB


@dataclass(frozen=True)
class WorkingCalendar:
    """When supervisors may be disturbed by non-critical alerts."""

    start: time = time(7, 0)
    end: time = time(20, 0)
    rest_weekdays: frozenset[int] = frozenset({6})
    holidays: Mapping[date, str] = field(default_factory=dict)
    enabled: bool = True

    def is_working_day(self, day: date) -> bool:
        """Neither a rest day nor a holiday."""
        return day.weekday() not in self.rest_weekdays and day not in self.holidays

    def is_working(self, moment: datetime, time_zone: str) -> bool:
        """Whether `moment` falls inside working hours in `time_zone`."""
        if not self.enabled:
            return True
        local = moment.astimezone(ZoneInfo(time_zone))
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def next_working_moment(self, moment: datetime, time_zone: str) -> datetime:
        """`moment` itself if it is within working hours, else the start of the next working window (UTC)."""
        if self.is_working(moment, time_zone):
            return moment
        zone = ZoneInfo(time_zone)
        local = moment.astimezone(zone)
        day = local.date()
        if local.time() >= self.start:
            day += timedelta(days=1)
        for _ in range(400):  # a year of holidays and rest days is the most that can stand in the way
            if self.is_working_day(day):
                return datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError("no working day within a year: check the working-hours settings")

    def next_local_slot(self, moment: datetime, time_zone: str, at: time) -> datetime:
        """The first instant strictly after `moment` that is `at` local time on a working day (UTC)."""
        zone = ZoneInfo(time_zone)
        day = moment.astimezone(zone).date()
        for _ in range(400):
            candidate = datetime.combine(day, at, tzinfo=zone)
            if candidate > moment and (not self.enabled or self.is_working_day(day)):
                return candidate.astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError("no working day within a year: check the working-hours settings")
