"""The thin shell around the incident lifecycle (`incidents.py`): load a facilitator's desk from the
store, call `incidents.step`, save the new desk and act on the changes — messages become delivery
rows on the supervisor's channels (signed webhooks, e-mail; the same `webhook-id` on every retry,
quiet hours through the release time), facts become rows of `incidents` and alert events in the
outbox — all in the caller's transaction, so a crash re-applies the whole step or none of it.

The per-deviation alert rows (`alerts.py`) stay: they are the items' texts, the console's cards and
what `POST /alerts/{id}/ack` finds. With incidents on, they are not pushed on their own and do not
climb: the incident does both.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.notifications import outbox, store
from services.notifications.calendar import supervisor_time_zone
from services.notifications.delivery_queue import queue
from services.notifications.incidents import (
    Acknowledged,
    Change,
    Closed,
    Desk,
    Event,
    Fact,
    Incident,
    Item,
    Message,
    Opened,
    Raised,
    Recipient,
    Resolved,
    Severity,
    Snoozed,
    Timing,
    run_due,
    step,
)
from services.notifications.messages import render_incident
from services.notifications.projection import routing_region, supervisors_by_scope
from services.notifications.routing import LEVELS, Level, region_for_level, route
from services.notifications.settings import NotificationsSettings
from services.notifications.timing import Policy
from shared.events import AlertAcknowledged, AlertEscalated, DeviationEscalated, DeviationOpened, DeviationResolved

log = logging.getLogger(__name__)


def timing_for(settings: NotificationsSettings, policy: Policy | None = None) -> Timing:
    """The lifecycle's timing from the settings; with a policy, quiet hours move the deadlines."""
    calendar = policy.calendar if policy is not None else None

    def release(severity: str, time_zone: str, now: datetime) -> datetime:
        if calendar is None or severity == "critical":
            return now
        return calendar.next_working_moment(now, time_zone)

    deadlines = {
        severity: timedelta(seconds=settings.ack_deadline_seconds(severity))
        for severity in ("info", "warning", "critical")
    }
    return Timing(
        group_wait=timedelta(seconds=settings.incident_group_wait_seconds),
        group_interval=timedelta(seconds=settings.incident_group_interval_seconds),
        ack_deadlines=deadlines,
        group_by=settings.incident_group_by,
        send_resolved=settings.incident_send_resolved,
        release=release,
    )


# -- the desk as JSON ------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _item_json(item: Item) -> dict[str, Any]:
    return {
        "deviation_id": item.deviation_id,
        "rule": item.rule,
        "severity": item.severity,
        "group_id": item.group_id,
        "opened_at": _iso(item.opened_at),
        "resolved_at": _iso(item.resolved_at),
    }


def _item(data: dict[str, Any]) -> Item:
    opened = _moment(data["opened_at"])
    assert opened is not None
    return Item(
        data["deviation_id"], data["rule"], data["severity"], data["group_id"], opened, _moment(data["resolved_at"])
    )


_MOMENTS = (
    "opened_at",
    "notify_at",
    "update_at",
    "escalate_at",
    "notified_at",
    "acknowledged_at",
    "resolved_at",
    "snoozed_until",
)


def desk_to_json(desk: Desk) -> dict[str, Any]:
    """The desk as stored."""
    incidents = []
    for incident in desk.incidents:
        incidents.append(
            {
                "incident_id": incident.incident_id,
                "kind": incident.kind,
                "subject_id": incident.subject_id,
                "chain": [[r.level, r.supervisor_id, r.time_zone, list(r.others)] for r in incident.chain],
                "items": [_item_json(item) for item in incident.items],
                "status": incident.status,
                "level": incident.level,
                "notified_severity": incident.notified_severity,
                "messages": incident.messages,
                "acknowledged_by": incident.acknowledged_by,
                "note": incident.note,
                "snooze_reason": incident.snooze_reason,
                "outcome": incident.outcome,
                **{name: _iso(getattr(incident, name)) for name in _MOMENTS},
            }
        )
    return {"facilitator_id": desk.facilitator_id, "incidents": incidents, "closed": list(desk.closed)}


def _rung(raw: list[Any]) -> Recipient:
    # Desks stored before several supervisors per rung have no fourth element.
    level, supervisor_id, time_zone, *others = raw
    return Recipient(level, supervisor_id, time_zone, tuple(others[0]) if others else ())


