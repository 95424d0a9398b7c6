"""The monitoring agent's batch step (`services/monitoring/agents.py`) with the broker and the table
replaced by in-memory stand-ins: what a worker that takes over after a `kill -9` decides from a tick
the killed worker handed out for records whose states it never stored.

The fault suite (`tests/faults/`) shows the race on a real broker, but only now and then; here it
is forced: the survivor reads the tick before the records the tick was handed out after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from services.monitoring.agents import Agents
from services.monitoring.clock import RuleClock
from services.monitoring.metrics import MonitoringMetrics
from services.monitoring.rules import activities
from services.monitoring.settings import MonitoringSettings
from services.monitoring.stored_state import stored_schedule
from services.monitoring.wake_index import WakeIndex
from shared import serde, topics
from shared.events.base import EventData
from tests.unit.test_monitoring_support import (
    GROUP,
    PROGRAMMES,
    activity,
    plan,
    progress,
    scheduled,
    synced,
    utc,
)

pytestmark = pytest.mark.unit

MEETINGS, PLANS = topics.MEETINGS_EVENTS, topics.PLANS_EVENTS
TICKS, SIGNALS, DEVIATIONS = "m-ticks", "m-facilitator-signals", "m-deviations"
PARTITION = 3
AGREED = utc(2026, 1, 1, 2)
DONE_AT = utc(2026, 3, 20, 5)  # A-1 done, well before its due day ends
SYNCED_AT = utc(2026, 4, 2, 3)  # the phone synced past the due day (31 March): A-2 is known late
GRACE_ENDS = utc(2026, 4, 7, 17)  # 7 days after the due day ends: late, whether or not a phone synced
WEEK_ON = utc(2026, 4, 8, 3)
LATER = SYNCED_AT + timedelta(minutes=1)  # past the 30 s a sync is given for a report sent just before it


@dataclass(eq=False)
class Message:
    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    acked: bool = False


@dataclass(eq=False)
class Event:
    key: bytes
    value: bytes
    message: Message


class Table(dict[str, Any]):
    """A Faust table as the agent uses it: get, set (`shared.faust_app.write_row`), wait for the
    changelog."""

    @property
    def data(self) -> dict[str, Any]:
        return self

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        self.changelog.append((partition, key, value))

    def _sensor_on_set(self, table: Any, key: str, value: Any) -> None:
        return None

    @property
    def changelog(self) -> list[tuple[int, str, Any]]:
        return self.__dict__.setdefault("_changelog", [])

    async def changelog_sent(self) -> None:
        return None

    async def changelog_delivered(self) -> None:
        return None


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes, *_: Any) -> Any:
        self.sent.append((topic, value))

        async def acknowledged() -> None:
            return None

        return acknowledged()


@dataclass
class App:
    producer: Producer = field(default_factory=Producer)
    consumer: object = field(default_factory=object)  # not the offset guard: no rebalance here


class Log:
    """Per topic: the records written so far, and how far a worker has read (the committed position
    for a worker that starts over)."""

    def __init__(self) -> None:
        self.records: dict[str, list[Event]] = {MEETINGS: [], PLANS: []}
        self.read: dict[str, int] = {MEETINGS: 0, PLANS: 0}

    def append(self, topic: str, fact: EventData, at: datetime) -> Event:
        envelope = serde.envelope_for(fact, source="/pantau/test", time=at, received_at=at)
        records = self.records[topic]
        event = Event(fact.kafka_key().encode(), serde.encode(envelope), Message(topic, PARTITION, len(records)))
        records.append(event)
        return event

    def caught_up(self, topic: str, partition: int, last_offset: int | None) -> bool:
        end = len(self.records[topic])
        return (self.read[topic] if last_offset is None else last_offset + 1) >= end


def worker(table: Table, log: Log) -> tuple[Agents, App, RuleClock]:
    settings = MonitoringSettings(clock="event")
    app = App()
    clock = RuleClock("event", sources=[MEETINGS, PLANS], caught_up=log.caught_up)
    agents = Agents(
        app=app,  # type: ignore[arg-type]
        settings=settings,
        programmes=PROGRAMMES,
        metrics=MonitoringMetrics(CollectorRegistry()),
        clock=clock,
        wake=WakeIndex(),
        group_state=table,
        facilitator_state=Table(),
        source_names={MEETINGS: MEETINGS, PLANS: PLANS},
        ticks_name=TICKS,
        signals_name=SIGNALS,
        deviations_name=DEVIATIONS,
        dead_letters_name="m-dlq",
    )
    return agents, app, clock


def tick(at: datetime, offset: int) -> Event:
    return Event(GROUP.encode(), orjson.dumps({"at": at.isoformat()}), Message(TICKS, PARTITION, offset))


def opened(app: App, rule: str) -> list[str]:
    found = []
    for topic, value in app.producer.sent:
        data = orjson.loads(value)
        if topic == DEVIATIONS and data["type"].endswith("deviation_opened.v1") and data["data"]["rule"] == rule:
            found.append(data["data"]["occurrence"])
    return found


async def read(agents: Agents, log: Log, *events: Event) -> None:
    for event in events:
        if event.message.topic in log.read:
            log.read[event.message.topic] = max(log.read[event.message.topic], event.message.offset + 1)
    await agents.process_groups(list(events))


async def test_a_tick_read_again_before_the_records_it_came_after_waits_for_them() -> None:
    log, table = Log(), Table()
    first = [
        log.append(MEETINGS, scheduled("2026-01"), AGREED),
        log.append(PLANS, plan(activity("A-1", date(2026, 3, 31)), activity("A-2", date(2026, 3, 31))), AGREED),
    ]
    killed, _, killed_clock = worker(table, log)
    await read(killed, log, *first)  # stored, and (say) committed
    committed = dict(log.read)

    # The killed worker then read A-1's progress, the phone's sync and another group's news a week
    # on, handed out the group's wake-up (the end of the offline grace) on the clock they moved (the
    # timer runs while a batch waits for the broker), and died before storing any of it.
    late = [
        log.append(PLANS, progress("pr-1", "A-1", DONE_AT, status="done"), DONE_AT),
        log.append(MEETINGS, synced(utc(2026, 4, 1), received_at=SYNCED_AT), SYNCED_AT),
        log.append(MEETINGS, synced(WEEK_ON, received_at=WEEK_ON, group_id="G-2"), WEEK_ON),
    ]
    for event in late:
        killed_clock.observe(WEEK_ON, PARTITION, event.message.topic, event.message.offset)
    assert killed_clock.now(PARTITION) >= GRACE_ENDS

    # The survivor rebuilds from the changelog (the table) and reads from the committed positions;
    # the timer restores the partition's clock from the stored states.
    log.read = committed
    survivor, app, clock = worker(table, log)
    schedule = stored_schedule(table[GROUP])
    assert schedule is not None
    assert schedule[2] is not None
    clock.restore(PARTITION, schedule[2])
    await read(survivor, log, tick(GRACE_ENDS, 0))
    assert opened(app, activities.OVERDUE) == [], "judged A-1 before its progress was read again"

    await read(survivor, log, *late)
    await read(survivor, log, tick(GRACE_ENDS, 1))
    # A-2 really is late, and the survivor says so; A-1 was done in time, and it never says otherwise.
    assert opened(app, activities.OVERDUE) == ["A-2"]


async def test_every_source_caught_up_lets_the_stored_clock_count() -> None:
    # Nothing new after the restart: the partition's clock starts from the stored states, so a tick
    # for a due instant already past still opens what is late.
    log, table = Log(), Table()
    events = [
        log.append(MEETINGS, scheduled("2026-01"), AGREED),
        log.append(PLANS, plan(activity("A-2", date(2026, 3, 31))), AGREED),
        log.append(MEETINGS, synced(utc(2026, 4, 1), received_at=SYNCED_AT), SYNCED_AT),
        # another group's news a minute later: the partition's clock reached it before the restart
        log.append(MEETINGS, scheduled("2026-01", group_id="G-2"), AGREED),
        log.append(MEETINGS, synced(LATER, received_at=LATER, group_id="G-2"), LATER),
    ]
    first, _, _ = worker(table, log)
    await read(first, log, *events)
    survivor, app, clock = worker(table, log)
    for stored in table.values():  # as the timer does after a rebalance
        schedule = stored_schedule(stored)
        if schedule is not None and schedule[2] is not None:
            clock.restore(PARTITION, schedule[2])
    await read(survivor, log, tick(LATER, 0))
    assert opened(app, activities.OVERDUE) == ["A-2"]
