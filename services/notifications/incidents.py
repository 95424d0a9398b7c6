"""The incident lifecycle (pure): deviations become incidents a supervisor hears about once.

A supervisor who gets one message per deviation mutes the channel, and then the early warning
reaches nobody. So deviations are grouped, as Alertmanager and PagerDuty group alerts:

- **One incident per group** (the group's symptoms) and, separately, **one per facilitator** (the
  deviations that concern the facilitator). Every deviation is an *item* of exactly one incident.
- **group_wait**: a new incident waits a few minutes before its first message, so the deviations
  one sync brings arrive together — and one opened and resolved inside the wait sends nothing.
- **group_interval**: once told, the supervisor hears again only when the incident's worst severity
  rises (at most once per interval) or when it escalates; new items of the same or a lower severity
  join silently (the console shows them).
- **Inhibition**: while a facilitator-level signal is open (`facilitator.many_groups_deviating`,
  devices silent), that facilitator's group symptoms become items of the facilitator's incident,
  not messages of their own; incidents still waiting for their first message are folded in.
- **Escalation**: an unacknowledged incident climbs its chain (kabupaten → provinsi → nasional)
  after the acknowledgement deadline of its severity, counted from when the message could first
  reach the supervisor (quiet hours); acknowledging stops the climb.
- Info-only incidents are never pushed on their own (console and digest); an item of warning or
  above makes them news.

`step(desk, event, now, timing)` is the whole lifecycle: a `Desk` (every live incident of one
facilitator — inhibition crosses groups, so this is the unit of consistency) and one event or tick
give the next desk and the `Change`s: messages to deliver and facts to publish. No I/O, no clock:
the shell (`incident_shell.py`) loads the desk, calls `step`, stores the result and acts on the
changes in one transaction. Ids are derived, so replaying an event changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

Severity = Literal["info", "warning", "critical"]
Kind = Literal["group", "facilitator"]
Status = Literal["pending", "open", "acknowledged", "resolved", "closed"]
MessageKind = Literal["opened", "updated", "escalated", "resolved"]
FactKind = Literal["opened", "acknowledged", "escalated", "resolved", "dismissed", "snoozed", "closed"]

SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}
INHIBITING_RULES = frozenset({"facilitator.many_groups_deviating", "facilitator.devices_silent"})
CLOSED_MEMORY = 512
_NAMESPACE = uuid.UUID("5d7f1f0e-2a8b-4b8e-9a51-0b7c6e3f4a21")


def _at_once(severity: str, time_zone: str, now: datetime) -> datetime:
    return now


@dataclass(frozen=True, slots=True)
class Timing:
    """When things happen. `release(severity, time_zone, now)` is when a message may first reach a
    supervisor (the working calendar's quiet hours; at once by default); deadlines start there."""

    group_wait: timedelta = timedelta(minutes=5)
    group_interval: timedelta = timedelta(hours=4)
    ack_deadlines: Mapping[str, timedelta] = field(
        default_factory=lambda: {"critical": timedelta(hours=2), "warning": timedelta(hours=24)}
    )
    # "group": one incident per group plus one per facilitator for what concerns the facilitator
    # (the contract's default); "facilitator": every symptom of a facilitator's groups in one
    # incident — for districts where a supervisor follows facilitators, not groups.
    group_by: Kind = "group"
    push_from: Severity = "warning"
    send_resolved: bool = True
    inhibiting_rules: frozenset[str] = INHIBITING_RULES
    release: Callable[[str, str, datetime], datetime] = _at_once

    def deadline(self, severity: str) -> timedelta | None:
        """The acknowledgement deadline of a severity; None = never climbs."""
        value = self.ack_deadlines.get(severity)
        return value if value is not None and value > timedelta(0) else None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One rung of an escalation chain: who hears at that level, and their time zone. Several
    supervisors of one level and region all hear (`others`); `supervisor_id` is the primary."""

    level: str
    supervisor_id: str
    time_zone: str
    others: tuple[str, ...] = ()

    @property
    def supervisor_ids(self) -> tuple[str, ...]:
        """Everyone on this rung, the primary first."""
        return (self.supervisor_id, *self.others)


@dataclass(frozen=True, slots=True)
class Item:
    """A deviation as an item of an incident."""

    deviation_id: str
    rule: str
    severity: Severity
    group_id: str
    opened_at: datetime
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class Incident:
    """What one supervisor chain hears about one group (or one facilitator)."""

    incident_id: str
    kind: Kind
    subject_id: str  # the group id, or the facilitator id
    chain: tuple[Recipient, ...]
    items: tuple[Item, ...]
    opened_at: datetime
    status: Status = "pending"
    level: int = 0  # index in `chain` of who has it now
    notify_at: datetime | None = None  # pending: when the first message may go (end of group_wait)
    update_at: datetime | None = None  # open: a severity rise waits for the group_interval
    escalate_at: datetime | None = None
    notified_severity: Severity | None = None  # what the last message said; None = never told
    notified_at: datetime | None = None
    messages: int = 0  # messages sent so far (numbers the next one: derived ids)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    note: str | None = None
    resolved_at: datetime | None = None
    snoozed_until: datetime | None = None  # put aside by the supervisor: no escalation before then
    snooze_reason: str | None = None
    outcome: str | None = None  # why the supervisor closed it

    @property
    def open_items(self) -> tuple[Item, ...]:
        """Items still open."""
        return tuple(item for item in self.items if item.is_open)

    @property
    def severity(self) -> Severity:
        """The worst open item (the worst ever once everything is resolved)."""
        items = self.open_items or self.items
        return max((item.severity for item in items), key=lambda value: SEVERITY_RANK[value], default="info")

    @property
    def live(self) -> bool:
        """Not resolved or closed."""
        return self.status not in ("resolved", "closed")

    @property
    def inhibits(self) -> bool:
        """A facilitator-level signal is open in it: the facilitator's group symptoms join it."""
        return self.kind == "facilitator" and self.live and any(item.is_open for item in self.inhibiting_items)

    @property
    def inhibiting_items(self) -> tuple[Item, ...]:
        """Items that are facilitator-level signals."""
        return tuple(item for item in self.items if item.rule in INHIBITING_RULES)

    @property
    def recipient(self) -> Recipient:
        """Who has it now."""
        return self.chain[self.level]

    @property
    def wake_at(self) -> datetime | None:
        """The next moment a tick changes something."""
        moments = [moment for moment in (self.notify_at, self.update_at, self.escalate_at) if moment is not None]
        return min(moments) if moments else None


@dataclass(frozen=True, slots=True)
class Desk:
    """Every live incident of one facilitator."""

    facilitator_id: str
    incidents: tuple[Incident, ...] = ()
    # Deviations whose incident is over (the newest few hundred): a late redelivery of their
    # opening must not start a second incident.
    closed: tuple[str, ...] = ()

    @property
    def wake_at(self) -> datetime | None:
        """The next moment a tick changes something for this facilitator."""
        moments = [incident.wake_at for incident in self.incidents if incident.wake_at is not None]
        return min(moments) if moments else None

    def find(self, deviation_id: str) -> Incident | None:
        """The live incident holding a deviation."""
        return next(
            (incident for incident in self.incidents if any(i.deviation_id == deviation_id for i in incident.items)),
            None,
        )


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """A deviation opened; `kind` says whose incident it belongs to, `chain` who hears (routing)."""

    item: Item
    kind: Kind
    chain: tuple[Recipient, ...]


@dataclass(frozen=True, slots=True)
class Raised:
    """A deviation got worse."""

    deviation_id: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class Resolved:
    """A deviation cleared."""

    deviation_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """A supervisor took the incident in hand: escalation stops."""

    incident_id: str
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Snoozed:
    """A supervisor put the incident aside until `until`, saying why: nothing climbs before then;
    afterwards it is back in the queue and its acknowledgement deadline runs again from `until`."""

    incident_id: str
    by: str
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    """A supervisor closed the incident with an outcome: it leaves the queue, stops climbing, and
    its deviations never reopen it (a new deviation starts a new incident)."""

    incident_id: str
    by: str
    outcome: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed."""


Event = Opened | Raised | Resolved | Acknowledged | Snoozed | Closed | Tick


# -- changes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """Tell `supervisor_id` (one of the `recipient` rung) about `incident` (as it is after the step)."""

    message_key: str  # derived: the same step on the same state makes the same key
    kind: MessageKind
    incident: Incident
    recipient: Recipient
    supervisor_id: str
    previous_severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """Something to publish about an incident (opened, acknowledged, escalated, resolved, dismissed)."""

    kind: FactKind
    incident: Incident


Change = Message | Fact


@dataclass(frozen=True, slots=True)
class Step:
    """The next desk and what to do about it."""

    desk: Desk
    changes: tuple[Change, ...]


def incident_id_for(kind: Kind, subject_id: str, first_deviation_id: str) -> str:
    """Derived from what started it, so a replay opens the same incident."""
    return "inc-" + uuid.uuid5(_NAMESPACE, f"{kind}|{subject_id}|{first_deviation_id}").hex


def _rank(severity: str | None) -> int:
    return -1 if severity is None else SEVERITY_RANK[severity]


# -- the step ------------------------------------------------------------------------------------


def step(desk: Desk, event: Event, now: datetime, timing: Timing) -> Step:
    """Everything that came due before `now` (each at its own moment), then the event."""
    changes: list[Change] = []
    desk = _catch_up(desk, now, timing, changes)
    if isinstance(event, Opened):
        desk = _open(desk, event, now, timing, changes)
    elif isinstance(event, Raised):
        desk = _raise(desk, event, now, timing)
    elif isinstance(event, Resolved):
        desk = _resolve(desk, event, now, timing, changes)
    elif isinstance(event, Acknowledged):
        desk = _acknowledge(desk, event, now, changes)
    elif isinstance(event, Snoozed):
        desk = _snooze(desk, event, now, timing, changes)
    elif isinstance(event, Closed):
        desk = _close(desk, event, now, changes)
    desk = _advance(desk, now, timing, changes)
    return Step(desk, tuple(changes))


def _replace_incident(desk: Desk, incident: Incident) -> Desk:
    return replace(
        desk,
        incidents=tuple(incident if other.incident_id == incident.incident_id else other for other in desk.incidents),
    )


def _open(desk: Desk, event: Opened, now: datetime, timing: Timing, changes: list[Change]) -> Desk:
    item = event.item
    if item.deviation_id in desk.closed:
        return desk
    known = desk.find(item.deviation_id)
    if known is not None:
        # Redelivered (or re-opened with a worse severity): never a second item.
        return _raise(desk, Raised(item.deviation_id, item.severity), now, timing)
    if timing.group_by == "facilitator":
        event = replace(event, kind="facilitator")
    inhibitor = next((incident for incident in desk.incidents if incident.inhibits), None)
    if event.kind == "group" and inhibitor is not None:
        target: Incident | None = inhibitor
    else:
        target = next(
            (
                incident
                for incident in desk.incidents
                if incident.live
                and incident.kind == event.kind
                and incident.subject_id == _subject(desk, event)
                and incident.chain == event.chain  # a group in another kabupaten has its own supervisor
            ),
            None,
        )
    if target is None:
        target = Incident(
            incident_id=incident_id_for(event.kind, _subject(desk, event), item.deviation_id),
            kind=event.kind,
            subject_id=_subject(desk, event),
            chain=event.chain,
            items=(item,),
            opened_at=now,
            notify_at=now + timing.group_wait,
        )
        desk = replace(desk, incidents=(*desk.incidents, target))
        changes.append(Fact("opened", target))
    else:
        target = _with_items(target, (*target.items, item), now, timing)
        desk = _replace_incident(desk, target)
    if target.inhibits and item.rule in timing.inhibiting_rules:
        desk = _fold_pending_group_incidents(desk, target, now, timing, changes)
    return desk


def _subject(desk: Desk, event: Opened) -> str:
    return event.item.group_id if event.kind == "group" else desk.facilitator_id


def _with_items(incident: Incident, items: tuple[Item, ...], now: datetime, timing: Timing) -> Incident:
    """New items (or severities): an incident already told schedules an update if it got worse."""
    incident = replace(incident, items=items)
    pushable = _rank(incident.severity) >= _rank(timing.push_from)
    if incident.status == "pending" and incident.notify_at is None and pushable:
        # An info-only incident got a pushable item: it waits its group_wait like a new one.
        return replace(incident, notify_at=now + timing.group_wait)
    worse = _rank(incident.severity) > _rank(incident.notified_severity)
    if incident.status in ("open", "acknowledged") and worse and incident.update_at is None:
        earliest = (incident.notified_at or now) + timing.group_interval
        incident = replace(incident, update_at=max(now, earliest))
    return incident


def _fold_pending_group_incidents(
    desk: Desk, inhibitor: Incident, now: datetime, timing: Timing, changes: list[Change]
) -> Desk:
    """Group incidents nobody was told about yet become items of the facilitator's signal."""
    folded = [incident for incident in desk.incidents if incident.kind == "group" and incident.status == "pending"]
    if not folded:
        return desk
    items = inhibitor.items + tuple(item for incident in folded for item in incident.items)
    inhibitor = _with_items(inhibitor, items, now, timing)
    gone = {incident.incident_id for incident in folded}
    desk = replace(
        desk,
        incidents=tuple(
            inhibitor if incident.incident_id == inhibitor.incident_id else incident
            for incident in desk.incidents
            if incident.incident_id not in gone
        ),
    )
    changes.extend(Fact("dismissed", replace(incident, status="resolved", resolved_at=now)) for incident in folded)
    return desk


def _raise(desk: Desk, event: Raised, now: datetime, timing: Timing) -> Desk:
    incident = desk.find(event.deviation_id)
    if incident is None:
        return desk
    items = tuple(
        replace(item, severity=event.severity)
        if item.deviation_id == event.deviation_id and _rank(event.severity) > _rank(item.severity)
        else item
        for item in incident.items
    )
    if items == incident.items:
        return desk
    return _replace_incident(desk, _with_items(incident, items, now, timing))


def _resolve(desk: Desk, event: Resolved, now: datetime, timing: Timing, changes: list[Change]) -> Desk:
    incident = desk.find(event.deviation_id)
    if incident is None:
        return desk
    items = tuple(
        replace(item, resolved_at=event.at) if item.deviation_id == event.deviation_id and item.is_open else item
        for item in incident.items
    )
    incident = replace(incident, items=items)
    if incident.open_items:
        return _replace_incident(desk, incident)
    # Every item cleared: the incident is over.
    told = incident.notified_severity is not None
    closed = replace(incident, status="resolved", resolved_at=now, notify_at=None, update_at=None, escalate_at=None)
    closed_ids = (*desk.closed, *(item.deviation_id for item in incident.items))[-CLOSED_MEMORY:]
    desk = replace(
        desk,
        incidents=tuple(other for other in desk.incidents if other.incident_id != incident.incident_id),
        closed=closed_ids,
    )
    if told and timing.send_resolved:
        for level in range(closed.level + 1):
            changes.extend(_tell(closed, "resolved", closed, closed.chain[level]))
    changes.append(Fact("resolved" if told else "dismissed", closed))
    return desk


def _acknowledge(desk: Desk, event: Acknowledged, now: datetime, changes: list[Change]) -> Desk:
    incident = next((other for other in desk.incidents if other.incident_id == event.incident_id), None)
    if incident is None or incident.status in ("acknowledged", "resolved", "closed"):
        return desk
    # Seen in the console before the first message: nobody needs the message any more.
    acknowledged = replace(
        incident,
        status="acknowledged",
        acknowledged_at=now,
        acknowledged_by=event.by,
        note=event.note,
        escalate_at=None,
        notify_at=None,
        notified_severity=incident.notified_severity or incident.severity,
        notified_at=incident.notified_at or now,
    )
    changes.append(Fact("acknowledged", acknowledged))
    return _replace_incident(desk, acknowledged)


def _snooze(desk: Desk, event: Snoozed, now: datetime, timing: Timing, changes: list[Change]) -> Desk:
    incident = next((other for other in desk.incidents if other.incident_id == event.incident_id), None)
    if incident is None or not incident.live or event.until <= now:
        return desk
    # Seen in the console: a first message is no longer needed (as with an acknowledgement).
    snoozed = replace(
        incident,
        status="acknowledged" if incident.status == "acknowledged" else "open",
        notify_at=None,
        notified_severity=incident.notified_severity or incident.severity,
        notified_at=incident.notified_at or now,
        snoozed_until=event.until,
        snooze_reason=event.reason,
    )
    if snoozed.status == "open":
        deadline = timing.deadline(snoozed.severity)
        has_next = snoozed.level + 1 < len(snoozed.chain)
        snoozed = replace(snoozed, escalate_at=event.until + deadline if deadline is not None and has_next else None)
    changes.append(Fact("snoozed", snoozed))
    return _replace_incident(desk, snoozed)


def _close(desk: Desk, event: Closed, now: datetime, changes: list[Change]) -> Desk:
    incident = next((other for other in desk.incidents if other.incident_id == event.incident_id), None)
    if incident is None or not incident.live:
        return desk
    closed = replace(
        incident,
        status="closed",
        resolved_at=now,
        outcome=event.outcome,
        note=event.note or incident.note,
        acknowledged_by=incident.acknowledged_by or event.by,
        acknowledged_at=incident.acknowledged_at or now,
        notify_at=None,
        update_at=None,
        escalate_at=None,
    )
    closed_ids = (*desk.closed, *(item.deviation_id for item in incident.items))[-CLOSED_MEMORY:]
    desk = replace(
        desk,
        incidents=tuple(other for other in desk.incidents if other.incident_id != incident.incident_id),
        closed=closed_ids,
    )
    changes.append(Fact("closed", closed))
    return desk


def _advance(desk: Desk, now: datetime, timing: Timing, changes: list[Change]) -> Desk:
    for incident in desk.incidents:
        updated = _advance_one(incident, now, timing, changes)
        if updated is not incident:
            desk = _replace_incident(desk, updated)
    return desk


def _escalate_at(incident: Incident, severity: str, now: datetime, timing: Timing) -> datetime | None:
    deadline = timing.deadline(severity)
    if deadline is None or incident.level + 1 >= len(incident.chain):
        return None
    return timing.release(severity, incident.recipient.time_zone, now) + deadline


def _key(incident: Incident, kind: MessageKind, supervisor_id: str) -> str:
    return f"{incident.incident_id}|{incident.messages}|{kind}|{supervisor_id}"


def _tell(
    numbered: Incident,
    kind: MessageKind,
    incident: Incident,
    recipient: Recipient,
    previous_severity: Severity | None = None,
) -> list[Message]:
    """One message per supervisor of the rung (keys numbered by `numbered`'s count so far)."""
    return [
        Message(_key(numbered, kind, supervisor_id), kind, incident, recipient, supervisor_id, previous_severity)
        for supervisor_id in recipient.supervisor_ids
    ]


def _advance_one(incident: Incident, now: datetime, timing: Timing, changes: list[Change]) -> Incident:
    if incident.status == "pending" and incident.notify_at is not None and incident.notify_at <= now:
        severity = incident.severity
        if _rank(severity) < _rank(timing.push_from):
            # Info only: the console and the digest show it; a worse item will make it news.
            return replace(incident, notify_at=None)
        told = replace(
            incident,
            status="open",
            notify_at=None,
            notified_severity=severity,
            notified_at=now,
            escalate_at=None,
        )
        told = replace(told, escalate_at=_escalate_at(told, severity, now, timing))
        changes.extend(_tell(incident, "opened", told, told.recipient))
        return replace(told, messages=incident.messages + 1)
    if incident.update_at is not None and incident.update_at <= now:
        previous = incident.notified_severity
        severity = incident.severity
        if _rank(severity) <= _rank(previous):
            return replace(incident, update_at=None)
        told = replace(incident, update_at=None, notified_severity=severity, notified_at=now)
        if told.status == "open":
            deadline = _escalate_at(told, severity, now, timing)
            current = told.escalate_at
            if deadline is not None and (current is None or deadline < current):
                told = replace(told, escalate_at=deadline)
        for level in range(told.level + 1):
            changes.extend(_tell(incident, "updated", told, told.chain[level], previous))
        return replace(told, messages=incident.messages + 1)
    if incident.status == "open" and incident.escalate_at is not None and incident.escalate_at <= now:
        if incident.level + 1 >= len(incident.chain):
            return replace(incident, escalate_at=None)
        climbed = replace(incident, level=incident.level + 1)
        climbed = replace(climbed, escalate_at=_escalate_at(climbed, climbed.severity, now, timing))
        changes.extend(_tell(incident, "escalated", climbed, climbed.recipient))
        changes.append(Fact("escalated", climbed))
        return replace(climbed, messages=incident.messages + 1)
    return incident


def run_due(desk: Desk, now: datetime, timing: Timing) -> Step:
    """Everything due up to `now`: a tick."""
    changes: list[Change] = []
    desk = _catch_up(desk, now, timing, changes)
    return Step(desk, tuple(changes))


def _catch_up(desk: Desk, now: datetime, timing: Timing, changes: list[Change]) -> Desk:
    """Each due moment at its own time, so a scheduler that wakes late (or a replay) sends the same
    messages and keeps the same deadlines as one that was never late."""
    while (due := desk.wake_at) is not None and due <= now:
        desk = _advance(desk, due, timing, changes)
    return desk
