"""Offline batch sync: each report succeeds or fails on its own, and the device's sync watermark
(`synced_through`) is stored and published as `meetings.device_synced.v1` for each of the
facilitator's groups, so monitoring can tell a missed meeting from a phone that has not synced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import Connection, insert, select, update

from services.meetings import db, outbox
from services.meetings.meeting_reports.models import BatchIn, BatchItem, BatchResult, MeetingIn
from services.meetings.meeting_reports.service import record_meeting
from services.meetings.settings import MeetingsSettings
from shared import serde, topics
from shared.events import DeviceSynced
from shared.web import Problem, field_path


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_batch(
    connection: Connection,
    *,
    body: BatchIn,
    settings: MeetingsSettings,
    now: datetime,
    facilitator_scope: str | None,
) -> BatchResult:
    """Record every valid report (each in its own savepoint) and advance the device's watermark."""
    owner = facilitator_scope or body.facilitator_id
    if owner is None:
        raise Problem.invalid_field("facilitator_id", "required when an admin syncs on a facilitator's behalf")
    if facilitator_scope is not None and body.facilitator_id not in (None, facilitator_scope):
        raise Problem.invalid_field("facilitator_id", "must be the token's facilitator")
    if connection.execute(select(db.facilitators.c.id).where(db.facilitators.c.id == owner)).first() is None:
        raise Problem.invalid_field("facilitator_id", f"no facilitator {owner}")
    if body.synced_through > now + timedelta(seconds=settings.clock_skew_seconds):
        raise Problem.invalid_field("synced_through", "lies in the future")

    results: list[BatchItem] = []
    for index, raw in enumerate(body.reports):
        report_id = raw.get("report_id") if isinstance(raw.get("report_id"), str) else None
        try:
            report = MeetingIn.model_validate(raw)
        except ValidationError as exc:
            errors = [
                {"field": f"reports[{index}].{field_path(error['loc'])}", "message": error["msg"]}
                for error in exc.errors(include_input=False)
            ]
            problem = Problem(422, "Invalid report", errors[0]["field"] + ": " + errors[0]["message"], errors=errors)
            results.append(BatchItem(index=index, report_id=report_id, outcome="rejected", problem=problem.body()))
            continue
        try:
            with connection.begin_nested():
                recorded = record_meeting(
                    connection, body=report, settings=settings, now=now, facilitator_scope=facilitator_scope
                )
        except Problem as problem:
            prefixed = [{**error, "field": f"reports[{index}].{error['field']}"} for error in problem.errors]
            document = Problem(
                problem.status, problem.title, problem.detail, type_=problem.type, errors=prefixed
            ).body()
            results.append(BatchItem(index=index, report_id=report.report_id, outcome="rejected", problem=document))
            continue
        results.append(
            BatchItem(index=index, report_id=report.report_id, outcome=recorded.outcome, result=recorded.result)
        )

    advanced = _advance_watermark(connection, body=body, owner=owner, settings=settings, now=now)
    counts = {
        outcome: sum(1 for item in results if item.outcome == outcome)
        for outcome in ("created", "duplicate", "rejected")
    }
    return BatchResult(
        device_id=body.device_id,
        synced_through=body.synced_through,
        watermark_advanced=advanced,
        counts=counts,
        results=results,
    )


def _advance_watermark(
    connection: Connection, *, body: BatchIn, owner: str, settings: MeetingsSettings, now: datetime
) -> bool:
    """Move the device's watermark forward (never back) and tell every group of its facilitator."""
    current = connection.execute(
        select(db.device_syncs.c.synced_through).where(db.device_syncs.c.device_id == body.device_id)
    ).first()
    if current is not None and _as_utc(current.synced_through) >= body.synced_through:
        return False
    values = {"facilitator_id": owner, "synced_through": body.synced_through, "received_at": now}
    if current is None:
        connection.execute(insert(db.device_syncs).values(device_id=body.device_id, **values))
    else:
        connection.execute(
            update(db.device_syncs).where(db.device_syncs.c.device_id == body.device_id).values(**values)
        )
    group_ids = connection.execute(select(db.groups.c.id).where(db.groups.c.facilitator_id == owner)).scalars().all()
    envelopes = [
        serde.envelope_for(
            DeviceSynced(
                group_id=group_id,
                facilitator_id=owner,
                device_id=body.device_id,
                synced_through=body.synced_through,
                received_at=now,
            ),
            source=settings.source,
            time=now,
            received_at=now,
        )
        for group_id in sorted(group_ids)
    ]
    outbox.append(connection, envelopes, kafka=settings.kafka, topic=topics.MEETINGS_EVENTS)
    return True