def desk_from_json(data: dict[str, Any]) -> Desk:
    """The stored desk as a value."""
    incidents = []
    for raw in data["incidents"]:
        moments = {name: _moment(raw.get(name)) for name in _MOMENTS}
        opened_at = moments.pop("opened_at")
        assert opened_at is not None
        incidents.append(
            Incident(
                incident_id=raw["incident_id"],
                kind=raw["kind"],
                subject_id=raw["subject_id"],
                chain=tuple(_rung(rung) for rung in raw["chain"]),
                items=tuple(_item(item) for item in raw["items"]),
                opened_at=opened_at,
                status=raw["status"],
                level=raw["level"],
                notified_severity=raw["notified_severity"],
                messages=raw["messages"],
                acknowledged_by=raw["acknowledged_by"],
                note=raw["note"],
                snooze_reason=raw.get("snooze_reason"),
                outcome=raw.get("outcome"),
                **moments,
            )
        )
    return Desk(data["facilitator_id"], tuple(incidents), tuple(data.get("closed", ())))


def load_desk(connection: Connection, facilitator_id: str) -> Desk:
    """A facilitator's desk (empty the first time)."""
    row = connection.execute(
        select(store.incident_desks.c.state).where(store.incident_desks.c.facilitator_id == facilitator_id)
    ).first()
    return desk_from_json(row.state) if row is not None else Desk(facilitator_id)


def _save_desk(connection: Connection, desk: Desk, now: datetime) -> None:
    values = {"state": desk_to_json(desk), "wake_at": desk.wake_at, "updated_at": now}
    changed = connection.execute(
        update(store.incident_desks).where(store.incident_desks.c.facilitator_id == desk.facilitator_id).values(values)
    ).rowcount
    if not changed:
        connection.execute(insert(store.incident_desks).values(facilitator_id=desk.facilitator_id, **values))


# -- intake ----------------------------------------------------------------------------------------


def _chain(connection: Connection, region_code: str) -> tuple[Recipient, ...]:
    scopes = supervisors_by_scope(connection)
    chain: list[Recipient] = []
    level: Level | None = "kabupaten"
    while level is not None:
        chosen = route(region_code, scopes, from_level=level)
        if chosen is None:
            break
        zone = supervisor_time_zone(region_for_level(region_code, chosen.level))
        chain.append(Recipient(chosen.level, chosen.supervisor_id, zone, chosen.others))
        above = LEVELS.index(chosen.level) + 1
        level = LEVELS[above] if above < len(LEVELS) else None
    return tuple(chain)


def on_opened(connection: Connection, opened: DeviationOpened, *, policy: Policy, now: datetime) -> int:
    """A routed deviation joins its incident; returns the messages queued."""
    chain = _chain(connection, routing_region(connection, opened))
    if not chain:
        return 0
    item = Item(opened.deviation_id, opened.rule, opened.severity, opened.group_id, opened.detected_at)
    return apply(connection, opened.facilitator_id, Opened(item, opened.concerns, chain), policy=policy, now=now)


def on_escalated(connection: Connection, escalated: DeviationEscalated, *, policy: Policy, now: datetime) -> int:
    """A deviation got worse."""
    severity: Severity = escalated.severity
    return apply(connection, escalated.facilitator_id, Raised(escalated.deviation_id, severity), policy=policy, now=now)


def on_resolved(connection: Connection, resolved: DeviationResolved, *, policy: Policy, now: datetime) -> int:
    """A deviation cleared."""
    event = Resolved(resolved.deviation_id, resolved.resolved_at)
    return apply(connection, resolved.facilitator_id, event, policy=policy, now=now)


def acknowledge(
    connection: Connection, incident_id: str, *, by: str, note: str | None, policy: Policy, now: datetime
) -> bool:
    """A supervisor took the incident in hand; True the first time."""
    row = connection.execute(select(store.incidents).where(store.incidents.c.incident_id == incident_id)).first()
    if row is None or row.status not in ("pending", "open"):
        return False
    apply(connection, row.facilitator_id, Acknowledged(incident_id, by, note), policy=policy, now=now)
    return True


def snooze(
    connection: Connection, incident_id: str, *, by: str, until: datetime, reason: str, policy: Policy, now: datetime
) -> bool:
    """Put a live incident aside until `until`; True if it was live."""
    row = connection.execute(select(store.incidents).where(store.incidents.c.incident_id == incident_id)).first()
    if row is None or row.status not in ("pending", "open", "acknowledged"):
        return False
    apply(connection, row.facilitator_id, Snoozed(incident_id, by, until, reason), policy=policy, now=now)
    return True


def close(
    connection: Connection, incident_id: str, *, by: str, outcome: str, note: str | None, policy: Policy, now: datetime
) -> bool:
    """Close a live incident with an outcome; True the first time."""
    row = connection.execute(select(store.incidents).where(store.incidents.c.incident_id == incident_id)).first()
    if row is None or row.status not in ("pending", "open", "acknowledged"):
        return False
    apply(connection, row.facilitator_id, Closed(incident_id, by, outcome, note), policy=policy, now=now)
    return True


