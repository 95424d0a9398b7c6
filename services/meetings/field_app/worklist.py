"""The facilitator's worklist: their groups with members, due meetings, plan activities and open
deviations, plus the programmes' modules, read in one call so the device can work offline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Connection, select

from services.meetings import db
from services.meetings.field_app.models import (
    Activity,
    Member,
    OpenDeviation,
    Programme,
    RecentMeeting,
    Scheduled,
    WorkGroup,
    Worklist,
)
from services.meetings.scheduling import period_of
from shared import regions
from shared.web import Problem

PROGRAMMES_FILE = Path(__file__).resolve().parent.parent / "programmes.yaml"
RECENT_MEETINGS = 3


@cache
def programmes() -> dict[str, Programme]:
    """The field app's part of each programme's configuration (`services/meetings/programmes.yaml`)."""
    raw = yaml.safe_load(PROGRAMMES_FILE.read_text())
    return {programme_id: Programme.model_validate(body) for programme_id, body in raw.items()}


def build_worklist(connection: Connection, *, facilitator_id: str, now: datetime) -> Worklist:
    """One facilitator's worklist as of `now`."""
    facilitator = (
        connection.execute(select(db.facilitators).where(db.facilitators.c.id == facilitator_id)).mappings().first()
    )
    if facilitator is None:
        raise Problem(
            404,
            "Not found",
            f"no facilitator {facilitator_id}",
            errors=[{"field": "facilitator_id", "message": "unknown"}],
        )
    rows = (
        connection.execute(
            select(db.groups).where(db.groups.c.facilitator_id == facilitator_id).order_by(db.groups.c.name)
        )
        .mappings()
        .all()
    )
    ids = [row["id"] for row in rows]
    scheduled = _by_group(
        connection.execute(
            select(db.scheduled_meetings)
            .where(db.scheduled_meetings.c.group_id.in_(ids))
            .order_by(db.scheduled_meetings.c.period)
        ).mappings()
    )
    meetings = _by_group(
        connection.execute(
            select(db.meetings.c.group_id, db.meetings.c.record, db.meetings.c.started_at)
            .where(db.meetings.c.group_id.in_(ids))
            .order_by(db.meetings.c.started_at.desc())
        ).mappings()
    )
    deviations = _by_group(
        connection.execute(
            select(db.open_deviations)
            .where(db.open_deviations.c.group_id.in_(ids))
            .order_by(db.open_deviations.c.detected_at)
        ).mappings()
    )
    activities = _activities(connection, ids)
    groups = []
    for row in rows:
        time_zone = regions.time_zone_of(row["region_code"])
        group_meetings = meetings.get(row["id"], [])
        cadence = (row["schedule"] or {}).get("cadence", "monthly")
        reported_periods = {_period(m["record"]["event"]["started_at"], time_zone, cadence) for m in group_meetings}
        names = row["member_names"] or {}
        groups.append(
            WorkGroup(
                id=row["id"],
                name=row["name"],
                programme=row["programme"],
                region_code=row["region_code"],
                time_zone=time_zone,
                chair_member_ref=row["chair_member_ref"],
                cadence=cadence,
                members=[Member(member_ref=ref, display_name=names.get(ref)) for ref in row["member_refs"]],
                scheduled=[
                    Scheduled(period=s["period"], due_at=_as_utc(s["due_at"]), reported=s["period"] in reported_periods)
                    for s in scheduled.get(row["id"], [])
                ],
                recent_meetings=[
                    RecentMeeting(
                        report_id=m["record"]["event"]["report_id"],
                        started_at=m["record"]["event"]["started_at"],
                        led_by=m["record"]["event"]["led_by"],
                        present_count=m["record"]["result"]["present_count"],
                        member_count=m["record"]["result"]["member_count"],
                    )
                    for m in group_meetings[:RECENT_MEETINGS]
                ],
                open_deviations=[
                    OpenDeviation(
                        deviation_id=d["deviation_id"],
                        rule=d["rule"],
                        severity=d["severity"],
                        detected_at=_as_utc(d["detected_at"]),
                    )
                    for d in deviations.get(row["id"], [])
                ],
                activities=activities.get(row["id"], []),
            )
        )
    return Worklist(
        facilitator_id=facilitator_id,
        facilitator_name=facilitator["name"],
        programme=facilitator["programme"],
        time_zone=regions.time_zone_of(facilitator["region_code"]),
        generated_at=now,
        programmes=programmes(),
        groups=groups,
    )


def _as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored as UTC); a phone must never read them as local time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _by_group(rows: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row["group_id"], []).append(row)
    return grouped


def _period(started_at: str, time_zone: str, cadence: str) -> str:
    local = datetime.fromisoformat(started_at).astimezone(ZoneInfo(time_zone)).date()
    return period_of(local, cadence)


def _activities(connection: Connection, group_ids: list[str]) -> dict[str, list[Activity]]:
    """Every activity of the groups' plans with its latest reported status."""
    plans = connection.execute(select(db.plans).where(db.plans.c.group_id.in_(group_ids))).mappings().all()
    activity_ids = [a["activity_id"] for plan in plans for a in plan["plan"]["activities"]]
    latest: dict[str, tuple[date, str]] = {}
    for row in connection.execute(
        select(db.progress_reports.c.activity_id, db.progress_reports.c.result, db.progress_reports.c.received_at)
        .where(db.progress_reports.c.activity_id.in_(activity_ids))
        .order_by(db.progress_reports.c.received_at)
    ).mappings():
        latest[row["activity_id"]] = (row["received_at"].date(), row["result"]["status"])
    grouped: dict[str, list[Activity]] = {}
    for plan in plans:
        for activity in plan["plan"]["activities"]:
            reported = latest.get(activity["activity_id"])
            grouped.setdefault(plan["group_id"], []).append(
                Activity(
                    id=activity["activity_id"],
                    plan_id=plan["id"],
                    title=activity["title"],
                    stage=activity["stage"],
                    due_on=activity["due_on"],
                    responsible=activity["responsible"],
                    indicator=activity.get("indicator"),
                    status=reported[1] if reported else "not_started",
                    reported_on=reported[0] if reported else None,
                )
            )
    for items in grouped.values():
        items.sort(key=lambda item: item.due_on)
    return grouped
