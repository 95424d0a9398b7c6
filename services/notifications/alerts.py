"""Each deviation's own alert: route it, schedule its escalation or digest, update and resolve it —
all in the caller's transaction (ids in `ids.py`, timing in `timing.py`, the registry in
`projection.py`, bodies in `bodies.py`, the delivery rows in `delivery_queue.py`). With incidents
on, these alerts are the items' texts and the console's cards; the incident is what is pushed. Derived
ids make every step idempotent: a re-read record, a restart or a second scheduler tick changes
nothing that was already done.

Life of an alert (one per open deviation, escalation level and supervisor of that level):

- `accept_deviation`: routes to the `kabupaten` supervisor of the group's region (of the
  facilitator's region when the deviation `concerns` the facilitator), climbing when a level has no
  supervisor. Warning/critical items are queued on the supervisor's channels at their *release
  time* — at once for critical, else the next working moment in the supervisor's time zone — and
  get `escalate_at = release + ack deadline(severity)`. Info items wait for the daily digest.
- `update_deviation`: a deviation that got worse updates the same alert (severity, text) and sends
  an `alert.escalated` update to whoever already has it, never a new alert.
- climbing is `escalation.escalate_due`, the digest `digest.digest_due`, the wait for an unknown
  group `parking.py`.
- `acknowledge`: stops the chain for the whole deviation (every level's `escalate_at` is cleared).
- `resolve_deviation`: `alert.resolved` to every level that got the alert; messages still waiting
  for working hours are cancelled instead (nobody needs to hear about a problem that is gone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, update

from services.notifications import outbox, store
from services.notifications.bodies import rerender, webhook_body
from services.notifications.delivery_queue import queue, queue_feed
from services.notifications.ids import alert_id_for
from services.notifications.parking import park
from services.notifications.projection import routing_region, supervisor_row, supervisors_by_scope
from services.notifications.routing import Level, route
from services.notifications.timing import Policy
from shared.events import (
    AlertAcknowledged,
    DeviationEscalated,
    DeviationOpened,
    DeviationResolved,
)

log = logging.getLogger(__name__)

_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# accepting, updating and resolving deviations


@dataclass(frozen=True)
class Accepted:
    """What happened to a deviation: queued, updated, already known, or parked for later."""

    outcome: Literal["queued", "digest", "updated", "duplicate", "parked", "unroutable"]
    alert_id: str | None = None
    climbed: bool = False


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
        return Accepted("parked" if park(connection, opened, record=record, now=now) else "duplicate")
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
    chosen = route(region_code, supervisors_by_scope(connection))
    if chosen is None:
        park(connection, opened, record=record, now=now)
        return Accepted("unroutable")
    # Every supervisor of the level hears it, each with their own alert (the primary's id first).
    alert_id = alert_id_for(opened.deviation_id, chosen.level)
    for supervisor_id in chosen.supervisor_ids:
        own_id = (
            alert_id
            if supervisor_id == chosen.supervisor_id
            else alert_id_for(opened.deviation_id, chosen.level, supervisor_id)
        )
        _open_alert(connection, opened, own_id, supervisor_id, chosen.level, region_code, group, policy=policy, now=now)
    connection.execute(
        delete(store.parked_deviations).where(store.parked_deviations.c.deviation_id == opened.deviation_id)
    )
    return Accepted("digest" if opened.severity == "info" else "queued", alert_id, chosen.climbed)


def _open_alert(
    connection: Connection,
    opened: DeviationOpened,
    alert_id: str,
    supervisor_id: str,
    level: Level,
    region_code: str,
    group: Any,
    *,
    policy: Policy,
    now: datetime,
) -> None:
    """One supervisor's alert for a deviation: the row, its schedule, its first messages."""
    supervisor = supervisor_row(connection, supervisor_id)
    payload = webhook_body(connection, opened, alert_id=alert_id, supervisor=supervisor, group=group, policy=policy)
    is_info = opened.severity == "info"
    released = policy.release_at(opened.severity, supervisor, now)
    connection.execute(
        insert(store.alerts).values(
            alert_id=alert_id,
            deviation_id=opened.deviation_id,
            supervisor_id=supervisor_id,
            group_id=opened.group_id,
            rule=opened.rule,
            severity=opened.severity,
            escalation_level=level,
            status="open",
            payload=payload,
            detected_at=opened.detected_at,
            created_at=now,
            updated_at=now,
            region_code=region_code,
            facilitator_id=opened.facilitator_id,
            concerns=opened.concerns,
            escalate_at=policy.escalate_at(opened.severity, released, level),
            digest_at=policy.digest_at(supervisor, now) if is_info else None,
        )
    )
    if is_info:
        queue_feed(connection, alert_id=alert_id, kind="alert.opened", body=payload, supervisor=supervisor, now=now)
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
        supervisor = supervisor_row(connection, alert["supervisor_id"])
        if supervisor is None:
            continue
        merged = {**alert["payload"].get("details", {}), **details}
        payload = {**alert["payload"], "severity": severity, "details": merged}
        payload["message"] = rerender(connection, payload, kind="alert.opened")
        released = policy.release_at(severity, supervisor, now)
        values: dict[str, Any] = {"severity": severity, "payload": payload, "updated_at": now}
        if alert["status"] == "open" and alert["escalated_to"] is None:
            deadline = policy.escalate_at(severity, released, alert["escalation_level"])
            current = alert["escalate_at"]
            if deadline is not None and (current is None or deadline < _utc(current)):
                values["escalate_at"] = deadline
        was_digest_only = previous == "info" and alert["digested_at"] is None
        if not was_digest_only and _withdraw_unsent_opening(connection, alert["alert_id"], now):
            # Nobody has heard of it yet (a first detection already past a severity step): one
            # message at the new severity instead of "opened" and, at once, "escalated".
            connection.execute(update(store.alerts).where(store.alerts.c.alert_id == alert["alert_id"]).values(values))
            queue(
                connection,
                alert_id=alert["alert_id"],
                kind=f"alert.opened:{severity}",
                body=payload,
                supervisor=supervisor,
                now=now,
                deliver_at=released,
                policy=policy,
                feed=False,
            )
            updated.append(alert["alert_id"])
            log.info("alert %s: not delivered yet, opens at %s instead of %s", alert["alert_id"], severity, previous)
            continue
        if was_digest_only:
            values["digest_at"] = None  # it is no longer news for the digest: it goes out on its own now
        connection.execute(update(store.alerts).where(store.alerts.c.alert_id == alert["alert_id"]).values(values))
        body = {
            **payload,
            "type": "alert.opened" if was_digest_only else "alert.escalated",
            "previous_severity": previous,
            "message": rerender(connection, payload, kind="alert.opened" if was_digest_only else "alert.updated"),
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


def _withdraw_unsent_opening(connection: Connection, alert_id: str, now: datetime) -> bool:
    """Cancel an alert's `alert.opened` messages if none has been attempted on any pushed channel;
    True if there were some and they are now cancelled (the caller sends the worse one instead)."""
    rows = connection.execute(
        select(store.deliveries.c.status, store.deliveries.c.attempts).where(
            store.deliveries.c.alert_id == alert_id,
            store.deliveries.c.kind == "alert.opened",
            store.deliveries.c.channel != "feed",
        )
    ).all()
    if not rows or any(row.status != "pending" or row.attempts > 0 for row in rows):
        return False
    connection.execute(
        update(store.deliveries)
        .where(
            store.deliveries.c.alert_id == alert_id,
            store.deliveries.c.kind == "alert.opened",
            store.deliveries.c.channel != "feed",
            store.deliveries.c.status == "pending",
        )
        .values(status="cancelled", updated_at=now, last_error="superseded by a worse severity before delivery")
    )
    return True


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
        supervisor = supervisor_row(connection, alert["supervisor_id"])
        if supervisor is None:
            continue
        body = {
            **alert["payload"],
            "type": "alert.resolved",
            "resolved_at": resolved.resolved_at.isoformat().replace("+00:00", "Z"),
            "reason": resolved.reason,
            "message": rerender(connection, alert["payload"], kind="alert.resolved"),
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
            queue_feed(
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
# acknowledgement


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
