"""`PUT /plans/{id}` and `POST /activities/{id}/progress`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.meetings.deps import Context, CurrentPrincipal, writer_scope
from services.meetings.plans import service
from services.meetings.plans.models import PlanIn, PlanResult, ProgressIn, ProgressResult
from shared.events.base import ID_PATTERN

router = APIRouter(tags=["plans"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]


@router.put(
    "/plans/{plan_id}",
    response_model=PlanResult,
    responses={201: {"model": PlanResult, "description": "Agreed (first revision)"}},
)
def put_plan(
    plan_id: IdPath, body: PlanIn, context: Context, principal: CurrentPrincipal, response: Response
) -> PlanResult:
    """Agree a plan with the group, or revise it (publishes `plan_revised` with what changed)."""
    scope = writer_scope(principal)
    with context.write() as connection:
        result = service.upsert_plan(
            connection,
            plan_id=plan_id,
            body=body,
            settings=context.settings,
            now=context.clock(),
            facilitator_scope=scope,
        )
    if result.outcome != "unchanged":
        context.events_committed()
    response.status_code = 201 if result.outcome == "agreed" else 200
    return result


@router.post(
    "/activities/{activity_id}/progress",
    status_code=201,
    response_model=ProgressResult,
    responses={200: {"model": ProgressResult, "description": "Identical repeat"}},
)
def post_progress(
    activity_id: IdPath, body: ProgressIn, context: Context, principal: CurrentPrincipal, response: Response
) -> ProgressResult:
    """Report an activity's status and indicator value; idempotent on `progress_id`."""
    scope = writer_scope(principal)
    with context.write() as connection:
        created, result = service.record_progress(
            connection,
            activity_id=activity_id,
            body=body,
            settings=context.settings,
            now=context.clock(),
            facilitator_scope=scope,
        )
    if created:
        context.events_committed()
    else:
        response.status_code = 200
    return result
