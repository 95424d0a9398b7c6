"""`POST /meetings`: 201 the first time, 200 with the same result on an identical repeat."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.meetings.deps import Context, CurrentPrincipal, writer_scope
from services.meetings.meeting_reports.batch import record_batch
from services.meetings.meeting_reports.models import BatchIn, BatchResult, MeetingIn, MeetingResult
from services.meetings.meeting_reports.service import record_meeting

router = APIRouter(tags=["meetings"])


@router.post(
    "/meetings",
    status_code=201,
    response_model=MeetingResult,
    responses={
        200: {"model": MeetingResult, "description": "Identical repeat of an earlier report"},
        409: {"description": "`device_id` is bound to another facilitator (problem naming `device_id`)"},
    },
)
def post_meeting(body: MeetingIn, context: Context, principal: CurrentPrincipal, response: Response) -> MeetingResult:
    """Record a held meeting with its attendance."""
    scope = writer_scope(principal)
    with context.write() as connection:
        recorded = record_meeting(
            connection, body=body, settings=context.settings, now=context.clock(), facilitator_scope=scope
        )
    context.metrics.meetings_accepted.labels(outcome=recorded.outcome).inc()
    if recorded.outcome == "created":
        context.events_committed()
    else:
        response.status_code = 200
    return recorded.result


@router.post(
    "/meetings/batch",
    response_model=BatchResult,
    responses={
        409: {
            "description": "`device_id` is bound to another facilitator: a device belongs to the facilitator "
            "whose sync first moved its watermark (problem naming `device_id`); nothing is stored"
        }
    },
)
def post_meeting_batch(body: BatchIn, context: Context, principal: CurrentPrincipal) -> BatchResult:
    """Offline sync of up to 500 reports: one result per item (`created`, `duplicate`, `rejected` with
    a problem naming the field), never all-or-nothing; `synced_through` advances the device's sync
    watermark, held back before the earliest rejected item. A device belongs to the facilitator whose
    sync first moved its watermark: another facilitator's use of its id is refused with 409."""
    scope = writer_scope(principal)
    with context.write() as connection:
        result = record_batch(
            connection, body=body, settings=context.settings, now=context.clock(), facilitator_scope=scope
        )
    for outcome, count in result.counts.items():
        if count:
            context.metrics.meetings_accepted.labels(outcome=outcome).inc(count)
    if result.counts["created"] or result.watermark_advanced:
        context.events_committed()
    return result
