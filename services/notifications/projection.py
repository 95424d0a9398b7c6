"""The local copy of the registry that routing and texts need, and the look-ups over it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.notifications import store
from services.notifications.routing import Level
from shared.events import (
    DeviationOpened,
    DeviceSynced,
    FacilitatorUpserted,
    GroupUpserted,
    MeetingRecorded,
    RegionUpserted,
    SupervisorUpserted,
)
from shared.events.base import EventData


def project_registry(connection: Connection, fact: EventData) -> bool:
    """Keep the local copy of the registry that routing and messages need. True if it changed."""
    if isinstance(fact, RegionUpserted):
        _merge(connection, store.regions, "code", fact.code, {"name": fact.name, "time_zone": fact.time_zone})
    elif isinstance(fact, SupervisorUpserted):
        values = {
            "name": fact.name,
            "level": fact.level,
            "region_code": fact.region_code,
            "email": fact.email,
            "webhook_url": fact.webhook_url,
            "language": fact.language,
        }
        _merge(connection, store.supervisors, "id", fact.supervisor_id, values)
    elif isinstance(fact, FacilitatorUpserted):
        values = {"name": fact.name, "region_code": fact.region_code}
        _merge(connection, store.facilitators, "id", fact.facilitator_id, values)
    elif isinstance(fact, GroupUpserted):
        values = {
            "name": fact.name,
            "facilitator_id": fact.facilitator_id,
            "region_code": fact.region_code,
            "time_zone": fact.time_zone,
        }
        _merge(connection, store.groups, "id", fact.group_id, values)
    else:
        return False
    return True


def project_field_activity(connection: Connection, fact: EventData) -> bool:
    """What the console shows beside an incident: each device's last sync and the items still on it
    (the facilitator's data freshness) and each meeting's attendance (the group's trend). True if it
    changed anything."""
    if isinstance(fact, DeviceSynced):
        table = store.device_syncs
        row = connection.execute(
            select(table.c.synced_through, table.c.received_at).where(table.c.device_id == fact.device_id)
        ).first()
        if row is not None and row.received_at >= fact.received_at:
            return False  # an older sync read late never moves freshness back
        values = {
            "facilitator_id": fact.facilitator_id,
            "synced_through": fact.synced_through,
            "received_at": fact.received_at,
            # The latest sync's count replaces any earlier one; `None` (the app did not say) too.
            "pending_count": fact.pending_count,
        }
        _merge(connection, table, "device_id", fact.device_id, values)
        return True
    if isinstance(fact, MeetingRecorded):
        values = {
            "group_id": fact.group_id,
            "facilitator_id": fact.facilitator_id,
            "started_at": fact.started_at,
            "present": fact.present_count,
            "members": fact.member_count or len(fact.attendance),
        }
        _merge(connection, store.meeting_attendance, "report_id", fact.report_id, values)
        return True
    return False


def _merge(connection: Connection, table: store.Table, key_column: str, key: str, values: dict[str, Any]) -> None:
    updated = connection.execute(update(table).where(table.c[key_column] == key).values(values)).rowcount
    if not updated:
        connection.execute(insert(table).values({key_column: key, **values}))


def supervisors_by_scope(connection: Connection) -> dict[tuple[Level, str | None], tuple[str, ...]]:
    """(level, region code) → every supervisor id registered there (sorted), for routing."""
    rows = connection.execute(
        select(store.supervisors.c.id, store.supervisors.c.level, store.supervisors.c.region_code).order_by(
            store.supervisors.c.id
        )
    ).all()
    scopes: dict[tuple[Level, str | None], tuple[str, ...]] = {}
    for row in rows:
        scopes[(row.level, row.region_code)] = (*scopes.get((row.level, row.region_code), ()), row.id)
    return scopes


def supervisor_row(connection: Connection, supervisor_id: str) -> Any:
    """A supervisor's projected row (None if unknown)."""
    return (
        connection.execute(select(store.supervisors).where(store.supervisors.c.id == supervisor_id)).mappings().first()
    )


def routing_region(connection: Connection, opened: DeviationOpened) -> str:
    """The region whose supervisor hears about it: the facilitator's for facilitator-directed items."""
    if opened.concerns == "facilitator":
        facilitator = connection.execute(
            select(store.facilitators.c.region_code).where(store.facilitators.c.id == opened.facilitator_id)
        ).first()
        if facilitator is not None:
            return str(facilitator.region_code)
    return opened.region_code
