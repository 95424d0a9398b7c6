"""Supervisor endpoints: `GET /api/v1/alerts` and `POST /api/v1/alerts/{alert_id}/ack`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select, update

from services.notifications import store
from shared import serde, topics
from shared.auth import Principal
from shared.events import AlertAcknowledged
from shared.kafka import publish
from shared.web import Problem

router = APIRouter(prefix="/api/v1", tags=["alerts"])


async def _principal(request: Request) -> Principal:
    principal: Principal = await request.app.state.authenticate(request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


class AlertOut(BaseModel):
    alert_id: str
    status: Literal["open", "acknowledged", "resolved"]
    body: dict[str, Any]
    acknowledged_at: datetime | None


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    request: Request,
    principal: CurrentPrincipal,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """A supervisor's alerts, newest first (admins see all)."""
    if principal.role == "facilitator":
        raise Problem(403, "Forbidden", "alerts are for supervisors")
    query = select(store.alerts).order_by(store.alerts.c.created_at.desc()).limit(limit)
    if principal.role == "supervisor":
        query = query.where(store.alerts.c.supervisor_id == principal.subject)
    if status is not None:
        query = query.where(store.alerts.c.status == status)
    with request.app.state.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        AlertOut(
            alert_id=row["alert_id"], status=row["status"], body=row["payload"], acknowledged_at=row["acknowledged_at"]
        )
        for row in rows
    ]


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
async def acknowledge(alert_id: str, request: Request, principal: CurrentPrincipal) -> AlertOut:
    """Acknowledge an alert: escalation stops. Repeating it is harmless."""
    now = datetime.now(UTC)
    with request.app.state.engine.begin() as connection:
        alert = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().first()
        if alert is None:
            raise Problem(404, "Not found", f"no alert {alert_id}")
        if principal.role != "admin" and not (
            principal.role == "supervisor" and principal.subject == alert["supervisor_id"]
        ):
            raise Problem(403, "Forbidden", "only the alert's supervisor may acknowledge it")
        first_time = alert["status"] == "open"
        if first_time:
            connection.execute(
                update(store.alerts)
                .where(store.alerts.c.alert_id == alert_id)
                .values(status="acknowledged", acknowledged_at=now)
            )
    if first_time:
        created = alert["created_at"] if alert["created_at"].tzinfo else alert["created_at"].replace(tzinfo=UTC)
        event = AlertAcknowledged(
            alert_id=alert_id,
            deviation_id=alert["deviation_id"],
            supervisor_id=alert["supervisor_id"],
            group_id=alert["group_id"],
            rule=alert["rule"],
            severity=alert["severity"],
            escalation_level=alert["escalation_level"],
            acknowledged_at=now,
            ack_seconds=max(0.0, (now - created).total_seconds()),
        )
        envelope = serde.envelope_for(event, source=request.app.state.settings.source, time=now)
        await publish(
            request.app.state.producer,
            envelope,
            topic=request.app.state.settings.kafka.topic(topics.NOTIFICATIONS_ALERTS),
        )
    with request.app.state.engine.connect() as connection:
        row = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().one()
    return AlertOut(
        alert_id=alert_id, status=row["status"], body=row["payload"], acknowledged_at=row["acknowledged_at"]
    )
