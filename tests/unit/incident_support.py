"""Builders for the incident lifecycle's unit tests: a desk, items, chains and a driver that
applies events at given minutes and collects the changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.notifications.incidents import (
    Change,
    Desk,
    Event,
    Fact,
    Item,
    Kind,
    Message,
    Opened,
    Recipient,
    Severity,
    Timing,
    run_due,
    step,
)

T0 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 09.00 WIB on a Tuesday
FACILITATOR = "PDP-0001"
CHAIN = (
    Recipient("kabupaten", "SUP-1871", "Asia/Jakarta"),
    Recipient("provinsi", "SUP-18", "Asia/Jakarta"),
    Recipient("nasional", "SUP-ID", "Asia/Jakarta"),
)
TIMING = Timing(
    group_wait=timedelta(minutes=5),
    group_interval=timedelta(hours=4),
    ack_deadlines={"critical": timedelta(hours=2), "warning": timedelta(hours=24)},
)


def at(minutes: float) -> datetime:
    """T0 plus minutes."""
    return T0 + timedelta(minutes=minutes)


def opened(
    deviation_id: str,
    *,
    rule: str = "meeting.facilitator_absent",
    severity: Severity = "warning",
    group_id: str = "GRP-1",
    kind: Kind = "group",
    minutes: float = 0,
) -> Opened:
    """A deviation opening for a group (or, with kind="facilitator", about the facilitator)."""
    return Opened(Item(deviation_id, rule, severity, group_id, at(minutes)), kind, CHAIN)


def signal(deviation_id: str = "dev-many", *, minutes: float = 0) -> Opened:
    """The facilitator-level signal that inhibits group symptoms."""
    return opened(deviation_id, rule="facilitator.many_groups_deviating", kind="facilitator", minutes=minutes)


@dataclass
class Run:
    """A desk driven through events; keeps every change."""

    timing: Timing = TIMING
    desk: Desk = field(default_factory=lambda: Desk(FACILITATOR))
    changes: list[Change] = field(default_factory=list)

    def send(self, event: Event, minutes: float) -> Run:
        """Apply one event at T0 + minutes (then whatever came due)."""
        result = step(self.desk, event, at(minutes), self.timing)
        self.desk = result.desk
        self.changes.extend(result.changes)
        return self.tick(minutes)

    def tick(self, minutes: float) -> Run:
        """Let time reach T0 + minutes."""
        result = run_due(self.desk, at(minutes), self.timing)
        self.desk = result.desk
        self.changes.extend(result.changes)
        return self

    def walk(self, until_minutes: float, every_minutes: float = 1) -> Run:
        """Tick every minute (or `every_minutes`) up to `until_minutes`."""
        minute = 0.0
        while minute <= until_minutes:
            self.tick(minute)
            minute += every_minutes
        return self

    @property
    def messages(self) -> list[Message]:
        """Messages so far."""
        return [change for change in self.changes if isinstance(change, Message)]

    @property
    def facts(self) -> list[Fact]:
        """Facts so far."""
        return [change for change in self.changes if isinstance(change, Fact)]

    def kinds(self) -> list[tuple[str, str]]:
        """(message kind, supervisor) in order."""
        return [(message.kind, message.supervisor_id) for message in self.messages]


def play(events: Iterable[tuple[float, Event]], *, timing: Timing = TIMING, until: float | None = None) -> Run:
    """Apply timed events in order, ticking to `until` at the end."""
    run = Run(timing=timing)
    last = 0.0
    for minutes, event in events:
        run.send(event, minutes)
        last = max(last, minutes)
    run.tick(until if until is not None else last)
    return run
