"""When things may happen: release time (quiet hours), escalation deadlines and digest slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notifications.calendar import WorkingCalendar, supervisor_time_zone
from services.notifications.routing import LEVELS
from services.notifications.settings import NotificationsSettings


@dataclass(frozen=True)
class Policy:
    """Everything that decides *when*: deadlines, the working calendar, the digest time."""

    settings: NotificationsSettings
    calendar: WorkingCalendar

    @classmethod
    def from_settings(cls, settings: NotificationsSettings) -> Policy:
        """Reads the holiday file once."""
        return cls(settings=settings, calendar=settings.working_calendar())

    def release_at(self, severity: str, supervisor: Any, now: datetime) -> datetime:
        """When a message may reach the supervisor: at once if critical, else in working hours."""
        if severity == "critical":
            return now
        return self.calendar.next_working_moment(now, supervisor_time_zone(supervisor["region_code"]))

    def escalate_at(self, severity: str, released_at: datetime, level: str) -> datetime | None:
        """When an unacknowledged alert climbs; None at the top level or without a deadline."""
        deadline = self.settings.ack_deadline_seconds(severity)
        if self.settings.incidents_enabled:
            return None  # the incident climbs (incident_shell), not each deviation's alert
        if deadline <= 0 or level == LEVELS[-1]:
            return None
        return released_at + timedelta(seconds=deadline)

    def digest_at(self, supervisor: Any, now: datetime) -> datetime:
        """The next digest slot in the supervisor's own time zone."""
        zone = supervisor_time_zone(supervisor["region_code"])
        return self.calendar.next_local_slot(now, zone, self.settings.digest_local_time)
