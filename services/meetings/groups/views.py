"""`GET /groups/{id}`: the group with its recent meetings and open deviations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from services.meetings import db
from services.meetings.deps import Context, CurrentPrincipal
from shared.events.base import ID_PATTERN
from shared.web import Problem, ServedInstant

router = APIRouter(tags=["groups"])


class RecentMeeting(BaseModel):
    report_id: str
    started_at: ServedInstant
    ended_at: ServedInstant
    led_by: str
    facilitator_present: bool
    module: str | None
    present_count: int
    member_count: int


class OpenDeviation(BaseModel):
    deviation_id: str
    rule: str
    severity: str
    detected_at: ServedInstant
    details: dict[str, Any]


class GroupView(BaseModel):
    id: str
    name: str
    programme: str
    facilitator_id: str
    region_code: str
    member_count: int
    chair_member_ref: str | None
    schedule: dict[str, Any] | None
    recent_meetings: list[RecentMeeting]
    open_deviations: list[OpenDeviation]


@router.get("/groups/{group_id}", response_model=GroupView)
def get_group(
    group_id: Annotated[str, Path(pattern=ID_PATTERN)],
    context: Context,
    principal: CurrentPrincipal,
    meetings: Annotated[int, Query(ge=1, le=100, description="How many recent meetings")] = 10,
) -> GroupView:
    """A group as its facilitator and supervisors see it."""
    with context.engine.connect() as connection:
        group = connection.execute(select(db.groups).where(db.groups.c.id == group_id)).mappings().first()
        if group is None:
            raise Problem(
                404, "Not found", f"no group {group_id}", errors=[{"field": "group_id", "message": "unknown"}]
            )
        allowed = (
            principal.role == "admin"
            or (principal.role == "facilitator" and group["facilitator_id"] == principal.subject)
            or (principal.role == "supervisor" and principal.covers_region(group["region_code"]))
        )
        if not allowed:
            raise Problem(403, "Forbidden", "this group is outside your scope")
        records = connection.execute(
            select(db.meetings.c.record)
            .where(db.meetings.c.group_id == group_id)
            .order_by(db.meetings.c.started_at.desc())
            .limit(meetings)
        ).scalars()
        recent = []
        for record in records:
            event = record["event"]
            recent.append(
                RecentMeeting(
                    report_id=event["report_id"],
                    started_at=event["started_at"],
                    ended_at=event["ended_at"],
                    led_by=event["led_by"],
                    facilitator_present=event["facilitator_present"],
                    module=event.get("module"),
                    present_count=record["result"]["present_count"],
                    member_count=record["result"]["member_count"],
                )
            )
        deviations = connection.execute(
            select(db.open_deviations)
            .where(db.open_deviations.c.group_id == group_id)
            .order_by(db.open_deviations.c.detected_at)
        ).mappings()
        open_deviations = [
            OpenDeviation(
                deviation_id=row["deviation_id"],
                rule=row["rule"],
                severity=row["severity"],
                detected_at=row["detected_at"],
                details=row["details"],
            )
            for row in deviations
        ]
    return GroupView(
        id=group["id"],
        name=group["name"],
        programme=group["programme"],
        facilitator_id=group["facilitator_id"],
        region_code=group["region_code"],
        member_count=len(group["member_refs"]),
        chair_member_ref=group["chair_member_ref"],
        schedule=group["schedule"],
        recent_meetings=recent,
        open_deviations=open_deviations,
    )
