"""The incidents API: a supervisor's work queue of incidents (one group's or one facilitator's
deviations as one thing to act on), and what they do with one: mark an item, acknowledge, snooze,
close. The incident's life itself is `incidents.py` and `incident_shell.py`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select, update

from services.notifications import attention, incident_shell, store, work_queue
from services.notifications.api.access import may_see
from services.notifications.api.problems import CONFLICT
from services.notifications.deps import Context, CurrentPrincipal, NotificationsContext
from shared.auth import Principal
from shared.web import Problem

router = APIRouter(tags=["incidents"])


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
    tier: attention.Tier | None = Field(
        default=None,
        description="Where the console puts a live incident: `needs_you` (the few the supervisor should turn "
        "to first), `for_information` (open, but the facilitator's to follow up, or info only), `in_hand` "
        "(acknowledged), `put_aside` (snoozed); `null` once it is over.",
    )
    why: dict[str, str] | None = Field(
        default=None, description="Why it needs the supervisor, in Bahasa Indonesia (`id`) and English (`en`)."
    )


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


def incident_row(connection: Any, incident_id: str) -> Any:
    """The stored incident (None if there is none); the alerts API answers for incident ids too."""
    return (
        connection.execute(select(store.incidents).where(store.incidents.c.incident_id == incident_id))
        .mappings()
        .first()
    )


def acknowledge_in_scope(
    connection: Any,
    incident: Any,
    principal: Principal,
    *,
    note: str | None,
    context: NotificationsContext,
    now: datetime,
) -> bool:
    """Acknowledge an incident the caller may see (403 otherwise): it stops climbing, and so do its
    items' alerts. True the first time."""
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
        _items_in_hand(connection, incident, by=principal.subject, now=now)
    return first_time


def _items_in_hand(connection: Any, incident: Any, *, by: str, now: datetime) -> None:
    """Acknowledge the open alerts of the incident's items, so that none of them climbs."""
    connection.execute(
        update(store.alerts)
        .where(
            store.alerts.c.deviation_id.in_([item["deviation_id"] for item in incident["items"]]),
            store.alerts.c.status == "open",
        )
        .values(status="acknowledged", acknowledged_at=now, acknowledged_by=by, escalate_at=None)
    )


@router.get("/incidents", response_model=list[IncidentOut])
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
        now = context.clock()
        verdicts = attention.judge(work_queue.live_incidents(connection), now)
        return [
            IncidentOut(**_with_texts(connection, row, principal.subject, now=now, verdicts=verdicts))
            for row in rows
            if may_see(principal, supervisor_id=row["supervisor_id"], region_code=row["region_code"])
        ]


def _with_texts(
    connection: Any, row: Any, reader: str, *, now: datetime, verdicts: dict[str, attention.Verdict] | None = None
) -> dict[str, Any]:
    """The incident row with each item's texts, group name and the reader's mark, and where the work
    queue puts it and why (weighed with the facilitator's other live incidents; for the console)."""
    if verdicts is None:
        verdicts = attention.judge(work_queue.live_incidents(connection), now)
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
    verdict = verdicts.get(row["incident_id"])
    return {
        **row,
        "tier": verdict.tier if verdict is not None else None,
        "why": attention.why(verdict, {item["group_id"]: item["group"]["name"] for item in items}) if verdict else None,
        "items": items,
        "facilitator": lead.get("facilitator"),
        "reason": lead.get("message"),
        "freshness": fresh or {"last_sync_at": None, "synced_through": None, "devices": 0, "pending_count": None},
        "attendance": trend,
    }


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: str, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """One incident with its items' texts; 404 if there is none."""
    if principal.role not in ("supervisor", "admin"):
        raise Problem(403, "Forbidden", "only supervisors and admins see incidents")
    with context.engine.connect() as connection:
        incident = _incident_in_scope(connection, incident_id, principal)
        return IncidentOut(**_with_texts(connection, incident, principal.subject, now=context.clock()))


@router.post("/incidents/{incident_id}/feedback", response_model=IncidentOut)
def mark_item(incident_id: str, body: FeedbackIn, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """Mark one item useful or not; counted per rule (`pantau_alert_feedback_total`). A second mark by
    the same reader replaces the first and is not counted again."""
    with context.engine.begin() as connection:
        incident = _incident_in_scope(connection, incident_id, principal)
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
        return IncidentOut(
            **_with_texts(connection, incident_row(connection, incident_id), principal.subject, now=context.clock())
        )


@router.post("/incidents/{incident_id}/ack", response_model=IncidentOut)
def acknowledge_incident(
    incident_id: str, context: Context, principal: CurrentPrincipal, body: AcknowledgeIn | None = None
) -> IncidentOut:
    """Take an incident in hand (with a note): it stops climbing. Repeating it is harmless."""
    now = context.clock()
    with context.engine.begin() as connection:
        incident = incident_row(connection, incident_id)
        if incident is None:
            raise Problem(404, "Not found", f"no incident {incident_id}")
        first_time = acknowledge_in_scope(
            connection, incident, principal, note=body.note if body else None, context=context, now=now
        )
        out = IncidentOut(
            **_with_texts(connection, incident_row(connection, incident_id), principal.subject, now=context.clock())
        )
    if first_time:
        context.wake_outbox()
    return out


def _incident_in_scope(connection: Any, incident_id: str, principal: Principal) -> Any:
    incident = incident_row(connection, incident_id)
    if incident is None:
        raise Problem(404, "Not found", f"no incident {incident_id}")
    if not may_see(principal, supervisor_id=incident["supervisor_id"], region_code=incident["region_code"]):
        raise Problem(403, "Forbidden", "the incident is outside your region")
    return incident


@router.post("/incidents/{incident_id}/snooze", response_model=IncidentOut, responses=CONFLICT)
def snooze_incident(incident_id: str, body: SnoozeIn, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """Put an incident aside until `until` with a reason: it does not climb before then and comes
    back to the work queue after. 409 if it is already resolved or closed."""
    now = context.clock()
    if body.until <= now:
        raise Problem.invalid_field("until", "must be in the future")
    if body.until > now + timedelta(days=30):
        raise Problem.invalid_field("until", "at most 30 days ahead")
    with context.engine.begin() as connection:
        incident = _incident_in_scope(connection, incident_id, principal)
        done = incident_shell.snooze(
            connection, incident_id, by=principal.subject, until=body.until, reason=body.reason,
            policy=context.policy, now=now,
        )  # fmt: skip
        if not done:
            raise Problem(409, "Conflict", f"incident {incident_id} is {incident['status']}")
        return IncidentOut(
            **_with_texts(connection, incident_row(connection, incident_id), principal.subject, now=context.clock())
        )


@router.post("/incidents/{incident_id}/close", response_model=IncidentOut, responses=CONFLICT)
def close_incident(incident_id: str, body: CloseIn, context: Context, principal: CurrentPrincipal) -> IncidentOut:
    """Close an incident with an outcome: it leaves the work queue and stops climbing; repeating it
    is harmless."""
    now = context.clock()
    with context.engine.begin() as connection:
        incident = _incident_in_scope(connection, incident_id, principal)
        if incident["status"] != "closed":
            closed = incident_shell.close(
                connection, incident_id, by=principal.subject, outcome=body.outcome, note=body.note,
                policy=context.policy, now=now,
            )  # fmt: skip
            if not closed:
                raise Problem(409, "Conflict", f"incident {incident_id} is {incident['status']}")
            _items_in_hand(connection, incident, by=principal.subject, now=now)
        return IncidentOut(
            **_with_texts(connection, incident_row(connection, incident_id), principal.subject, now=context.clock())
        )
