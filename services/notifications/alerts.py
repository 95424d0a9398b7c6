"""Turning deviations into alerts: project the registry, route, group, schedule escalations and
digests, build the webhook bodies and queue deliveries — all in the caller's transaction. Derived
ids make every step idempotent: a re-read record, a restart or a second scheduler tick changes
nothing that was already done.

Life of an alert (one per open deviation and escalation level):

- `accept_deviation`: routes to the `kabupaten` supervisor of the group's region (of the
  facilitator's region when the deviation `concerns` the facilitator), climbing when a level has no
  supervisor. Warning/critical items are queued on the supervisor's channels at their *release
  time* — at once for critical, else the next working moment in the supervisor's time zone — and
  get `escalate_at = release + ack deadline(severity)`. Info items wait for the daily digest.
- `update_deviation`: a deviation that got worse updates the same alert (severity, text) and sends
  an `alert.escalated` update to whoever already has it, never a new alert.
- `escalate_due`: an alert still open at `escalate_at` climbs one level (a new alert id for the new
  level, `alert.escalated` to that supervisor, `notifications.alert_escalated.v1` in the outbox).
- `acknowledge`: stops the chain for the whole deviation (every level's `escalate_at` is cleared).
- `resolve_deviation`: `alert.resolved` to every level that got the alert; messages still waiting
  for working hours are cancelled instead (nobody needs to hear about a problem that is gone).
- `digest_due`: info items of one supervisor go out together as one `alert.digest`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from services.notifications import outbox, store
from services.notifications.calendar import WorkingCalendar, supervisor_time_zone
from services.notifications.channels.registry import pushed_specs
from services.notifications.messages import AlertContext, render, render_digest
from services.notifications.routing import LEVELS, Level, route
from services.notifications.settings import NotificationsSettings
from shared import regions as region_facts
from shared.events import (
    AlertAcknowledged,
    AlertEscalated,
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
    FacilitatorUpserted,
    GroupUpserted,
    RegionUpserted,
    SupervisorUpserted,
)
from shared.events.base import EventData

log = logging.getLogger(__name__)

_ALERT_NAMESPACE = uuid.UUID("1c0f6a8e-55b2-4c47-8f0e-3a8d2b6e9d14")
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def alert_id_for(deviation_id: str, level: str) -> str:
    """One alert per deviation and escalation level."""
    return "alert-" + uuid.uuid5(_ALERT_NAMESPACE, f"{deviation_id}|{level}").hex


def message_id_for(alert_id: str, kind: str, channel: str) -> str:
    """The `webhook-id`: the same on every retry of the same message."""
    return "msg_" + uuid.uuid5(_ALERT_NAMESPACE, f"{alert_id}|{kind}|{channel}").hex


def digest_id_for(supervisor_id: str, alert_ids: list[str]) -> str:
    """A digest is identified by whom it is for and what it contains, so a re-run makes the same one."""
    return "digest-" + uuid.uuid5(_ALERT_NAMESPACE, f"{supervisor_id}|{'|'.join(sorted(alert_ids))}").hex


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


# --------------------------------------------------------------------------------------------------
# registry projection


def project_registry(connection: Connection, fact: EventData) -> bool:
    """Keep the local copy of the registry that routing and messages need. True if it changed."""
    if isinstance(fact, RegionUpserted):
        _merge(connection, store.regions, "code", fact.code, {"name": fact.name, "time_zone": fact.time_zone})
    elif isinstance(fact, SupervisorUpserted):
        values = {
            "name": fact.name,
            "level": fact.level,
            "region_code": fact.region_code,
            "email": fact.email,
            "webhook_url": fact.webhook_url,
            "language": fact.language,
        }
        _merge(connection, store.supervisors, "id", fact.supervisor_id, values)
    elif isinstance(fact, FacilitatorUpserted):
        values = {"name": fact.name, "region_code": fact.region_code}
        _merge(connection, store.facilitators, "id", fact.facilitator_id, values)
    elif isinstance(fact, GroupUpserted):
        values = {
            "name": fact.name,
            "facilitator_id": fact.facilitator_id,
            "region_code": fact.region_code,
            "time_zone": fact.time_zone,
        }
        _merge(connection, store.groups, "id", fact.group_id, values)
    else:
        return False
    return True


def _merge(connection: Connection, table: store.Table, key_column: str, key: str, values: dict[str, Any]) -> None:
    updated = connection.execute(update(table).where(table.c[key_column] == key).values(values)).rowcount
    if not updated:
        connection.execute(insert(table).values({key_column: key, **values}))


# --------------------------------------------------------------------------------------------------
# accepting, updating and resolving deviations


@dataclass(frozen=True)
class Accepted:
    """What happened to a deviation: queued, updated, already known, or parked for later."""

    outcome: Literal["queued", "digest", "updated", "duplicate", "parked", "unroutable"]
    alert_id: str | None = None
    climbed: bool = False


def _supervisors_by_scope(connection: Connection) -> dict[tuple[Level, str | None], str]:
    rows = connection.execute(
        select(store.supervisors.c.id, store.supervisors.c.level, store.supervisors.c.region_code).order_by(
            store.supervisors.c.id
        )
    ).all()
    scopes: dict[tuple[Level, str | None], str] = {}
    for row in rows:
        scopes.setdefault((row.level, row.region_code), row.id)
    return scopes


def _supervisor(connection: Connection, supervisor_id: str) -> Any:
    return (
        connection.execute(select(store.supervisors).where(store.supervisors.c.id == supervisor_id)).mappings().first()
    )


def routing_region(connection: Connection, opened: DeviationOpened) -> str:
    """The region whose supervisor hears about it: the facilitator's for facilitator-directed items."""
    if opened.concerns == "facilitator":
        facilitator = connection.execute(
            select(store.facilitators.c.region_code).where(store.facilitators.c.id == opened.facilitator_id)
        ).first()
        if facilitator is not None:
            return str(facilitator.region_code)
    return opened.region_code