def incident_of(connection: Connection, deviation_id: str, facilitator_id: str | None) -> str | None:
    """The live incident holding a deviation."""
    if facilitator_id is None:
        return None
    incident = load_desk(connection, facilitator_id).find(deviation_id)
    return incident.incident_id if incident is not None else None


def tick_due(connection: Connection, *, policy: Policy, now: datetime, limit: int = 500) -> int:
    """Every desk with something due: group_wait over, an update, an escalation. Returns messages queued."""
    due = connection.execute(
        select(store.incident_desks.c.facilitator_id)
        .where(store.incident_desks.c.wake_at <= now)
        .order_by(store.incident_desks.c.wake_at)
        .limit(limit)
    ).all()
    timing = timing_for(policy.settings, policy)
    queued = 0
    for row in due:
        before = load_desk(connection, row.facilitator_id)
        result = run_due(before, now, timing)
        _save_desk(connection, result.desk, now)
        queued += _act(connection, result.changes, policy=policy, now=now)
        _sync_rows(connection, before, result.desk, now)
    return queued


def apply(connection: Connection, facilitator_id: str, event: Event, *, policy: Policy, now: datetime) -> int:
    """One event through the lifecycle; returns the messages queued (none with incidents off)."""
    if not policy.settings.incidents_enabled:
        return 0
    before = load_desk(connection, facilitator_id)
    result = step(before, event, now, timing_for(policy.settings, policy))
    _save_desk(connection, result.desk, now)
    queued = _act(connection, result.changes, policy=policy, now=now)
    _sync_rows(connection, before, result.desk, now)
    return queued


# -- acting on changes -----------------------------------------------------------------------------


def _lead(incident: Incident) -> Item:
    """The item a message leads with: the worst open one, the newest among equals."""
    items = incident.open_items or incident.items
    return max(items, key=lambda item: ({"info": 0, "warning": 1, "critical": 2}[item.severity], item.opened_at))


def _alert_row(connection: Connection, deviation_id: str) -> Any:
    return (
        connection.execute(
            select(store.alerts).where(store.alerts.c.deviation_id == deviation_id).order_by(store.alerts.c.created_at)
        )
        .mappings()
        .first()
    )


def _act(connection: Connection, changes: tuple[Change, ...], *, policy: Policy, now: datetime) -> int:
    queued = 0
    for change in changes:
        if isinstance(change, Message):
            queued += _deliver(connection, change, policy=policy, now=now)
        else:
            _record(connection, change, policy=policy, now=now)
    return queued


def _body(
    connection: Connection, incident: Incident, kind: str, recipient: Recipient, policy: Policy
) -> dict[str, Any]:
    """The contract's webhook body (§5) for the incident, led by its worst item, with the items."""
    lead = _lead(incident)
    alert = _alert_row(connection, lead.deviation_id)
    payload: dict[str, Any] = dict(alert["payload"]) if alert is not None else {}
    # "N kelompok perlu perhatian" counts what the message is about: the open items at the incident's
    # pushed severities, not the info items beside them (a month of late reports is not N groups' news).
    pushable = [item for item in incident.open_items if item.severity != "info"]
    counted = set(pushable or incident.open_items)
    items = []
    groups: dict[str, str] = {}
    for item in incident.items:
        row = alert if item.deviation_id == lead.deviation_id else _alert_row(connection, item.deviation_id)
        item_payload = row["payload"] if row is not None else {}
        group = item_payload.get("group") or {"id": item.group_id, "name": item.group_id}
        if item in counted:
            groups.setdefault(group["id"], group["name"])
        items.append(
            {
                "deviation_id": item.deviation_id,
                "alert_id": row["alert_id"] if row is not None else None,
                "rule": item.rule,
                "severity": item.severity,
                "group": group,
                "opened_at": _iso(item.opened_at),
                "resolved_at": _iso(item.resolved_at),
                "message": item_payload.get("message"),
            }
        )
    facilitator = payload.get("facilitator") or {"id": incident.subject_id, "name": incident.subject_id}
    message = render_incident(
        kind=kind,
        severity=incident.severity,
        facilitator_name=facilitator["name"],
        lead=payload.get("message") or {},
        open_items=len(counted),
        group_names=list(groups.values()),
        about_facilitator=incident.kind == "facilitator",
    )
    return {
        **payload,
        "type": f"alert.{kind}",
        "alert_id": incident.incident_id,
        "incident_id": incident.incident_id,
        "deviation_id": lead.deviation_id,
        "rule": lead.rule,
        "severity": incident.severity,
        "escalation_level": recipient.level,
        "supervisor_id": recipient.supervisor_id,
        "detected_at": _iso(incident.opened_at),
        "message": message,
        "ack_url": f"{policy.settings.public_base_url.rstrip('/')}/api/v1/alerts/{incident.incident_id}/ack",
        "incident": {
            "id": incident.incident_id,
            "kind": incident.kind,
            "subject_id": incident.subject_id,
            "status": incident.status,
            "open_items": len(incident.open_items),
            "items": items,
        },
    }


