"""When each group's meeting is due, and publishing it as `meetings.meeting_scheduled.v1`.

Monitoring and analytics learn due times from these events (keyed by group id, so co-partitioned
with the meetings themselves) instead of joining the registry. "Due at the end of the 10th" means
23:59:59 local time of the group's province (WIB/WITA/WIT).

Periods are labelled `YYYY-MM`. Monthly groups have one period a month. Quarterly groups have one
a quarter, labelled by the quarter's first month, due on `day_of_month` of its last month.

**History is scheduled too.** A period whose due time has already passed when Pantau learns of it (a
group registered with last month's history to import, a phone that was offline for weeks) is still a
period the group was due in, and compliance must count it in its own month. So the scheduler holds a
group to:

- the previous, the current and the next period of its local calendar (`BACKFILL_PERIODS` = 1 back:
  the window a programme still reports on — last month's report is written this month), and
- any older period in which a meeting of the group is recorded (an import of a year's history
  schedules each month it holds, right after that month's first meeting).

Older periods without any meeting are left alone: Pantau cannot tell a group that skipped them from
one that did not exist yet. Monitoring learns from the event's arrival that such a period is history
and raises no `meeting.overdue` for it (see `services/monitoring/rules/overdue.py`); analytics counts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select, update

from services.meetings import db, outbox
from services.meetings.settings import MeetingsSettings
from shared import regions, serde, topics
from shared.events import MeetingScheduled

log = logging.getLogger(__name__)


def period_of(day: date, cadence: str) -> str:
    """The period label a local date belongs to."""
    month = day.month if cadence == "monthly" else 3 * ((day.month - 1) // 3) + 1
    return f"{day.year:04d}-{month:02d}"


def next_period(period: str, cadence: str) -> str:
    """The period after `period`."""
    year, month = (int(part) for part in period.split("-"))
    month += 1 if cadence == "monthly" else 3
    if month > 12:
        year, month = year + 1, month - 12
    return f"{year:04d}-{month:02d}"


def due_at(period: str, *, cadence: str, day_of_month: int, time_zone: str) -> datetime:
    """End of the due day (23:59:59 local) as a UTC instant."""
    year, month = (int(part) for part in period.split("-"))
    if cadence == "quarterly":
        month += 2
    local = datetime.combine(date(year, month, day_of_month), time(23, 59, 59), tzinfo=ZoneInfo(time_zone))
    return local.astimezone(UTC)


def previous_period(period: str, cadence: str) -> str:
    """The period before `period`."""
    year, month = (int(part) for part in period.split("-"))
    month -= 1 if cadence == "monthly" else 3
    if month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


# Periods before the current one that are scheduled whatever their due time (see the module docstring).
BACKFILL_PERIODS = 1


def periods_to_schedule(now: datetime, *, cadence: str, time_zone: str) -> list[str]:
    """The previous period(s), the current one and the next, in the group's local calendar."""
    current = period_of(now.astimezone(ZoneInfo(time_zone)).date(), cadence)
    earlier = [current]
    for _ in range(BACKFILL_PERIODS):
        earlier.insert(0, previous_period(earlier[0], cadence))
    return [*earlier, next_period(current, cadence)]


def schedule_group(connection: Connection, group: Any, *, settings: MeetingsSettings, now: datetime) -> int:
    """Make sure the group's previous, current and next meetings are scheduled (and re-published if
    the due time changed with its schedule). Returns how many `meeting_scheduled` events were staged."""
    schedule = group["schedule"]
    if not schedule:
        return 0
    time_zone = regions.time_zone_of(group["region_code"])
    periods = periods_to_schedule(now, cadence=schedule["cadence"], time_zone=time_zone)
    return sum(_ensure_period(connection, group, period, settings=settings, now=now) for period in periods)


def schedule_meeting_period(
    connection: Connection, group: Any, started_at: datetime, *, settings: MeetingsSettings, now: datetime
) -> int:
    """Make sure the period a recorded meeting belongs to is scheduled (history that arrives late is
    counted in its own period). Staged after the meeting itself, so a consumer reading the group's
    partition in order sees the meeting first. Returns 1 if a `meeting_scheduled` was staged."""
    schedule = group["schedule"]
    if not schedule:
        return 0
    time_zone = regions.time_zone_of(group["region_code"])
    period = period_of(started_at.astimezone(ZoneInfo(time_zone)).date(), schedule["cadence"])
    return _ensure_period(connection, group, period, settings=settings, now=now, only_if_missing=True)


def _ensure_period(
    connection: Connection,
    group: Any,
    period: str,
    *,
    settings: MeetingsSettings,
    now: datetime,
    only_if_missing: bool = False,
) -> int:
    """Insert (or correct the due time of) one scheduled period and stage its event; 0 if unchanged."""
    schedule = group["schedule"]
    time_zone = regions.time_zone_of(group["region_code"])
    cadence, day = schedule["cadence"], schedule["day_of_month"]
    due = due_at(period, cadence=cadence, day_of_month=day, time_zone=time_zone)
    existing = connection.execute(
        select(db.scheduled_meetings.c.due_at).where(
            db.scheduled_meetings.c.group_id == group["id"], db.scheduled_meetings.c.period == period
        )
    ).first()
    if existing is not None:
        known = existing.due_at if existing.due_at.tzinfo else existing.due_at.replace(tzinfo=UTC)
        if known == due or only_if_missing:
            return 0
        connection.execute(
            update(db.scheduled_meetings)
            .where(db.scheduled_meetings.c.group_id == group["id"], db.scheduled_meetings.c.period == period)
            .values(due_at=due)
        )
    else:
        connection.execute(insert(db.scheduled_meetings).values(group_id=group["id"], period=period, due_at=due))
    event = MeetingScheduled(
        group_id=group["id"],
        programme=group["programme"],
        facilitator_id=group["facilitator_id"],
        region_code=group["region_code"],
        period=period,
        due_at=due,
        time_zone=time_zone,
    )
    envelope = serde.envelope_for(event, source=settings.source, time=now)
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.MEETINGS_EVENTS)
    return 1


class Scheduler:
    """Rolls every group's schedule forward: at start-up and then every `interval_seconds`."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: MeetingsSettings,
        on_staged: Any,
        clock: Callable[[], datetime],
        interval_seconds: float = 3600,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._settings = settings
        self._on_staged = on_staged
        self._interval = interval_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="meeting-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self, now: datetime | None = None) -> int:
        """Schedule every group with a schedule; returns events staged."""
        now = now or self._clock()
        staged = 0
        with self._engine.connect() as connection:
            group_ids = (
                connection.execute(
                    select(db.groups.c.id).where(db.groups.c.schedule.is_not(None)).order_by(db.groups.c.id)
                )
                .scalars()
                .all()
            )
        for start in range(0, len(group_ids), 500):
            chunk = group_ids[start : start + 500]
            with self._engine.begin() as connection:
                for group in connection.execute(select(db.groups).where(db.groups.c.id.in_(chunk))).mappings():
                    staged += schedule_group(connection, group, settings=self._settings, now=now)
        if staged:
            log.info("scheduled %d group meetings", staged)
            self._on_staged()
        return staged

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # scheduling must survive a bad moment of the store
                log.exception("scheduling round failed; retrying next round")
            self._stopping.wait(self._interval)
