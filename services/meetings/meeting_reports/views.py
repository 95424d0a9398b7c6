"""`POST /meetings`: 201 the first time, 200 with the same result on an identical repeat."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.meetings.deps import Context, CurrentPrincipal
from services.meetings.meeting_reports.models import MeetingIn, MeetingResult
from services.meetings.meeting_reports.service import record_meeting
from shared.web import Problem

router = APIRouter(tags=["meetings"])


@router.post(
    "/meetings",
    status_code=201,
    response_model=MeetingResult,
    responses={200: {"model": MeetingResult, "description": "Identical repeat of an earlier report"}},
)
def post_meeting(body: MeetingIn, context: Context, principal: CurrentPrincipal, response: Response) -> MeetingResult:
    """Record a held meeting with its attendance."""
    if principal.role == "supervisor":
        raise Problem(403, "Forbidden", "supervisors read; facilitators and admins report meetings")
    scope = principal.subject if principal.role == "facilitator" else None
    with context.engine.begin() as connection:
        recorded = record_meeting(
            connection, body=body, settings=context.settings, now=context.clock(), facilitator_scope=scope
        )
    context.metrics.meetings_accepted.labels(outcome=recorded.outcome).inc()
    if recorded.outcome == "created":
        context.events_committed()
    else:
        response.status_code = 200
    return recorded.result
