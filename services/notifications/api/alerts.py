"""The alerts API: supervisors list, read and acknowledge the alerts in their scope. An incident's
id (its message's `ack_url`) is answered here too, as an alert."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import or_, select

from services.notifications import alerts as alert_service
from services.notifications import incident_shell, store
from services.notifications.api.access import may_see, visible
from services.notifications.api.incidents import acknowledge_in_scope, incident_row
from services.notifications.api.stream import stream_alerts
from services.notifications.deps import Context, CurrentPrincipal
from shared.events.base import Severity
from shared.web import Problem

router = APIRouter()

Status = Literal["open", "acknowledged", "resolved"]


class AlertOut(BaseModel):
    """An alert as supervisors see it: its state and the body that was (or will be) delivered."""

    alert_id: str
    status: Status
    body: dict[str, Any]
    acknowledged_at: datetime | None
    severity: str | None = None
    rule: str | None = None
    escalation_level: str | None = None
    supervisor_id: str | None = None
    region_code: str | None = None
    created_at: datetime | None = None


def _alert_out(row: Any) -> AlertOut:
    return AlertOut(
        alert_id=row["alert_id"],
        status=row["status"],
        body=row["payload"],
        acknowledged_at=row["acknowledged_at"],
        severity=row["severity"],
        rule=row["rule"],
        escalation_level=row["escalation_level"],
        supervisor_id=row["supervisor_id"],
        region_code=row["region_code"] or (row["payload"].get("region") or {}).get("code"),
        created_at=row["created_at"],
    )


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    context: Context,
    principal: CurrentPrincipal,
    status: Annotated[Status | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    region: Annotated[str | None, Query(description="Region code prefix, e.g. `18.71`.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """Alerts within the caller's scope, newest first (admins see all)."""
    if principal.role == "facilitator":
        raise Problem(403, "Forbidden", "alerts are for supervisors")
    query = select(store.alerts).order_by(store.alerts.c.created_at.desc()).limit(limit)
    scope = visible(principal)
    if scope is not None:
        query = query.where(scope)
    if status is not None:
        query = query.where(store.alerts.c.status == status)
    if severity is not None:
        query = query.where(store.alerts.c.severity == severity)
    if region:
        query = query.where(or_(store.alerts.c.region_code == region, store.alerts.c.region_code.like(region + ".%")))
    with context.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [_alert_out(row) for row in rows]


# The live feed's path comes before `/alerts/{alert_id}`, which would otherwise take `stream` for an id.
router.add_api_route("/alerts/stream", stream_alerts, methods=["GET"], response_class=StreamingResponse)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, context: Context, principal: CurrentPrincipal) -> AlertOut:
    """One alert (or an incident by its id, as its `ack_url` names it); 404 if there is none."""
    if principal.role == "facilitator":
        raise Problem(403, "Forbidden", "alerts are for supervisors")
    with context.engine.connect() as connection:
        alert, incident = _alert_or_incident(connection, alert_id)
    if incident is not None:
        if not may_see(principal, supervisor_id=incident["supervisor_id"], region_code=incident["region_code"]):
            raise Problem(403, "Forbidden", "the incident is outside your region")
        return _incident_as_alert(incident)
    if not may_see(principal, supervisor_id=alert["supervisor_id"], region_code=alert["region_code"]):
        raise Problem(403, "Forbidden", "the alert is outside your region")
    return _alert_out(alert)


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
async def acknowledge(alert_id: str, context: Context, principal: CurrentPrincipal) -> AlertOut:
    """Acknowledge an alert: its deviation stops climbing. Repeating it is harmless."""
    now = context.clock()
    settings = context.settings
    with context.engine.begin() as connection:
        alert, incident = _alert_or_incident(connection, alert_id)
        if incident is not None:
            # The `ack_url` of an incident message: acknowledging the incident stops its climb.
            first_time = acknowledge_in_scope(connection, incident, principal, note=None, context=context, now=now)
            out = _incident_as_alert(incident_row(connection, alert_id))
        else:
            if not may_see(principal, supervisor_id=alert["supervisor_id"], region_code=alert["region_code"]):
                raise Problem(403, "Forbidden", "the alert is outside your region")
            first_time = alert_service.acknowledge(
                connection, alert, by=principal.subject, now=now, source=settings.source
            )
            if settings.incidents_enabled:
                incident_id = incident_shell.incident_of(connection, alert["deviation_id"], alert["facilitator_id"])
                incident = incident_row(connection, incident_id) if incident_id else None
                if incident is not None:
                    acknowledge_in_scope(connection, incident, principal, note=None, context=context, now=now)
            row = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().one()
            out = _alert_out(row)
    if first_time:
        context.wake_outbox()
        context.feed.publish(
            {"event": "alert.acknowledged", "alert_id": alert_id, "status": "acknowledged", "body": out.body}
        )
    return out


def _alert_or_incident(connection: Any, alert_id: str) -> tuple[Any, Any]:
    """(the alert, None), else (None, the incident) with this id, as an incident's `ack_url` names it;
    404 if there is neither."""
    alert = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().first()
    if alert is not None:
        return alert, None
    incident = incident_row(connection, alert_id)
    if incident is None:
        raise Problem(404, "Not found", f"no alert {alert_id}")
    return None, incident


def _incident_as_alert(row: Any) -> AlertOut:
    status: Status = (
        "acknowledged"
        if row["status"] == "acknowledged"
        else ("resolved" if row["status"] in ("resolved", "dismissed") else "open")
    )
    return AlertOut(
        alert_id=row["incident_id"],
        status=status,
        body={"incident_id": row["incident_id"], "kind": row["kind"], "items": row["items"]},
        acknowledged_at=row["acknowledged_at"],
        severity=row["severity"],
        rule=row["rule"],
        escalation_level=row["escalation_level"],
        supervisor_id=row["supervisor_id"],
        region_code=row["region_code"],
        created_at=row["created_at"],
    )
