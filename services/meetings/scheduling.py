"""When each group's meeting is due, and publishing it as `meetings.meeting_scheduled.v1`.

Monitoring and analytics learn due times from these events (keyed by group id, so co-partitioned
with the meetings themselves) instead of joining the registry. "Due at the end of the 10th" means
23:59:59 local time of the group's province (WIB/WITA/WIT).

Periods are labelled `YYYY-MM`. Monthly groups have one period a month. Quarterly groups have one
a quarter, labelled by the quarter's first month, due on `day_of_month` of its last month.

**History is scheduled too.** A period whose due time has already passed when Pantau learns of it (a
group registered with months of history to import, a phone that was offline for weeks) is still a
period the group was due in, and compliance must count it in its own month — but only where Pantau
has evidence that the group was being accompanied then, so that a group registered today is never
held to months before it existed. The evidence, and what it schedules:

- a meeting recorded in the period: that period (an import of a year's history schedules each
  month it holds, right after that month's first meeting);
- the group's agreed plan (the accompaniment both sides signed up to): every period whose due day
  lies within the plan's `starts_on`…`ends_on`, up to `PLAN_LOOKBACK_PERIODS` back — so a month the
  group skipped inside its plan counts as not met.

Otherwise the scheduler holds a group to its current and next period, and a period already past due
when first seen is left alone. Monitoring learns from the event's arrival that a late-scheduled period
is history and raises no `meeting.overdue` for it (see `services/monitoring/rules/overdue.py`);
analytics counts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.meetings import db, outbox
from services.meetings.leases import Lease
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


# How often a standby process asks for the scheduler's lease (the holder may have died).
STANDBY_RETRY_SECONDS = 10.0

# How far back an agreed plan brings past periods into compliance (a year of monthly meetings).
PLAN_LOOKBACK_PERIODS = 12


def periods_to_schedule(now: datetime, *, cadence: str, time_zone: str) -> list[str]:
    """The current period and the next, in the group's local calendar."""
    current = period_of(now.astimezone(ZoneInfo(time_zone)).date(), cadence)
    return [current, next_period(current, cadence)]


def schedule_group(connection: Connection, group: Any, *, settings: MeetingsSettings, now: datetime) -> int:
    """Make sure the group's current and next meetings are scheduled (and re-published if the due
    time changed with its schedule). Returns how many `meeting_scheduled` events were staged."""
    schedule = group["schedule"]
    if not schedule:
        return 0
    time_zone = regions.time_zone_of(group["region_code"])
    periods = periods_to_schedule(now, cadence=schedule["cadence"], time_zone=time_zone)
    # A period already due when first seen needs evidence (a meeting, a plan): not scheduled from here.
    return sum(
        _ensure_period(connection, group, period, settings=settings, now=now, new_only_if_ahead=True)
        for period in periods
    )


def schedule_plan_periods(
    connection: Connection, group: Any, *, starts_on: date, ends_on: date, settings: MeetingsSettings, now: datetime
) -> int:
    """Schedule the past periods the group's agreed plan covers (due day within `starts_on`…`ends_on`,
    due time passed, at most `PLAN_LOOKBACK_PERIODS` back). Returns how many events were staged."""
    schedule = group["schedule"]
    if not schedule:
        return 0
    time_zone = regions.time_zone_of(group["region_code"])
    cadence, day = schedule["cadence"], schedule["day_of_month"]
    period = period_of(now.astimezone(ZoneInfo(time_zone)).date(), cadence)
    staged = 0
    for _ in range(PLAN_LOOKBACK_PERIODS):
        due = due_at(period, cadence=cadence, day_of_month=day, time_zone=time_zone)
        due_day = due.astimezone(ZoneInfo(time_zone)).date()
        if due <= now and starts_on <= due_day <= ends_on:
            staged += _ensure_period(connection, group, period, settings=settings, now=now, only_if_missing=True)
        if due_day < starts_on:
            break
        period = previous_period(period, cadence)
    return staged


def _ensure_period(
    connection: Connection,
    group: Any,
    period: str,
    *,
    settings: MeetingsSettings,
    now: datetime,
    only_if_missing: bool = False,
    new_only_if_ahead: bool = False,
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
        # Only the transaction that changes the row stages the event: another process may have
        # corrected the same due time a moment ago (PostgreSQL re-checks the condition after waiting).
        changed = connection.execute(
            update(db.scheduled_meetings)
            .where(
                db.scheduled_meetings.c.group_id == group["id"],
                db.scheduled_meetings.c.period == period,
                db.scheduled_meetings.c.due_at != due,
            )
            .values(due_at=due)
        )
        if changed.rowcount == 0:
            return 0
    else:
        if new_only_if_ahead and due <= now:
            return 0  # due before Pantau knew the group's schedule, and no evidence yet that it was due
        if not _insert_if_absent(connection, group_id=group["id"], period=period, due=due):
            return 0  # another process scheduled this period first: its event is the one
    envelope = serde.envelope_for(
        scheduled_event(group, period, due=due, time_zone=time_zone), source=settings.source, time=now
    )
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.MEETINGS_EVENTS)
    return 1


def scheduled_event(group: Any, period: str, *, due: datetime, time_zone: str) -> MeetingScheduled:
    """`meeting_scheduled` of one group's period."""
    return MeetingScheduled(
        group_id=group["id"],
        programme=group["programme"],
        facilitator_id=group["facilitator_id"],
        region_code=group["region_code"],
        period=period,
        due_at=due,
        time_zone=time_zone,
    )


def _insert_if_absent(connection: Connection, *, group_id: str, period: str, due: datetime) -> bool:
    """Insert one scheduled period unless it exists; True if this transaction inserted it. Two
    processes scheduling the same period (a report and the scheduler, or two reports) never both
    succeed, and the loser neither fails nor stages a second event."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(db.scheduled_meetings)
        .values(group_id=group_id, period=period, due_at=due)
        .on_conflict_do_nothing(index_elements=["group_id", "period"])
        .returning(db.scheduled_meetings.c.group_id)
    )
    # RETURNING, not rowcount: a row comes back only when this statement inserted it, on every driver.
    return connection.execute(statement).first() is not None


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
        lease: Lease | None = None,
    ) -> None:
        self._engine = engine
        self._lease = lease
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
        if self._lease is not None:
            self._lease.release()

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
            # One process rolls the schedules forward; the others try again next round, so one takes
            # over within an interval when the holder dies.
            if self._lease is not None and not self._lease.held():
                self._stopping.wait(min(self._interval, STANDBY_RETRY_SECONDS))
                continue
            try:
                self.run_once()
            except Exception:  # scheduling must survive a bad moment of the store
                log.exception("scheduling round failed; retrying next round")
            self._stopping.wait(self._interval)