def accept_deviation(
    connection: Connection,
    opened: DeviationOpened,
    *,
    record: bytes,
    policy: Policy,
    now: datetime,
) -> Accepted:
    """Route an opened deviation to its supervisor: queue it, schedule its escalation or digest."""
    group = connection.execute(select(store.groups).where(store.groups.c.id == opened.group_id)).mappings().first()
    if group is None:
        # The same deviation again while it waits for the registry is a duplicate, not a second wait.
        return Accepted("parked" if _park(connection, opened, record=record, now=now) else "duplicate")
    existing = (
        connection.execute(
            select(store.alerts)
            .where(store.alerts.c.deviation_id == opened.deviation_id)
            .order_by(store.alerts.c.created_at)
        )
        .mappings()
        .first()
    )
    if existing is not None:
        if _SEVERITY_RANK.get(opened.severity, 0) > _SEVERITY_RANK.get(existing["severity"], 0):
            update_severity(
                connection,
                deviation_id=opened.deviation_id,
                severity=opened.severity,
                details=dict(opened.details),
                policy=policy,
                now=now,
            )
            return Accepted("updated", existing["alert_id"])
        return Accepted("duplicate", existing["alert_id"])
    region_code = routing_region(connection, opened)
    chosen = route(region_code, _supervisors_by_scope(connection))
    if chosen is None:
        _park(connection, opened, record=record, now=now)
        return Accepted("unroutable")
    alert_id = alert_id_for(opened.deviation_id, chosen.level)
    supervisor = _supervisor(connection, chosen.supervisor_id)
    payload = _webhook_body(connection, opened, alert_id=alert_id, supervisor=supervisor, group=group, policy=policy)
    is_info = opened.severity == "info"
    released = policy.release_at(opened.severity, supervisor, now)
    connection.execute(
        insert(store.alerts).values(
            alert_id=alert_id,
            deviation_id=opened.deviation_id,
            supervisor_id=chosen.supervisor_id,
            group_id=opened.group_id,
            rule=opened.rule,
            severity=opened.severity,
            escalation_level=chosen.level,
            status="open",
            payload=payload,
            detected_at=opened.detected_at,
            created_at=now,
            updated_at=now,
            region_code=region_code,
            facilitator_id=opened.facilitator_id,
            concerns=opened.concerns,
            escalate_at=policy.escalate_at(opened.severity, released, chosen.level),
            digest_at=policy.digest_at(supervisor, now) if is_info else None,
        )
    )
    if is_info:
        _queue_feed(connection, alert_id=alert_id, kind="alert.opened", body=payload, supervisor=supervisor, now=now)
    else:
        queue(
            connection,
            alert_id=alert_id,
            kind="alert.opened",
            body=payload,
            supervisor=supervisor,
            now=now,
            deliver_at=released,
            policy=policy,
        )
    connection.execute(
        delete(store.parked_deviations).where(store.parked_deviations.c.deviation_id == opened.deviation_id)
    )
    return Accepted("digest" if is_info else "queued", alert_id, chosen.climbed)


