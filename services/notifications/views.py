"""HTTP endpoints: the supervisors' alerts API, the live feed, the delivery log and the console.

Who sees and acknowledges what (supervisor tokens carry `scope`, a region code, `*` nationally):
an alert is visible to — and may be acknowledged by — its own supervisor, any supervisor whose
scope contains the alert's region (a provincial supervisor covers every kabupaten alert of the
province; a national one with scope `*` covers all), and admins. Acknowledging at any level stops
the deviation's escalation chain. Facilitators see no alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import ColumnElement, or_, select, update

from services.notifications import alerts as alert_service
from services.notifications import incident_shell, store, work_queue
from services.notifications.channels.feed import FeedHub
from services.notifications.deps import Context, CurrentPrincipal, NotificationsContext
from shared import regions
from shared.auth import InvalidToken, Principal, read_token
from shared.web import PROBLEM_JSON, Problem

log = logging.getLogger(__name__)

# Every refusal is RFC 9457 problem details (`shared.web.Problem`); the OpenAPI document says so for
# each operation, so a client (and the fuzzing run) knows the shape of a 4xx before meeting one.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEMS = {
    401: "No valid bearer token",
    403: "Outside the caller's role or region",
    404: "No such alert, incident or delivery",
    422: "A named field is invalid",
    503: "The service is starting",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    for status, text in _PROBLEMS.items()
}

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=PROBLEM_RESPONSES)
console_router = APIRouter(tags=["console"])
CONSOLE_PAGE = Path(__file__).parent / "console" / "index.html"

Status = Literal["open", "acknowledged", "resolved"]
Severity = Literal["info", "warning", "critical"]


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


class DeliveryOut(BaseModel):
    """One entry of the delivery log."""

    message_id: str
    alert_id: str
    channel: str
    kind: str | None
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    replayed_at: datetime | None


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


def _covers(scope: str, region_code: str | None) -> bool:
    if scope == "*":
        return True
    return bool(region_code) and (region_code == scope or str(region_code).startswith(scope + "."))


def may_see(principal: Principal, *, supervisor_id: str | None, region_code: str | None) -> bool:
    """The scoping rule of this module's docstring, for one alert."""
    if principal.role == "admin":
        return True
    if principal.role != "supervisor":
        return False
    return principal.subject == supervisor_id or _covers(principal.scope, region_code)


