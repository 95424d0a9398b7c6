"""Turning deviations into alerts: project the registry, route, build the webhook body, and queue
deliveries, all in the caller's transaction. Derived ids make every step idempotent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from services.notifications import store
from services.notifications.messages import AlertContext, render
from services.notifications.routing import Level, route
from services.notifications.settings import NotificationsSettings
from shared import regions as region_facts
from shared.events import (
    DeviationOpened,
    DeviationResolved,
    FacilitatorUpserted,
    GroupUpserted,
    RegionUpserted,
    SupervisorUpserted,
)
from shared.events.base import EventData

_ALERT_NAMESPACE = uuid.UUID("1c0f6a8e-55b2-4c47-8f0e-3a8d2b6e9d14")


def alert_id_for(deviation_id: str, level: str) -> str:
    """One alert per deviation and escalation level."""
    return "alert-" + uuid.uuid5(_ALERT_NAMESPACE, f"{deviation_id}|{level}").hex


def message_id_for(alert_id: str, kind: str, channel: str) -> str:
    """The `webhook-id`: the same on every retry of the same message."""
    return "msg_" + uuid.uuid5(_ALERT_NAMESPACE, f"{alert_id}|{kind}|{channel}").hex


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


@dataclass(frozen=True)
class Accepted:
    """What happened to a deviation: queued for delivery, already known, or parked for later."""

    outcome: Literal["queued", "duplicate", "parked", "unroutable"]
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


def accept_deviation(
    connection: Connection,
    opened: DeviationOpened,
    *,
    record: bytes,
    settings: NotificationsSettings,
    now: datetime,
) -> Accepted:
    """Route an opened deviation to its supervisor and queue the alert on their channels."""
    group = connection.execute(select(store.groups).where(store.groups.c.id == opened.group_id)).mappings().first()
    if group is None:
        _park(connection, opened, record=record, now=now)
        return Accepted("parked")
    chosen = route(opened.region_code, _supervisors_by_scope(connection))
    if chosen is None:
        _park(connection, opened, record=record, now=now)
        return Accepted("unroutable")
    alert_id = alert_id_for(opened.deviation_id, chosen.level)
    exists = connection.execute(select(store.alerts.c.alert_id).where(store.alerts.c.alert_id == alert_id)).first()
    if exists is not None:
        return Accepted("duplicate", alert_id)
    supervisor = (
        connection.execute(select(store.supervisors).where(store.supervisors.c.id == chosen.supervisor_id))
        .mappings()
        .one()
    )
    payload = _webhook_body(
        connection, opened, alert_id=alert_id, supervisor=supervisor, group=group, settings=settings
    )
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
        )
    )
    _queue(connection, alert_id=alert_id, kind="alert.opened", body=payload, supervisor=supervisor, now=now)
    connection.execute(
        delete(store.parked_deviations).where(store.parked_deviations.c.deviation_id == opened.deviation_id)
    )
    return Accepted("queued", alert_id, chosen.climbed)


def resolve_deviation(connection: Connection, resolved: DeviationResolved, *, now: datetime) -> list[str]:
    """Close the deviation's alerts and tell their supervisors (`alert.resolved`)."""
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
            update(store.alerts).where(store.alerts.c.alert_id == alert["alert_id"]).values(status="resolved")
        )
        supervisor = (
            connection.execute(select(store.supervisors).where(store.supervisors.c.id == alert["supervisor_id"]))
            .mappings()
            .first()
        )
        if supervisor is not None:
            body = {
                **alert["payload"],
                "type": "alert.resolved",
                "resolved_at": resolved.resolved_at.isoformat(),
                "reason": resolved.reason,
            }
            _queue(
                connection, alert_id=alert["alert_id"], kind="alert.resolved", body=body, supervisor=supervisor, now=now
            )
        closed.append(alert["alert_id"])
    return closed


def _park(connection: Connection, opened: DeviationOpened, *, record: bytes, now: datetime) -> None:
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


def parked_records(connection: Connection) -> list[bytes]:
    """Deviations waiting for the registry (oldest first)."""
    rows = connection.execute(
        select(store.parked_deviations.c.record).order_by(store.parked_deviations.c.parked_at)
    ).all()
    return [row.record.encode() for row in rows]


def _queue(
    connection: Connection,
    *,
    alert_id: str,
    kind: str,
    body: dict[str, Any],
    supervisor: Any,
    now: datetime,
) -> None:
    if supervisor["webhook_url"]:
        message_id = message_id_for(alert_id, kind, "webhook")
        exists = connection.execute(
            select(store.deliveries.c.message_id).where(store.deliveries.c.message_id == message_id)
        ).first()
        if exists is None:
            connection.execute(
                insert(store.deliveries).values(
                    message_id=message_id,
                    alert_id=alert_id,
                    channel="webhook",
                    target=supervisor["webhook_url"],
                    body=orjson.dumps(body).decode(),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )


def _webhook_body(
    connection: Connection,
    opened: DeviationOpened,
    *,
    alert_id: str,
    supervisor: Any,
    group: Any,
    settings: NotificationsSettings,
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
        "group": {"id": opened.group_id, "name": group["name"]},
        "facilitator": {"id": opened.facilitator_id, "name": facilitator_name},
        "region": {
            "code": opened.region_code,
            "name": village.name if village else None,
            "kabupaten": {"code": kabupaten_code, "name": kabupaten.name if kabupaten else None},
        },
        "detected_at": opened.detected_at.isoformat().replace("+00:00", "Z"),
        "message": message,
        "ack_url": f"{settings.public_base_url.rstrip('/')}/api/v1/alerts/{alert_id}/ack",
    }


def next_retry_delay(attempt: int, *, initial_seconds: float, max_seconds: float, jitter: float) -> timedelta:
    """Exponential back-off with jitter: attempt 1 waits ~initial, each further one twice as long.

    `jitter` in [0, 1) comes from the caller's random source, so this stays pure and testable.
    """
    # Capping the exponent keeps huge attempt numbers from overflowing before the ceiling applies.
    doublings = min(max(0, attempt - 1), 64)
    base = min(max_seconds, initial_seconds * 2.0**doublings)
    return timedelta(seconds=base * (0.5 + 0.5 * jitter))