def update_deviation(
    connection: Connection, escalated: DeviationEscalated, *, policy: Policy, now: datetime
) -> list[str]:
    """A deviation got worse: update its alerts in place and tell their supervisors."""
    return update_severity(
        connection,
        deviation_id=escalated.deviation_id,
        severity=escalated.severity,
        details=dict(escalated.details),
        policy=policy,
        now=now,
    )


def update_severity(
    connection: Connection,
    *,
    deviation_id: str,
    severity: str,
    details: dict[str, Any],
    policy: Policy,
    now: datetime,
) -> list[str]:
    """Raise the severity of a deviation's live alerts; an `alert.escalated` update per alert."""
    rows = (
        connection.execute(
            select(store.alerts).where(store.alerts.c.deviation_id == deviation_id, store.alerts.c.status != "resolved")
        )
        .mappings()
        .all()
    )
    updated = []
    for alert in rows:
        previous = alert["severity"]
        if _SEVERITY_RANK.get(severity, 0) <= _SEVERITY_RANK.get(previous, 0):
            continue
        supervisor = _supervisor(connection, alert["supervisor_id"])
        if supervisor is None:
            continue
        merged = {**alert["payload"].get("details", {}), **details}
        payload = {**alert["payload"], "severity": severity, "details": merged}
        payload["message"] = _rerender(connection, payload, kind="alert.opened")
        released = policy.release_at(severity, supervisor, now)
        values: dict[str, Any] = {"severity": severity, "payload": payload, "updated_at": now}
        if alert["status"] == "open" and alert["escalated_to"] is None:
            deadline = policy.escalate_at(severity, released, alert["escalation_level"])
            current = alert["escalate_at"]
            if deadline is not None and (current is None or deadline < _utc(current)):
                values["escalate_at"] = deadline
        was_digest_only = previous == "info" and alert["digested_at"] is None
        if was_digest_only:
            values["digest_at"] = None  # it is no longer news for the digest: it goes out on its own now
        connection.execute(update(store.alerts).where(store.alerts.c.alert_id == alert["alert_id"]).values(values))
        body = {
            **payload,
            "type": "alert.opened" if was_digest_only else "alert.escalated",
            "previous_severity": previous,
            "message": _rerender(connection, payload, kind="alert.opened" if was_digest_only else "alert.updated"),
        }
        queue(
            connection,
            alert_id=alert["alert_id"],
            kind="alert.opened" if was_digest_only else f"alert.updated:{severity}",
            body=body,
            supervisor=supervisor,
            now=now,
            deliver_at=released,
            policy=policy,
        )
        updated.append(alert["alert_id"])
        log.info("alert %s: severity %s → %s", alert["alert_id"], previous, severity)
    return updated


