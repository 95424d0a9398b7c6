"""Recording evaluations: validated against the registry, idempotent on `evaluation_id`, published to
`evaluations.events` in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from services.meetings import db, idempotency, outbox
from services.meetings.evaluations.models import EvaluationIn, EvaluationResult
from services.meetings.idempotency import previous_result
from services.meetings.pseudonym import contains_nik_shaped_value
from services.meetings.settings import MeetingsSettings
from shared import serde, topics
from shared.auth import Principal
from shared.events import EvaluationSubmitted
from shared.web import Problem


def _may_submit(principal: Principal, body: EvaluationIn, group: dict[str, object]) -> None:
    """Facilitators submit for their own groups (both directions, the group's via the field app);
    supervisors rate facilitators in their region; admins anything."""
    if principal.role == "admin":
        return
    if principal.role == "facilitator":
        if body.direction == "supervisor_rates_facilitator" or group["facilitator_id"] != principal.subject:
            raise Problem(403, "Forbidden", "a facilitator submits evaluations only for their own groups")
        return
    if body.direction != "supervisor_rates_facilitator" or not principal.covers_region(str(group["region_code"])):
        raise Problem(403, "Forbidden", "a supervisor rates facilitators within their region")


def record_evaluation(
    connection: Connection,
    *,
    body: EvaluationIn,
    principal: Principal,
    settings: MeetingsSettings,
    now: datetime,
) -> tuple[bool, EvaluationResult]:
    """Store an evaluation and stage its event; True when it was new."""
    group = connection.execute(select(db.groups).where(db.groups.c.id == body.group_id)).mappings().first()
    if group is None:
        raise Problem.invalid_field("group_id", f"no group {body.group_id}")
    if group["facilitator_id"] != body.facilitator_id:
        raise Problem.invalid_field("facilitator_id", "is not the group's facilitator")
    # Authorise before answering a repeat: a replay must not reveal another facilitator's record.
    _may_submit(principal, body, dict(group))
    fingerprint = idempotency.fingerprint(body)
    previous = previous_result(
        connection,
        table=db.evaluations,
        key_column=db.evaluations.c.evaluation_id,
        key=body.evaluation_id,
        body_sha256=fingerprint,
        field="evaluation_id",
        result_column=db.evaluations.c.result,
    )
    if previous is not None:
        return False, EvaluationResult.model_validate(previous)
    if body.comment and contains_nik_shaped_value(body.comment):
        raise Problem.invalid_field("comment", "must not contain a national ID")
    if body.recorded_at > now + timedelta(seconds=settings.clock_skew_seconds):
        raise Problem.invalid_field("recorded_at", "lies in the future")
    mean = round(sum(body.scores.values()) / len(body.scores), 3)
    event = EvaluationSubmitted(
        group_id=body.group_id,
        evaluation_id=body.evaluation_id,
        facilitator_id=body.facilitator_id,
        programme=group["programme"],
        region_code=group["region_code"],
        direction=body.direction,
        period=body.period,
        scores=dict(body.scores),
        mean_score=mean,
        comment=body.comment,
        recorded_at=body.recorded_at,
        received_at=now,
    )
    result = EvaluationResult(
        evaluation_id=body.evaluation_id,
        group_id=body.group_id,
        direction=body.direction,
        mean_score=mean,
        received_at=now,
    )
    try:
        with connection.begin_nested():
            connection.execute(
                insert(db.evaluations).values(
                    evaluation_id=body.evaluation_id,
                    group_id=body.group_id,
                    body_sha256=fingerprint,
                    result=result.model_dump(mode="json"),
                    received_at=now,
                )
            )
    except IntegrityError:
        return record_evaluation(connection, body=body, principal=principal, settings=settings, now=now)
    envelope = serde.envelope_for(
        event, source=settings.source, time=now, recorded_at=body.recorded_at, received_at=now
    )
    outbox.append(connection, [envelope], kafka=settings.kafka, topic=topics.EVALUATIONS_EVENTS)
    return True, result