def _deliver(connection: Connection, message: Message, *, policy: Policy, now: datetime) -> int:
    supervisor = (
        connection.execute(select(store.supervisors).where(store.supervisors.c.id == message.supervisor_id))
        .mappings()
        .first()
    )
    if supervisor is None:
        return 0
    body = _body(connection, message.incident, message.kind, message.recipient, policy)
    body["supervisor_id"] = message.supervisor_id
    if message.previous_severity is not None:
        body["previous_severity"] = message.previous_severity
    if message.kind == "escalated":
        below = message.incident.chain[message.incident.level - 1]
        body["from_supervisor_id"] = below.supervisor_id
    # The message key numbers the incident's messages: the same step gives the same `webhook-id`.
    queue(
        connection,
        alert_id=message.incident.incident_id,
        kind=f"alert.{message.kind}:{message.message_key}",
        body=body,
        supervisor=supervisor,
        now=now,
        deliver_at=policy.release_at(message.incident.severity, supervisor, now),
        policy=policy,
        feed=False,
        incident=True,
    )
    log.info(
        "incident %s: %s (%s, %d item(s)) for %s",
        message.incident.incident_id,
        message.kind,
        message.incident.severity,
        len(message.incident.items),
        message.supervisor_id,
    )
    return 1


def _sync_rows(connection: Connection, before: Desk, after: Desk, now: datetime) -> None:
    """Keep each changed incident's row as the desk has it (new items, severity, status)."""
    previous = {incident.incident_id: incident for incident in before.incidents}
    for incident in after.incidents:
        if previous.get(incident.incident_id) != incident:
            _upsert_row(connection, incident, incident.status, now)


def _record(connection: Connection, fact: Fact, *, policy: Policy, now: datetime) -> None:
    incident = fact.incident
    lead = _lead(incident)
    alert = _alert_row(connection, lead.deviation_id)
    _upsert_row(connection, incident, "dismissed" if fact.kind == "dismissed" else incident.status, now)
    common = {
        "alert_id": incident.incident_id,
        "deviation_id": lead.deviation_id,
        "supervisor_id": incident.recipient.supervisor_id,
        "group_id": lead.group_id or (alert["group_id"] if alert is not None else incident.subject_id),
        "rule": lead.rule,
        "severity": incident.severity,
        "escalation_level": incident.recipient.level,
    }
    _publish(connection, fact, common, policy=policy, now=now)
    log.info("incident %s %s (%d item(s))", incident.incident_id, fact.kind, len(incident.items))


def _upsert_row(connection: Connection, incident: Incident, status: str, now: datetime) -> None:
    lead = _lead(incident)
    alert = _alert_row(connection, lead.deviation_id)
    values: dict[str, Any] = {
        "facilitator_id": alert["facilitator_id"] if alert is not None else incident.subject_id,
        "kind": incident.kind,
        "subject_id": incident.subject_id,
        "supervisor_id": incident.recipient.supervisor_id,
        "escalation_level": incident.recipient.level,
        "region_code": alert["region_code"] if alert is not None else None,
        "status": status,
        "severity": incident.severity,
        "deviation_id": lead.deviation_id,
        "group_id": lead.group_id,
        "rule": lead.rule,
        "items": [_item_json(item) for item in incident.items],
        "detected_at": incident.opened_at,
        "updated_at": now,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "note": incident.note,
        "resolved_at": incident.resolved_at,
        "snoozed_until": incident.snoozed_until,
        "snooze_reason": incident.snooze_reason,
        "outcome": incident.outcome,
    }
    changed = connection.execute(
        update(store.incidents).where(store.incidents.c.incident_id == incident.incident_id).values(values)
    ).rowcount
    if not changed:
        connection.execute(insert(store.incidents).values(incident_id=incident.incident_id, created_at=now, **values))


def _publish(connection: Connection, fact: Fact, common: dict[str, Any], *, policy: Policy, now: datetime) -> None:
    incident = fact.incident
    if fact.kind == "acknowledged":
        acknowledged_at = incident.acknowledged_at or now
        outbox.add(
            connection,
            AlertAcknowledged(
                **common,
                acknowledged_at=acknowledged_at,
                ack_seconds=max(0.0, (acknowledged_at - (incident.notified_at or incident.opened_at)).total_seconds()),
            ),
            source=policy.settings.source,
            now=now,
        )
    elif fact.kind == "escalated":
        below = incident.chain[incident.level - 1]
        outbox.add(
            connection,
            AlertEscalated(**common, from_supervisor_id=below.supervisor_id, escalated_at=now),
            source=policy.settings.source,
            now=now,
        )