def resolve_deviation(
    connection: Connection, resolved: DeviationResolved, *, policy: Policy, now: datetime
) -> list[str]:
    """Close the deviation's alerts and tell every level that got one (`alert.resolved`)."""
    connection.execute(
        delete(store.parked_deviations).where(store.parked_deviations.c.deviation_id == resolved.deviation_id)
    )
    rows = (
        connection.execute(
            select(store.alerts).where(
                store.alerts.c.deviation_id == resolved.deviation_id, store.alerts.c.status != "resolved"
            )
        )
        .mappings()
        .all()
    )
    closed = []
    for alert in rows:
        connection.execute(
            update(store.alerts)
            .where(store.alerts.c.alert_id == alert["alert_id"])
            .values(status="resolved", resolved_at=now, escalate_at=None, updated_at=now)
        )
        closed.append(alert["alert_id"])
        supervisor = _supervisor(connection, alert["supervisor_id"])
        if supervisor is None:
            continue
        body = {
            **alert["payload"],
            "type": "alert.resolved",
            "resolved_at": resolved.resolved_at.isoformat().replace("+00:00", "Z"),
            "reason": resolved.reason,
            "message": _rerender(connection, alert["payload"], kind="alert.resolved"),
        }
        if not _got_news(connection, alert, now):
            # Still waiting for working hours (or for the digest): cancel rather than open-and-close.
            connection.execute(
                update(store.deliveries)
                .where(
                    store.deliveries.c.alert_id == alert["alert_id"],
                    store.deliveries.c.status == "pending",
                    store.deliveries.c.channel != "feed",
                )
                .values(status="cancelled", updated_at=now, last_error="deviation resolved before delivery")
            )
            _queue_feed(
                connection, alert_id=alert["alert_id"], kind="alert.resolved", body=body, supervisor=supervisor, now=now
            )
            log.info("alert %s resolved before it was delivered: pending messages cancelled", alert["alert_id"])
            continue
        queue(
            connection,
            alert_id=alert["alert_id"],
            kind="alert.resolved",
            body=body,
            supervisor=supervisor,
            now=now,
            deliver_at=policy.release_at(alert["severity"], supervisor, now),
            policy=policy,
        )
    return closed


def _got_news(connection: Connection, alert: Any, now: datetime) -> bool:
    """Whether the supervisor heard (or is about to hear) of the alert on a real channel; False when
    every message is still held for working hours or the item is waiting for the digest."""
    if alert["severity"] == "info" and alert["digested_at"] is None:
        return False
    rows = connection.execute(
        select(store.deliveries.c.status, store.deliveries.c.next_attempt_at, store.deliveries.c.attempts).where(
            store.deliveries.c.alert_id == alert["alert_id"], store.deliveries.c.channel != "feed"
        )
    ).all()
    if not rows:
        return True  # a feed-only supervisor: the console shows the resolution
    return any(
        row.status in ("delivered", "failed") or row.attempts > 0 or _utc(row.next_attempt_at) <= now for row in rows
    )


# --------------------------------------------------------------------------------------------------
# acknowledgement, escalation and digests


def acknowledge(connection: Connection, alert: Any, *, by: str, now: datetime, source: str) -> bool:
    """Mark an alert acknowledged and stop the deviation's chain; True the first time."""
    if alert["status"] != "open":
        return False
    connection.execute(
        update(store.alerts)
        .where(store.alerts.c.alert_id == alert["alert_id"])
        .values(status="acknowledged", acknowledged_at=now, acknowledged_by=by, escalate_at=None, updated_at=now)
    )
    connection.execute(
        update(store.alerts).where(store.alerts.c.deviation_id == alert["deviation_id"]).values(escalate_at=None)
    )
    created = _utc(alert["created_at"])
    outbox.add(
        connection,
        AlertAcknowledged(
            alert_id=alert["alert_id"],
            deviation_id=alert["deviation_id"],
            supervisor_id=alert["supervisor_id"],
            group_id=alert["group_id"],
            rule=alert["rule"],
            severity=alert["severity"],
            escalation_level=alert["escalation_level"],
            acknowledged_at=now,
            ack_seconds=max(0.0, (now - created).total_seconds()),
        ),
        source=source,
        now=now,
    )
    log.info("alert %s acknowledged by %s: escalation stopped", alert["alert_id"], by)
    return True


@dataclass(frozen=True)
class Escalation:
    """One climb: `from_alert_id` was not acknowledged in time, `to_alert_id` (None at the top)."""

    from_alert_id: str
    to_alert_id: str | None
    to_level: Level | None
    due_at: datetime
    at: datetime


