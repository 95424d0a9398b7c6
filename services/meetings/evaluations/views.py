"""`POST /evaluations`: 201 the first time, 200 with the same result on an identical repeat."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.meetings.deps import Context, CurrentPrincipal
from services.meetings.evaluations.models import EvaluationIn, EvaluationResult
from services.meetings.evaluations.service import record_evaluation

router = APIRouter(tags=["evaluations"])


@router.post(
    "/evaluations",
    status_code=201,
    response_model=EvaluationResult,
    responses={200: {"model": EvaluationResult, "description": "Identical repeat"}},
)
def post_evaluation(
    body: EvaluationIn, context: Context, principal: CurrentPrincipal, response: Response
) -> EvaluationResult:
    """Submit an evaluation (scores 1–5 per criterion); idempotent on `evaluation_id`."""
    with context.write() as connection:
        created, result = record_evaluation(
            connection, body=body, principal=principal, settings=context.settings, now=context.clock()
        )
    if created:
        context.events_committed()
    else:
        response.status_code = 200
    return result
