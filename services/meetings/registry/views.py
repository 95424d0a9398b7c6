"""Registry endpoints: `PUT /regions/{code}`, `/supervisors/{id}`, `/facilitators/{id}`, `/groups/{id}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from sqlalchemy import Connection

from services.meetings.deps import Context, CurrentPrincipal, MeetingsContext, require_admin
from services.meetings.registry import service
from services.meetings.registry.models import FacilitatorIn, GroupIn, RegionIn, SupervisorIn, UpsertResult
from shared.events.base import ID_PATTERN, REGION_CODE_PATTERN

router = APIRouter(tags=["registry"])

RegionCodePath = Annotated[str, Path(pattern=REGION_CODE_PATTERN, examples=["18.71.01.1001"])]
EntityIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


def _run_upsert(
    context: MeetingsContext,
    response: Response,
    entity_id: str,
    upsert: Callable[[Connection], service.Outcome],
) -> UpsertResult:
    with context.write() as connection:
        outcome = upsert(connection)
    if outcome != "unchanged":
        context.events_committed()
    response.status_code = 201 if outcome == "created" else 200
    return UpsertResult(id=entity_id, outcome=outcome)


_RESPONSES: dict[int | str, dict[str, Any]] = {201: {"model": UpsertResult, "description": "Created"}}


@router.put("/regions/{code}", response_model=UpsertResult, responses=_RESPONSES)
def put_region(
    code: RegionCodePath, body: RegionIn, context: Context, principal: CurrentPrincipal, response: Response
) -> UpsertResult:
    """Create or update a region (wilayah) by its Kemendagri code."""
    require_admin(principal)
    now = context.clock()
    return _run_upsert(
        context,
        response,
        code,
        lambda c: service.upsert_region(c, code=code, body=body, settings=context.settings, now=now),
    )


@router.put("/supervisors/{supervisor_id}", response_model=UpsertResult, responses=_RESPONSES)
def put_supervisor(
    supervisor_id: EntityIdPath,
    body: SupervisorIn,
    context: Context,
    principal: CurrentPrincipal,
    response: Response,
) -> UpsertResult:
    """Create or update a supervisor and the channels alerts reach them on."""
    require_admin(principal)
    now = context.clock()
    return _run_upsert(
        context,
        response,
        supervisor_id,
        lambda c: service.upsert_supervisor(
            c, supervisor_id=supervisor_id, body=body, settings=context.settings, now=now
        ),
    )


@router.put("/facilitators/{facilitator_id}", response_model=UpsertResult, responses=_RESPONSES)
def put_facilitator(
    facilitator_id: EntityIdPath,
    body: FacilitatorIn,
    context: Context,
    principal: CurrentPrincipal,
    response: Response,
) -> UpsertResult:
    """Create or update a facilitator (pendamping)."""
    require_admin(principal)
    now = context.clock()
    return _run_upsert(
        context,
        response,
        facilitator_id,
        lambda c: service.upsert_facilitator(
            c, facilitator_id=facilitator_id, body=body, settings=context.settings, now=now
        ),
    )


@router.put("/groups/{group_id}", response_model=UpsertResult, responses=_RESPONSES)
def put_group(
    group_id: EntityIdPath, body: GroupIn, context: Context, principal: CurrentPrincipal, response: Response
) -> UpsertResult:
    """Create or update a group with its members (NIKs become pseudonyms), chair and schedule."""
    require_admin(principal)
    now = context.clock()
    return _run_upsert(
        context,
        response,
        group_id,
        lambda c: service.upsert_group(c, group_id=group_id, body=body, settings=context.settings, now=now),
    )
