"""Plans and progress: validated against the registry and the plan's own dates, stored, and
published to `plans.events` in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.meetings import db, idempotency, outbox
from services.meetings.idempotency import previous_result
from services.meetings.plans.changes import activity_changes
from services.meetings.plans.models import PlanIn, PlanResult, ProgressIn, ProgressResult
from services.meetings.pseudonym import contains_nik_shaped_value
from services.meetings.registry.service import member_ref_of
from services.meetings.scheduling import schedule_plan_periods
from services.meetings.settings import MeetingsSettings
from shared import serde, topics
from shared.events import ActivityProgressed, PlanAgreed, PlannedActivity, PlanRevised
from shared.web import Problem


def _group_for_write(connection: Connection, group_id: str, facilitator_scope: str | None) -> dict[str, object]:
    group = connection.execute(select(db.groups).where(db.groups.c.id == group_id)).mappings().first()
    if group is None:
        raise Problem.invalid_field("group_id", f"no group {group_id}")
    if facilitator_scope is not None and group["facilitator_id"] != facilitator_scope:
        raise Problem(403, "Forbidden", "a facilitator may plan only for their own groups")
    return dict(group)


def _validate_plan(body: PlanIn, group: dict[str, object], *, key: str) -> list[str]:
    if body.ends_on < body.starts_on:
        raise Problem.invalid_field("ends_on", "must not be before starts_on")
    seen: set[str] = set()
    for index, activity in enumerate(body.activities):
        if activity.id in seen:
            raise Problem.invalid_field(f"activities[{index}].id", "listed twice")
        seen.add(activity.id)
        if not body.starts_on <= activity.due_on <= body.ends_on:
            raise Problem.invalid_field(f"activities[{index}].due_on", "must lie within the plan's dates")
        for field, text in (("title", activity.title),):
            if contains_nik_shaped_value(text):
                raise Problem.invalid_field(f"activities[{index}].{field}", "must not contain a national ID")
    agreed_by = [member_ref_of(party, key=key) for party in body.agreed_by]
    members = set(group["member_refs"])  # type: ignore[call-overload]
    if group["facilitator_id"] not in agreed_by:
        raise Problem.invalid_field("agreed_by", "the group's facilitator must agree the plan")
    if not members.intersection(agreed_by):
        raise Problem.invalid_field("agreed_by", "at least one member of the group must agree the plan")
    unknown = [party for party in agreed_by if party != group["facilitator_id"] and party not in members]
    if unknown:
        raise Problem.invalid_field("agreed_by", "every other party must be a member of the group")
    return agreed_by


def upsert_plan(
    connection: Connection,
    *,
    plan_id: str,
    body: PlanIn,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None = None,
) -> PlanResult:
    """Agree a new plan or revise an existing one; an identical repeat changes nothing."""
    group = _group_for_write(connection, body.group_id, facilitator_scope)
    agreed_by = _validate_plan(body, group, key=settings.pseudonym_key)
    fingerprint = idempotency.fingerprint(body)
    existing = connection.execute(select(db.plans).where(db.plans.c.id == plan_id)).mappings().first()
    if existing is not None and existing["group_id"] != body.group_id:
        raise Problem.invalid_field("group_id", f"plan {plan_id} belongs to another group")
    if existing is not None and existing["body_sha256"] == fingerprint:
        return PlanResult(plan_id=plan_id, revision=existing["revision"], outcome="unchanged")
    for index, activity in enumerate(body.activities):
        owner = connection.execute(select(db.activities.c.plan_id).where(db.activities.c.id == activity.id)).first()
        if owner is not None and owner.plan_id != plan_id:
            raise Problem.invalid_field(f"activities[{index}].id", "belongs to another plan")

    activities = tuple(
        PlannedActivity(
            activity_id=activity.id,
            title=activity.title,
            stage=activity.stage,
            due_on=activity.due_on,
            responsible=activity.responsible,
            indicator=activity.indicator.model_dump() if activity.indicator else None,
        )
        for activity in body.activities
    )
    revision = 1 if existing is None else existing["revision"] + 1
    fields = {
        "group_id": body.group_id,
        "plan_id": plan_id,
        "revision": revision,
        "title": body.title,
        "starts_on": body.starts_on,
        "ends_on": body.ends_on,
        "agreed_by": tuple(agreed_by),
        "activities": activities,
    }
    event: PlanAgreed
    if existing is None:
        event = PlanAgreed(**fields)
    else:
        before = existing["plan"]["activities"]
        after = [activity.model_dump(mode="json") for activity in activities]
        event = PlanRevised(**fields, changes=tuple(activity_changes(before, after)))
    stored = {
        "group_id": body.group_id,
        "plan": event.model_dump(mode="json"),
        "revision": revision,
        "body_sha256": fingerprint,
        "updated_at": now,
    }
    if existing is None:
        connection.execute(insert(db.plans).values(id=plan_id, **stored))
    else:
        connection.execute(update(db.plans).where(db.plans.c.id == plan_id).values(**stored))
    connection.execute(delete(db.activities).where(db.activities.c.plan_id == plan_id))
    connection.execute(
        insert(db.activities),
        [{"id": a.id, "plan_id": plan_id, "group_id": body.group_id, "due_on": a.due_on} for a in body.activities],
    )
    envelope = serde.envelope_for(event, source=settings.source, time=now)
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.PLANS_EVENTS)
    # The months the plan covers are months the group was due to meet, even if they are history.
    schedule_plan_periods(connection, group, starts_on=body.starts_on, ends_on=body.ends_on, settings=settings, now=now)
    return PlanResult(plan_id=plan_id, revision=revision, outcome="agreed" if existing is None else "revised")


def record_progress(
    connection: Connection,
    *,
    activity_id: str,
    body: ProgressIn,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None = None,
) -> tuple[bool, ProgressResult]:
    """Store a progress report (idempotent on `progress_id`); True when it was new."""
    activity = connection.execute(select(db.activities).where(db.activities.c.id == activity_id)).mappings().first()
    if activity is None:
        raise Problem(
            404, "Not found", f"no activity {activity_id}", errors=[{"field": "activity_id", "message": "unknown"}]
        )
    # Authorise before answering a repeat: a replay must not reveal another facilitator's record.
    _group_for_write(connection, activity["group_id"], facilitator_scope)
    fingerprint = idempotency.fingerprint(body)
    previous = previous_result(
        connection,
        table=db.progress_reports,
        key_column=db.progress_reports.c.progress_id,
        key=body.progress_id,
        body_sha256=fingerprint,
        field="progress_id",
        result_column=db.progress_reports.c.result,
    )
    if previous is not None:
        return False, ProgressResult.model_validate(previous)
    if body.recorded_at > now + timedelta(seconds=settings.clock_skew_seconds):
        raise Problem.invalid_field("recorded_at", "lies in the future")
    event = ActivityProgressed(
        group_id=activity["group_id"],
        progress_id=body.progress_id,
        plan_id=activity["plan_id"],
        activity_id=activity_id,
        reported_on=body.reported_on,
        status=body.status,
        indicator_value=body.indicator_value,
        recorded_at=body.recorded_at,
        received_at=now,
    )
    result = ProgressResult(
        progress_id=body.progress_id,
        activity_id=activity_id,
        plan_id=activity["plan_id"],
        status=body.status,
        received_at=now,
    )
    try:
        with connection.begin_nested():
            connection.execute(
                insert(db.progress_reports).values(
                    progress_id=body.progress_id,
                    activity_id=activity_id,
                    body_sha256=fingerprint,
                    result=result.model_dump(mode="json"),
                    received_at=now,
                )
            )
    except IntegrityError:
        # A concurrent request with the same progress_id won: answer as its repeat.
        return record_progress(
            connection,
            activity_id=activity_id,
            body=body,
            settings=settings,
            now=now,
            facilitator_scope=facilitator_scope,
        )
    envelope = serde.envelope_for(
        event, source=settings.source, time=now, recorded_at=body.recorded_at, received_at=now
    )
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.PLANS_EVENTS)
    return True, result