def escalate_due(connection: Connection, *, policy: Policy, now: datetime, limit: int = 500) -> list[Escalation]:
    """Climb every open alert whose acknowledgement deadline has passed (durable: the schedule is rows)."""
    due = (
        connection.execute(
            select(store.alerts)
            .where(
                store.alerts.c.status == "open",
                store.alerts.c.escalate_at <= now,
                store.alerts.c.escalated_to.is_(None),
            )
            .order_by(store.alerts.c.escalate_at)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    scopes = _supervisors_by_scope(connection) if due else {}
    done = []
    for alert in due:
        due_at = _utc(alert["escalate_at"])
        level = alert["escalation_level"]
        above = LEVELS[LEVELS.index(level) + 1 :] if level in LEVELS else ()
        chosen = (
            route(alert["region_code"] or alert["payload"]["region"]["code"], scopes, from_level=above[0])
            if above
            else None
        )
        if chosen is None:
            connection.execute(
                update(store.alerts).where(store.alerts.c.alert_id == alert["alert_id"]).values(escalate_at=None)
            )
            log.warning("alert %s unacknowledged at the top of the chain (%s): nobody above", alert["alert_id"], level)
            done.append(Escalation(alert["alert_id"], None, None, due_at, now))
            continue
        supervisor = _supervisor(connection, chosen.supervisor_id)
        new_id = alert_id_for(alert["deviation_id"], chosen.level)
        connection.execute(
            update(store.alerts)
            .where(store.alerts.c.alert_id == alert["alert_id"])
            .values(escalate_at=None, escalated_to=new_id, updated_at=now)
        )
        exists = connection.execute(select(store.alerts.c.alert_id).where(store.alerts.c.alert_id == new_id)).first()
        if exists is not None:
            done.append(Escalation(alert["alert_id"], new_id, chosen.level, due_at, now))
            continue
        payload = {
            **alert["payload"],
            "type": "alert.escalated",
            "alert_id": new_id,
            "escalation_level": chosen.level,
            "supervisor_id": chosen.supervisor_id,
            "from_supervisor_id": alert["supervisor_id"],
            "escalated_from": alert["alert_id"],
            "ack_url": _ack_url(policy, new_id),
        }
        payload["message"] = _rerender(connection, payload, kind="alert.escalated")
        released = policy.release_at(alert["severity"], supervisor, now)
        connection.execute(
            insert(store.alerts).values(
                alert_id=new_id,
                deviation_id=alert["deviation_id"],
                supervisor_id=chosen.supervisor_id,
                group_id=alert["group_id"],
                rule=alert["rule"],
                severity=alert["severity"],
                escalation_level=chosen.level,
                status="open",
                payload=payload,
                detected_at=alert["detected_at"],
                created_at=now,
                updated_at=now,
                region_code=alert["region_code"],
                facilitator_id=alert["facilitator_id"],
                concerns=alert["concerns"],
                escalate_at=policy.escalate_at(alert["severity"], released, chosen.level),
            )
        )
        queue(
            connection,
            alert_id=new_id,
            kind="alert.escalated",
            body=payload,
            supervisor=supervisor,
            now=now,
            deliver_at=released,
            policy=policy,
        )
        outbox.add(
            connection,
            AlertEscalated(
                alert_id=new_id,
                deviation_id=alert["deviation_id"],
                supervisor_id=chosen.supervisor_id,
                group_id=alert["group_id"],
                rule=alert["rule"],
                severity=alert["severity"],
                escalation_level=chosen.level,
                from_supervisor_id=alert["supervisor_id"],
                escalated_at=now,
            ),
            source=policy.settings.source,
            now=now,
        )
        log.info(
            "alert %s not acknowledged by %s in time: escalated to %s (%s) as %s",
            alert["alert_id"],
            alert["supervisor_id"],
            chosen.supervisor_id,
            chosen.level,
            new_id,
        )
        done.append(Escalation(alert["alert_id"], new_id, chosen.level, due_at, now))
    return done


def digest_due(connection: Connection, *, policy: Policy, now: datetime) -> list[str]:
    """Send each supervisor's due info items as one `alert.digest`; returns the digest ids."""
    rows = (
        connection.execute(
            select(store.alerts)
            .where(
                store.alerts.c.status == "open",
                store.alerts.c.severity == "info",
                store.alerts.c.digested_at.is_(None),
                store.alerts.c.digest_at <= now,
            )
            .order_by(store.alerts.c.supervisor_id, store.alerts.c.created_at)
        )
        .mappings()
        .all()
    )
    by_supervisor: dict[str, list[Any]] = {}
    for row in rows:
        by_supervisor.setdefault(row["supervisor_id"], []).append(row)
    digests = []
    for supervisor_id, items in by_supervisor.items():
        supervisor = _supervisor(connection, supervisor_id)
        alert_ids = [item["alert_id"] for item in items]
        connection.execute(
            update(store.alerts).where(store.alerts.c.alert_id.in_(alert_ids)).values(digested_at=now, updated_at=now)
        )
        if supervisor is None:
            continue
        digest_id = digest_id_for(supervisor_id, alert_ids)
        bodies = [item["payload"] for item in items]
        body = {
            "type": "alert.digest",
            "alert_id": digest_id,
            "digest_id": digest_id,
            "severity": "info",
            "escalation_level": supervisor["level"],
            "supervisor_id": supervisor_id,
            "items": bodies,
            "message": render_digest(bodies, language=supervisor["language"]),
            "sent_for": now.isoformat().replace("+00:00", "Z"),
        }
        queue(
            connection,
            alert_id=digest_id,
            kind="alert.digest",
            body=body,
            supervisor=supervisor,
            now=now,
            deliver_at=now,
            policy=policy,
            feed=False,
        )
        digests.append(digest_id)
        log.info("digest %s of %d info item(s) queued for %s", digest_id, len(items), supervisor_id)
    return digests


# --------------------------------------------------------------------------------------------------
# parking, queueing and bodies


def _park(connection: Connection, opened: DeviationOpened, *, record: bytes, now: datetime) -> bool:
    """Keep the record until the registry knows its group; False if it was already waiting."""
    exists = connection.execute(
        select(store.parked_deviations.c.deviation_id).where(
            store.parked_deviations.c.deviation_id == opened.deviation_id
        )
    ).first()
    if exists is None:
        connection.execute(
            insert(store.parked_deviations).values(
                deviation_id=opened.deviation_id, group_id=opened.group_id, record=record.decode(), parked_at=now
            )
        )
        return True
    return False


def parked_records(connection: Connection) -> list[bytes]:
    """Deviations waiting for the registry (oldest first)."""
    rows = connection.execute(
        select(store.parked_deviations.c.record).order_by(store.parked_deviations.c.parked_at)
    ).all()
    return [row.record.encode() for row in rows]


def queue(
    connection: Connection,
    *,
    alert_id: str,
    kind: str,
    body: dict[str, Any],
    supervisor: Any,
    now: datetime,
    deliver_at: datetime,
    policy: Policy,
    feed: bool = True,
    incident: bool = False,
) -> None:
    """One delivery row per channel the supervisor has (webhook, e-mail) plus the live feed.

    The feed shows everything at once (the console is pull, not a page); the other channels wait
    for `deliver_at` (working hours for non-critical news). With incidents on, only incident
    messages (and digests) are pushed: a deviation's own alert goes to the feed alone.
    """
    pushed = incident or not policy.settings.incidents_enabled or kind == "alert.digest"
    for spec in pushed_specs() if pushed else ():
        target = spec.target(supervisor, policy.settings)
        if target:
            _insert_delivery(
                connection, alert_id=alert_id, kind=kind, channel=spec.name, target=target,
                body=spec.body(body, supervisor), supervisor=supervisor, at=deliver_at, now=now,
            )  # fmt: skip
    if feed:
        _queue_feed(connection, alert_id=alert_id, kind=kind, body=body, supervisor=supervisor, now=now)


def _queue_feed(
    connection: Connection, *, alert_id: str, kind: str, body: dict[str, Any], supervisor: Any, now: datetime
) -> None:
    _insert_delivery(
        connection, alert_id=alert_id, kind=kind, channel="feed", target=supervisor["id"],
        body=body, supervisor=supervisor, at=now, now=now,
    )  # fmt: skip


def _insert_delivery(
    connection: Connection,
    *,
    alert_id: str,
    kind: str,
    channel: str,
    target: str,
    body: dict[str, Any],
    supervisor: Any,
    at: datetime,
    now: datetime,
) -> None:
    message_id = message_id_for(alert_id, kind, channel)
    exists = connection.execute(
        select(store.deliveries.c.message_id).where(store.deliveries.c.message_id == message_id)
    ).first()
    if exists is not None:
        return
    connection.execute(
        insert(store.deliveries).values(
            message_id=message_id,
            alert_id=alert_id,
            channel=channel,
            target=target,
            body=orjson.dumps(body).decode(),
            status="pending",
            attempts=0,
            next_attempt_at=at,
            updated_at=now,
            kind=kind.split(":", 1)[0],
            supervisor_id=supervisor["id"],
        )
    )
    if at > now:
        log.info("%s %s for %s held until %s (working hours)", channel, kind, alert_id, at.isoformat())


def _ack_url(policy: Policy, alert_id: str) -> str:
    return f"{policy.settings.public_base_url.rstrip('/')}/api/v1/alerts/{alert_id}/ack"


def _rerender(connection: Connection, payload: dict[str, Any], *, kind: str) -> dict[str, str]:
    group = connection.execute(
        select(store.groups.c.time_zone).where(store.groups.c.id == payload["group"]["id"])
    ).first()
    return render(
        AlertContext(
            rule=payload["rule"],
            severity=payload["severity"],
            group_name=payload["group"]["name"],
            village_name=payload["region"].get("name"),
            facilitator_name=payload["facilitator"]["name"],
            details=dict(payload.get("details") or {}),
            time_zone=group.time_zone if group else region_facts.WIB,
        ),
        kind=kind,
    )


def _webhook_body(
    connection: Connection,
    opened: DeviationOpened,
    *,
    alert_id: str,
    supervisor: Any,
    group: Any,
    policy: Policy,
) -> dict[str, Any]:
    facilitator = connection.execute(
        select(store.facilitators.c.name).where(store.facilitators.c.id == opened.facilitator_id)
    ).first()
    village = connection.execute(select(store.regions.c.name).where(store.regions.c.code == opened.region_code)).first()
    kabupaten_code = region_facts.kabupaten_of(opened.region_code) or opened.region_code
    kabupaten = connection.execute(select(store.regions.c.name).where(store.regions.c.code == kabupaten_code)).first()
    facilitator_name = facilitator.name if facilitator else opened.facilitator_id
    message = render(
        AlertContext(
            rule=opened.rule,
            severity=opened.severity,
            group_name=group["name"],
            village_name=village.name if village else None,
            facilitator_name=facilitator_name,
            details=dict(opened.details),
            time_zone=group["time_zone"],
        )
    )
    return {
        "type": "alert.opened",
        "alert_id": alert_id,
        "deviation_id": opened.deviation_id,
        "rule": opened.rule,
        "severity": opened.severity,
        "escalation_level": supervisor["level"],
        "supervisor_id": supervisor["id"],
        "concerns": opened.concerns,
        "group": {"id": opened.group_id, "name": group["name"]},
        "facilitator": {"id": opened.facilitator_id, "name": facilitator_name},
        "region": {
            "code": opened.region_code,
            "name": village.name if village else None,
            "kabupaten": {"code": kabupaten_code, "name": kabupaten.name if kabupaten else None},
        },
        "detected_at": opened.detected_at.isoformat().replace("+00:00", "Z"),
        "details": dict(opened.details),
        "message": message,
        "ack_url": _ack_url(policy, alert_id),
    }


def next_retry_delay(attempt: int, *, initial_seconds: float, max_seconds: float, jitter: float) -> timedelta:
    """Exponential back-off with jitter: attempt 1 waits ~initial, each further one twice as long.

    `jitter` in [0, 1) comes from the caller's random source, so this stays pure and testable.
    """
    # Capping the exponent keeps huge attempt numbers from overflowing before the ceiling applies.
    doublings = min(max(0, attempt - 1), 64)
    base = min(max_seconds, initial_seconds * 2.0**doublings)
    return timedelta(seconds=base * (0.5 + 0.5 * jitter))