def _visible(principal: Principal) -> ColumnElement[bool] | None:
    if principal.role == "admin" or principal.scope == "*":
        return None
    return or_(
        store.alerts.c.supervisor_id == principal.subject,
        store.alerts.c.region_code == principal.scope,
        store.alerts.c.region_code.like(principal.scope + ".%"),
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
    scope = _visible(principal)
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


@router.get("/alerts/stream", response_class=StreamingResponse)
async def stream_alerts(
    request: Request,
    context: Context,
    token: Annotated[str | None, Query(description="Bearer token, for clients that cannot set headers.")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    region: Annotated[str | None, Query(description="Region code prefix.")] = None,
) -> StreamingResponse:
    """The live feed as server-sent events: one `data:` JSON per alert change within scope."""
    principal = await _stream_principal(request, context, token)
    if principal.role == "facilitator":
        raise Problem(403, "Forbidden", "alerts are for supervisors")
    severities = set(severity or ())

    def wants(item: dict[str, Any]) -> bool:
        body = item.get("body") or {}
        region_code = (body.get("region") or {}).get("code")
        if severities and body.get("severity") not in severities:
            return False
        if region and not _covers(region, region_code):
            return False
        return may_see(principal, supervisor_id=body.get("supervisor_id"), region_code=region_code)

    hub: FeedHub = context.feed
    subscriber = hub.subscribe(wants)
    heartbeat = context.settings.feed_heartbeat_seconds
    log.info("feed opened for %s (%s)", principal.subject, principal.role)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 3000\n: connected\n\n"
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(subscriber.queue.get(), timeout=heartbeat)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield b"data: " + orjson.dumps(item) + b"\n\n"
        finally:
            hub.unsubscribe(subscriber)
            log.info("feed closed for %s", principal.subject)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def _stream_principal(request: Request, context: NotificationsContext, token: str | None) -> Principal:
    if token:
        try:
            return read_token(context.settings.auth, token)
        except InvalidToken as exc:
            raise Problem(401, "Unauthorized", str(exc)) from exc
    return await context.authenticate(request)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, context: Context, principal: CurrentPrincipal) -> AlertOut:
    """One alert (or an incident by its id, as its `ack_url` names it); 404 if there is none."""
    if principal.role == "facilitator":
        raise Problem(403, "Forbidden", "alerts are for supervisors")
    with context.engine.connect() as connection:
        alert = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().first()
        if alert is None:
            incident = _incident_row(connection, alert_id)
            if incident is None:
                raise Problem(404, "Not found", f"no alert {alert_id}")
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
        alert = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().first()
        if alert is None:
            incident = _incident_row(connection, alert_id)
            if incident is None:
                raise Problem(404, "Not found", f"no alert {alert_id}")
            # The `ack_url` of an incident message: acknowledging the incident stops its climb.
            first_time = _acknowledge_incident(connection, incident, principal, note=None, context=context, now=now)
            out = _incident_as_alert(_incident_row(connection, alert_id))
        else:
            if not may_see(principal, supervisor_id=alert["supervisor_id"], region_code=alert["region_code"]):
                raise Problem(403, "Forbidden", "the alert is outside your region")
            first_time = alert_service.acknowledge(
                connection, alert, by=principal.subject, now=now, source=settings.source
            )
            if settings.incidents_enabled:
                incident_id = incident_shell.incident_of(connection, alert["deviation_id"], alert["facilitator_id"])
                incident = _incident_row(connection, incident_id) if incident_id else None
                if incident is not None:
                    _acknowledge_incident(connection, incident, principal, note=None, context=context, now=now)
            row = connection.execute(select(store.alerts).where(store.alerts.c.alert_id == alert_id)).mappings().one()
            out = _alert_out(row)
    if first_time:
        context.wake_outbox()
        context.feed.publish(
            {"event": "alert.acknowledged", "alert_id": alert_id, "status": "acknowledged", "body": out.body}
        )
    return out


class FreshnessOut(BaseModel):
    """How current the facilitator's data is: the last sync of any of their devices."""

    last_sync_at: datetime | None
    synced_through: datetime | None
    devices: int
    pending_count: int | None = Field(
        default=None,
        description="Items still waiting on the facilitator's phones after their latest syncs (`null`: "
        "the field app did not say).",
    )


class IncidentOut(BaseModel):
    """An incident: one group's (or one facilitator's) deviations as one thing to act on."""

    incident_id: str
    kind: str
    subject_id: str
    facilitator_id: str
    supervisor_id: str
    escalation_level: str
    region_code: str | None
    status: str
    severity: str
    rule: str
    items: list[dict[str, Any]]
    detected_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None
    resolved_at: datetime | None
    snoozed_until: datetime | None = None
    snooze_reason: str | None = None
    outcome: str | None = None
    facilitator: dict[str, Any] | None = None
    reason: dict[str, str] | None = None
    freshness: FreshnessOut | None = None
    attendance: dict[str, list[float]] = {}


class SnoozeIn(BaseModel):
    """Put an incident aside until a moment, saying why (at most 30 days ahead)."""

    reason: str = Field(min_length=1, max_length=500)
    until: AwareDatetime


Outcome = Literal["followed_up", "resolved_in_field", "not_a_problem", "data_error"]


class CloseIn(BaseModel):
    """Close an incident: what came of it (`followed_up`, `resolved_in_field`, `not_a_problem`,
    `data_error`) and an optional note."""

    outcome: Outcome
    note: str | None = Field(default=None, max_length=1000)


class FeedbackIn(BaseModel):
    """A reader's mark on one item of an incident."""

    deviation_id: str
    useful: bool


class AcknowledgeIn(BaseModel):
    """What a supervisor says when taking an incident in hand."""

    note: str | None = Field(default=None, max_length=1000)


def _incident_row(connection: Any, incident_id: str) -> Any:
    return (
        connection.execute(select(store.incidents).where(store.incidents.c.incident_id == incident_id))
        .mappings()
        .first()
    )


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


def _acknowledge_incident(
    connection: Any,
    incident: Any,
    principal: Principal,
    *,
    note: str | None,
    context: NotificationsContext,
    now: datetime,
) -> bool:
    if not may_see(principal, supervisor_id=incident["supervisor_id"], region_code=incident["region_code"]):
        raise Problem(403, "Forbidden", "the incident is outside your region")
    first_time = incident_shell.acknowledge(
        connection,
        incident["incident_id"],
        by=principal.subject,
        note=note,
        policy=context.policy,
        now=now,
    )
    if first_time:
        # Its items' own alerts are in hand too (the console's cards); the incident's
        # `alert_acknowledged` is the one event, so no event per item.
        connection.execute(
            update(store.alerts)
            .where(
                store.alerts.c.deviation_id.in_([item["deviation_id"] for item in incident["items"]]),
                store.alerts.c.status == "open",
            )
            .values(status="acknowledged", acknowledged_at=now, acknowledged_by=principal.subject, escalate_at=None)
        )
    return first_time


@router.get("/incidents", response_model=list[IncidentOut], tags=["incidents"])
def list_incidents(
    context: Context,
    principal: CurrentPrincipal,
    status: Annotated[list[str] | None, Query(description="pending, open, acknowledged, resolved, dismissed")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[IncidentOut]:
    """The incidents in the caller's scope, newest first."""
    if principal.role not in ("supervisor", "admin"):
        raise Problem(403, "Forbidden", "only supervisors and admins see incidents")
    query = select(store.incidents).order_by(store.incidents.c.updated_at.desc()).limit(limit)
    if status:
        query = query.where(store.incidents.c.status.in_(status))
    with context.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
        return [
            IncidentOut(**_with_texts(connection, row, principal.subject))
            for row in rows
            if may_see(principal, supervisor_id=row["supervisor_id"], region_code=row["region_code"])
        ]


def _with_texts(connection: Any, row: Any, reader: str) -> dict[str, Any]:
    """The incident row with each item's texts, group name and the reader's mark (for the console)."""
    ids = [item["deviation_id"] for item in row["items"]]
    payloads = {
        alert.deviation_id: alert.payload
        for alert in connection.execute(
            select(store.alerts.c.deviation_id, store.alerts.c.payload).where(store.alerts.c.deviation_id.in_(ids))
        )
    }
    marks = {
        mark.deviation_id: bool(mark.useful)
        for mark in connection.execute(
            select(store.item_feedback.c.deviation_id, store.item_feedback.c.useful).where(
                store.item_feedback.c.deviation_id.in_(ids), store.item_feedback.c.supervisor_id == reader
            )
        )
    }
    items = []
    for item in row["items"]:
        payload = payloads.get(item["deviation_id"]) or {}
        items.append(
            {
                **item,
                "message": payload.get("message"),
                "group": payload.get("group") or {"id": item["group_id"], "name": item["group_id"]},
                "useful": marks.get(item["deviation_id"]),
            }
        )
    lead = payloads.get(row["deviation_id"]) or {}
    fresh = work_queue.freshness(connection, [row["facilitator_id"]]).get(row["facilitator_id"])
    trend = work_queue.attendance_trend(connection, {item["group_id"] for item in row["items"]})
    return {
        **row,
        "items": items,
        "facilitator": lead.get("facilitator"),
        "reason": lead.get("message"),
        "freshness": fresh or {"last_sync_at": None, "synced_through": None, "devices": 0, "pending_count": None},
        "attendance": trend,
    }


@router.get("/incidents/{incident_id}", response_model=IncidentOut, tags=["incidents"])
def get_incident(incident_id: str, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """One incident with its items' texts; 404 if there is none."""
    if principal.role not in ("supervisor", "admin"):
        raise Problem(403, "Forbidden", "only supervisors and admins see incidents")
    with context.engine.connect() as connection:
        incident = _incident_row(connection, incident_id)
        if incident is None:
            raise Problem(404, "Not found", f"no incident {incident_id}")
        if not may_see(principal, supervisor_id=incident["supervisor_id"], region_code=incident["region_code"]):
            raise Problem(403, "Forbidden", "the incident is outside your region")
        return IncidentOut(**_with_texts(connection, incident, principal.subject))


@router.post("/incidents/{incident_id}/feedback", response_model=IncidentOut, tags=["incidents"])
def mark_item(incident_id: str, body: FeedbackIn, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """Mark one item useful or not; counted per rule (`pantau_alert_feedback_total`). A second mark by
    the same reader replaces the first and is not counted again."""
    with context.engine.begin() as connection:
        incident = _incident_row(connection, incident_id)
        if incident is None:
            raise Problem(404, "Not found", f"no incident {incident_id}")
        if not may_see(principal, supervisor_id=incident["supervisor_id"], region_code=incident["region_code"]):
            raise Problem(403, "Forbidden", "the incident is outside your region")
        item = next((item for item in incident["items"] if item["deviation_id"] == body.deviation_id), None)
        if item is None:
            raise Problem.invalid_field("deviation_id", "not an item of this incident")
        table = store.item_feedback
        key = (table.c.deviation_id == body.deviation_id) & (table.c.supervisor_id == principal.subject)
        changed = connection.execute(
            update(table).where(key).values(useful=int(body.useful), marked_at=context.clock())
        ).rowcount
        if not changed:
            connection.execute(
                table.insert().values(
                    deviation_id=body.deviation_id, supervisor_id=principal.subject, incident_id=incident_id,
                    rule=item["rule"], useful=int(body.useful), marked_at=context.clock(),
                )
            )  # fmt: skip
            context.metrics.feedback.labels(item["rule"], "useful" if body.useful else "not_useful").inc()
        return IncidentOut(**_with_texts(connection, _incident_row(connection, incident_id), principal.subject))


@router.post("/incidents/{incident_id}/ack", response_model=IncidentOut, tags=["incidents"])
def acknowledge_incident(
    incident_id: str, context: Context, principal: CurrentPrincipal, body: AcknowledgeIn | None = None
) -> IncidentOut:
    """Take an incident in hand (with a note): it stops climbing. Repeating it is harmless."""
    now = context.clock()
    with context.engine.begin() as connection:
        incident = _incident_row(connection, incident_id)
        if incident is None:
            raise Problem(404, "Not found", f"no incident {incident_id}")
        first_time = _acknowledge_incident(
            connection, incident, principal, note=body.note if body else None, context=context, now=now
        )
        out = IncidentOut(**_with_texts(connection, _incident_row(connection, incident_id), principal.subject))
    if first_time:
        context.wake_outbox()
    return out


def _live_incident_in_scope(connection: Any, incident_id: str, principal: Principal) -> Any:
    incident = _incident_row(connection, incident_id)
    if incident is None:
        raise Problem(404, "Not found", f"no incident {incident_id}")
    if not may_see(principal, supervisor_id=incident["supervisor_id"], region_code=incident["region_code"]):
        raise Problem(403, "Forbidden", "the incident is outside your region")
    return incident


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already resolved or closed", "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
}


@router.post("/incidents/{incident_id}/snooze", response_model=IncidentOut, tags=["incidents"], responses=_CONFLICT)
def snooze_incident(incident_id: str, body: SnoozeIn, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """Put an incident aside until `until` with a reason: it does not climb before then and comes
    back to the work queue after. 409 if it is already resolved or closed."""
    now = context.clock()
    if body.until <= now:
        raise Problem.invalid_field("until", "must be in the future")
    if body.until > now + timedelta(days=30):
        raise Problem.invalid_field("until", "at most 30 days ahead")
    with context.engine.begin() as connection:
        incident = _live_incident_in_scope(connection, incident_id, principal)
        done = incident_shell.snooze(
            connection, incident_id, by=principal.subject, until=body.until, reason=body.reason,
            policy=context.policy, now=now,
        )  # fmt: skip
        if not done:
            raise Problem(409, "Conflict", f"incident {incident_id} is {incident['status']}")
        return IncidentOut(**_with_texts(connection, _incident_row(connection, incident_id), principal.subject))


@router.post("/incidents/{incident_id}/close", response_model=IncidentOut, tags=["incidents"], responses=_CONFLICT)
def close_incident(incident_id: str, body: CloseIn, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """Close an incident with an outcome: it leaves the work queue and stops climbing; repeating it
    is harmless."""
    now = context.clock()
    with context.engine.begin() as connection:
        incident = _live_incident_in_scope(connection, incident_id, principal)
        if incident["status"] != "closed":
            closed = incident_shell.close(
                connection, incident_id, by=principal.subject, outcome=body.outcome, note=body.note,
                policy=context.policy, now=now,
            )  # fmt: skip
            if not closed:
                raise Problem(409, "Conflict", f"incident {incident_id} is {incident['status']}")
            connection.execute(
                update(store.alerts)
                .where(
                    store.alerts.c.deviation_id.in_([item["deviation_id"] for item in incident["items"]]),
                    store.alerts.c.status == "open",
                )
                .values(status="acknowledged", acknowledged_at=now, acknowledged_by=principal.subject, escalate_at=None)
            )
        return IncidentOut(**_with_texts(connection, _incident_row(connection, incident_id), principal.subject))


class OverviewRow(BaseModel):
    """One line of a drill-down level."""

    kind: work_queue.RowKind
    id: str
    name: str
    groups: int
    reporting: int
    compliance: float | None
    attention: int
    last_sync_at: datetime | None = None
    pending_count: int | None = None  # items still waiting on a facilitator's phones (null: not said)
    attendance: list[float] = []


class OverviewOut(BaseModel):
    """A level of the drill-down: where it is (`path`, outermost first) and its rows."""

    level: Literal["nasional", "provinsi", "kabupaten", "facilitator"]
    code: str | None
    name: str
    path: list[dict[str, str | None]]
    top: str | None = None  # the widest region the caller may open (None: the whole country)
    totals: OverviewRow
    rows: list[OverviewRow]


@router.get("/overview", response_model=OverviewOut, tags=["incidents"])
def overview(
    context: Context,
    principal: CurrentPrincipal,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{2}(\.[0-9]{2})?$", description="`18` or `18.71`")] = None,
    facilitator: Annotated[str | None, Query(max_length=80)] = None,
) -> OverviewOut:
    """Drill down national → province → kabupaten → facilitator → group, with compliance (share
    of groups reporting a meeting in the last 35 days) and groups needing attention per row."""
    if principal.role not in ("supervisor", "admin"):
        raise Problem(403, "Forbidden", "only supervisors and admins see the overview")
    now = context.clock()
    with context.engine.connect() as connection:
        if facilitator is not None:
            row = (
                connection.execute(select(store.facilitators).where(store.facilitators.c.id == facilitator))
                .mappings()
                .first()
            )
            if row is None:
                raise Problem(404, "Not found", f"no facilitator {facilitator}")
            groups = work_queue.groups_under(connection, region=None, facilitator=facilitator)
            if principal.role != "admin" and principal.scope != "*":
                groups = [group for group in groups if _covers(principal.scope, group.region_code)]
                if not groups:
                    raise Problem(403, "Forbidden", "the facilitator's groups are outside your region")
            level: Literal["nasional", "provinsi", "kabupaten", "facilitator"] = "facilitator"
            code: str | None = facilitator
            name = str(row["name"])
            path_codes = _path(regions.kabupaten_of(str(row["region_code"])))
        else:
            start = region or (None if principal.role == "admin" or principal.scope == "*" else principal.scope)
            if start is not None and not (principal.role == "admin" or _covers(principal.scope, start)):
                raise Problem(403, "Forbidden", "the region is outside your scope")
            groups = work_queue.groups_under(connection, region=start, facilitator=None)
            if start is not None and not groups and not _region_known(connection, start):
                raise Problem(404, "Not found", f"no region {start}")
            level = "nasional" if start is None else ("provinsi" if "." not in start else "kabupaten")
            code = start
            path_codes = _path(start)
            name = ""
        ids = [group.group_id for group in groups]
        reporting = work_queue.reporting_groups(connection, ids, now)
        attention = work_queue.groups_needing_attention(connection)
        keys = {work_queue.child_key(level, group) for group in groups}
        names = work_queue.names_for(connection, keys | {("region", c) for c in path_codes})
        rows = work_queue.summarise(level, groups, reporting=reporting, attention=attention, names=names)
        fresh = work_queue.freshness(connection, [r.id for r in rows if r.kind == "facilitator"])
        trends = work_queue.attendance_trend(connection, [r.id for r in rows if r.kind == "group"])
    if level != "facilitator":
        name = names.get(code or "", code or "") if code else "Indonesia"
    totals = work_queue.Row(
        "region", code or "*", name, len(groups), len(reporting & set(ids)), len(attention & set(ids))
    )
    return OverviewOut(
        level=level,
        code=code,
        name=name,
        path=[{"code": c, "name": names.get(c, c)} for c in path_codes],
        top=None if principal.role == "admin" or principal.scope == "*" else principal.scope,
        totals=_overview_row(totals, {}, {}),
        rows=[_overview_row(r, fresh, trends) for r in rows],
    )


def _overview_row(row: work_queue.Row, fresh: dict[str, Any], trends: dict[str, list[float]]) -> OverviewRow:
    return OverviewRow(
        kind=row.kind, id=row.id, name=row.name, groups=row.groups, reporting=row.reporting,
        compliance=row.compliance, attention=row.attention,
        last_sync_at=(fresh.get(row.id) or {}).get("last_sync_at"),
        pending_count=(fresh.get(row.id) or {}).get("pending_count"), attendance=trends.get(row.id, []),
    )  # fmt: skip


def _path(code: str | None) -> list[str]:
    """The regions above and including `code`, outermost first (province, kabupaten)."""
    if code is None:
        return []
    return list(reversed([part for part in regions.ancestors(code) if len(part.split(".")) <= 2]))


def _region_known(connection: Any, code: str) -> bool:
    known = connection.execute(select(store.regions.c.code).where(store.regions.c.code == code)).first()
    return known is not None or ("." not in code and regions.province_name(code) is not None)


@router.get("/deliveries", response_model=list[DeliveryOut], tags=["deliveries"])
def list_deliveries(
    context: Context,
    principal: CurrentPrincipal,
    status: Annotated[Literal["pending", "delivered", "failed", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeliveryOut]:
    """The delivery log (admins): every message on every channel, newest first."""
    _require_admin(principal)
    query = select(store.deliveries).order_by(store.deliveries.c.updated_at.desc()).limit(limit)
    if status is not None:
        query = query.where(store.deliveries.c.status == status)
    with context.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [DeliveryOut.model_validate(dict(row)) for row in rows]


@router.post("/deliveries/{message_id}/replay", response_model=DeliveryOut, tags=["deliveries"])
def replay_delivery(message_id: str, context: Context, principal: CurrentPrincipal) -> DeliveryOut:
    """Queue a message again (admins), with the same `message_id`/`webhook-id` and a fresh retry budget."""
    _require_admin(principal)
    with context.engine.begin() as connection:
        row = replay(connection, message_id, now=context.clock())
    if row is None:
        raise Problem(404, "Not found", f"no delivery {message_id}")
    log.info("delivery %s replayed by %s", message_id, principal.subject)
    context.wake_delivery()
    return DeliveryOut.model_validate(dict(row))


def replay(connection: Any, message_id: str, *, now: datetime) -> Any:
    """Reset one delivery to pending (shared with the `replay` CLI); None if there is no such row."""
    found = connection.execute(
        update(store.deliveries)
        .where(store.deliveries.c.message_id == message_id)
        .values(status="pending", attempts=0, next_attempt_at=now, replayed_at=now, updated_at=now)
    ).rowcount
    if not found:
        return None
    return (
        connection.execute(select(store.deliveries).where(store.deliveries.c.message_id == message_id)).mappings().one()
    )


def _require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Problem(403, "Forbidden", "the delivery log is for admins")


@console_router.get("/console", include_in_schema=False)
async def console() -> FileResponse:
    """The supervisor console: one static page (HTML + JS, no build step)."""
    return FileResponse(CONSOLE_PAGE, media_type="text/html")
