"""The overview: the console's drill-down national → province → kabupaten → facilitator → group,
with compliance and groups needing attention per row (computed by `work_queue.py` and `attention.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from services.notifications import attention, store, work_queue
from services.notifications.api.access import covers
from services.notifications.deps import Context, CurrentPrincipal
from shared import regions
from shared.web import Problem

router = APIRouter(tags=["incidents"])


class OverviewRow(BaseModel):
    """One line of a drill-down level."""

    kind: work_queue.RowKind
    id: str
    name: str
    groups: int
    reporting: int
    compliance: float | None
    attention: int
    last_sync_at: datetime | None = None
    pending_count: int | None = None  # items still waiting on a facilitator's phones (null: not said)
    attendance: list[float] = []


class OverviewOut(BaseModel):
    """A level of the drill-down: where it is (`path`, outermost first) and its rows."""

    level: Literal["nasional", "provinsi", "kabupaten", "facilitator"]
    code: str | None
    name: str
    path: list[dict[str, str | None]]
    top: str | None = None  # the widest region the caller may open (None: the whole country)
    totals: OverviewRow
    facilitators: int = 0  # facilitators with groups at this level
    facilitators_needing_attention: int = 0  # of those, the few an incident nobody has in hand needs you for
    rows: list[OverviewRow]


@router.get("/overview", response_model=OverviewOut)
def overview(
    context: Context,
    principal: CurrentPrincipal,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{2}(\.[0-9]{2})?$", description="`18` or `18.71`")] = None,
    facilitator: Annotated[str | None, Query(max_length=80)] = None,
) -> OverviewOut:
    """Drill down national → province → kabupaten → facilitator → group, with compliance (share
    of groups reporting a meeting in the last 35 days) and groups needing attention per row."""
    if principal.role not in ("supervisor", "admin"):
        raise Problem(403, "Forbidden", "only supervisors and admins see the overview")
    now = context.clock()
    with context.engine.connect() as connection:
        if facilitator is not None:
            row = (
                connection.execute(select(store.facilitators).where(store.facilitators.c.id == facilitator))
                .mappings()
                .first()
            )
            if row is None:
                raise Problem(404, "Not found", f"no facilitator {facilitator}")
            groups = work_queue.groups_under(connection, region=None, facilitator=facilitator)
            if principal.role != "admin" and principal.scope != "*":
                groups = [group for group in groups if covers(principal.scope, group.region_code)]
                if not groups:
                    raise Problem(403, "Forbidden", "the facilitator's groups are outside your region")
            level: Literal["nasional", "provinsi", "kabupaten", "facilitator"] = "facilitator"
            code: str | None = facilitator
            name = str(row["name"])
            path_codes = _path(regions.kabupaten_of(str(row["region_code"])))
        else:
            start = region or (None if principal.role == "admin" or principal.scope == "*" else principal.scope)
            if start is not None and not (principal.role == "admin" or covers(principal.scope, start)):
                raise Problem(403, "Forbidden", "the region is outside your scope")
            groups = work_queue.groups_under(connection, region=start, facilitator=None)
            if start is not None and not groups and not _region_known(connection, start):
                raise Problem(404, "Not found", f"no region {start}")
            level = "nasional" if start is None else ("provinsi" if "." not in start else "kabupaten")
            code = start
            path_codes = _path(start)
            name = ""
        ids = [group.group_id for group in groups]
        reporting = work_queue.reporting_groups(connection, ids, now)
        live = work_queue.live_incidents(connection)
        verdicts = attention.judge(live, now)
        needing = attention.groups_needing_attention(verdicts)
        facilitators = {group.facilitator_id for group in groups}
        facilitators_needing = {
            str(incident["facilitator_id"]) for incident in live if verdicts[str(incident["incident_id"])].needs_you
        } & facilitators
        keys = {work_queue.child_key(level, group) for group in groups}
        names = work_queue.names_for(connection, keys | {("region", c) for c in path_codes})
        rows = work_queue.summarise(level, groups, reporting=reporting, attention=needing, names=names)
        fresh = work_queue.freshness(connection, [r.id for r in rows if r.kind == "facilitator"])
        trends = work_queue.attendance_trend(connection, [r.id for r in rows if r.kind == "group"])
    if level != "facilitator":
        name = names.get(code or "", code or "") if code else "Indonesia"
    totals = work_queue.Row(
        "region", code or "*", name, len(groups), len(reporting & set(ids)), len(needing & set(ids))
    )
    return OverviewOut(
        level=level,
        code=code,
        name=name,
        path=[{"code": c, "name": names.get(c, c)} for c in path_codes],
        top=None if principal.role == "admin" or principal.scope == "*" else principal.scope,
        totals=_overview_row(totals, {}, {}),
        facilitators=len(facilitators),
        facilitators_needing_attention=len(facilitators_needing),
        rows=[_overview_row(r, fresh, trends) for r in rows],
    )


def _overview_row(row: work_queue.Row, fresh: dict[str, Any], trends: dict[str, list[float]]) -> OverviewRow:
    return OverviewRow(
        kind=row.kind, id=row.id, name=row.name, groups=row.groups, reporting=row.reporting,
        compliance=row.compliance, attention=row.attention,
        last_sync_at=(fresh.get(row.id) or {}).get("last_sync_at"),
        pending_count=(fresh.get(row.id) or {}).get("pending_count"), attendance=trends.get(row.id, []),
    )  # fmt: skip


def _path(code: str | None) -> list[str]:
    """The regions above and including `code`, outermost first (province, kabupaten)."""
    if code is None:
        return []
    return list(reversed([part for part in regions.ancestors(code) if len(part.split(".")) <= 2]))


def _region_known(connection: Any, code: str) -> bool:
    known = connection.execute(select(store.regions.c.code).where(store.regions.c.code == code)).first()
    return known is not None or ("." not in code and regions.province_name(code) is not None)
