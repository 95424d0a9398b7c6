"""What the console shows beside the incidents: data freshness, attendance trends and the drill-down
national → province → kabupaten → facilitator → group with compliance at each level.

`summarise` is pure (rows in, rows out); the functions around it only read the store.

**Compliance** here is the reporting rate a supervisor can act on (DHIS2's "reporting rate"): the
share of groups with at least one meeting recorded in the last `REPORTING_WINDOW` (a monthly cadence
plus a few days' grace), counted on what reached the server. **Needing attention** is a group an
incident nobody has in hand yet needs the supervisor for (`attention.py`: something critical, a
signal about the facilitator, a facilitator with problems in several groups, or one group with
several problems at once); a single warning is for information, an acknowledged or snoozed incident
is in hand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, select

from services.notifications import attention, store
from shared import regions

REPORTING_WINDOW = timedelta(days=35)
TREND_MEETINGS = 4
LIVE_STATUSES = ("pending", "open", "acknowledged")

RowKind = Literal["region", "facilitator", "group"]


@dataclass(frozen=True)
class Group:
    """A group as the drill-down needs it."""

    group_id: str
    name: str
    facilitator_id: str
    region_code: str  # the village


@dataclass(frozen=True)
class Row:
    """One line of a drill-down level: a region, a facilitator or a group, with its figures."""

    kind: RowKind
    id: str
    name: str
    groups: int
    reporting: int
    attention: int

    @property
    def compliance(self) -> float | None:
        """Share of groups reporting; None without groups."""
        return self.reporting / self.groups if self.groups else None


def child_key(level: str, group: Group) -> tuple[RowKind, str]:
    """Which row of `level` a group counts in: nasional → province, provinsi → kabupaten,
    kabupaten → facilitator, facilitator → the group itself."""
    if level == "nasional":
        return "region", regions.province_of(group.region_code)
    if level == "provinsi":
        return "region", regions.kabupaten_of(group.region_code) or group.region_code
    if level == "kabupaten":
        return "facilitator", group.facilitator_id
    return "group", group.group_id


def summarise(
    level: str,
    groups: Iterable[Group],
    *,
    reporting: set[str],
    attention: set[str],
    names: Mapping[str, str],
) -> list[Row]:
    """The rows of one level, those needing attention first, then the least compliant."""
    counts: dict[tuple[RowKind, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for group in groups:
        figures = counts[child_key(level, group)]
        figures[0] += 1
        figures[1] += group.group_id in reporting
        figures[2] += group.group_id in attention
    rows = [
        Row(kind, key, names.get(key) or key, total, reported, needing)
        for (kind, key), (total, reported, needing) in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row.attention, row.compliance if row.compliance is not None else 1, row.name))


# -- reads -----------------------------------------------------------------------------------------


def groups_under(connection: Connection, *, region: str | None, facilitator: str | None) -> list[Group]:
    """Every group in a region (all with None) or of a facilitator."""
    table = store.groups
    query = select(table.c.id, table.c.name, table.c.facilitator_id, table.c.region_code)
    if facilitator is not None:
        query = query.where(table.c.facilitator_id == facilitator)
    elif region is not None:
        query = query.where((table.c.region_code == region) | table.c.region_code.like(region + ".%"))
    return [Group(row.id, row.name, row.facilitator_id, row.region_code) for row in connection.execute(query)]


def reporting_groups(connection: Connection, group_ids: list[str], now: datetime) -> set[str]:
    """Groups with a meeting recorded within the reporting window before `now`."""
    if not group_ids:
        return set()
    table = store.meeting_attendance
    rows = connection.execute(
        select(table.c.group_id)
        .where(table.c.group_id.in_(group_ids), table.c.started_at >= now - REPORTING_WINDOW, table.c.started_at <= now)
        .distinct()
    )
    return {row.group_id for row in rows}


def live_incidents(connection: Connection) -> list[Any]:
    """Every live incident row (pending, open, acknowledged), as `attention.judge` weighs them."""
    table = store.incidents
    return list(connection.execute(select(table).where(table.c.status.in_(LIVE_STATUSES))).mappings())


def groups_needing_attention(connection: Connection, now: datetime) -> set[str]:
    """Groups the incidents nobody has in hand yet need the supervisor for (`attention.py`)."""
    return attention.groups_needing_attention(attention.judge(live_incidents(connection), now))


def names_for(connection: Connection, keys: Iterable[tuple[RowKind, str]]) -> dict[str, str]:
    """Display names: regions from the projection (or the official province list), facilitators, groups."""
    wanted: dict[RowKind, set[str]] = defaultdict(set)
    for kind, key in keys:
        wanted[kind].add(key)
    names: dict[str, str] = {}
    if wanted["region"]:
        for row in connection.execute(
            select(store.regions.c.code, store.regions.c.name).where(store.regions.c.code.in_(wanted["region"]))
        ):
            names[row.code] = row.name
        for code in wanted["region"] - set(names):
            official = regions.province_name(code) if "." not in code else None
            if official:
                names[code] = official
    if wanted["facilitator"]:
        table = store.facilitators
        for row in connection.execute(select(table.c.id, table.c.name).where(table.c.id.in_(wanted["facilitator"]))):
            names[row.id] = row.name
    if wanted["group"]:
        table = store.groups
        for row in connection.execute(select(table.c.id, table.c.name).where(table.c.id.in_(wanted["group"]))):
            names[row.id] = row.name
    return names


def freshness(connection: Connection, facilitator_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per facilitator: when their devices last synced, how many devices they use, and how many items
    are still waiting on them (`pending_count`)."""
    table = store.device_syncs
    found: dict[str, dict[str, Any]] = {}
    ids = sorted(set(facilitator_ids))
    if not ids:
        return found
    rows = connection.execute(
        select(table.c.facilitator_id, table.c.received_at, table.c.synced_through, table.c.pending_count).where(
            table.c.facilitator_id.in_(ids)
        )
    )
    by_facilitator: dict[str, list[DeviceSync]] = {}
    for row in rows:
        sync = DeviceSync(row.received_at, row.synced_through, row.pending_count)
        by_facilitator.setdefault(row.facilitator_id, []).append(sync)
    for facilitator_id, syncs in by_facilitator.items():
        latest = max(syncs, key=lambda sync: sync.received_at)
        found[facilitator_id] = {
            "last_sync_at": latest.received_at,
            "synced_through": latest.synced_through,
            "devices": len(syncs),
            "pending_count": pending_on_devices(syncs),
        }
    return found


@dataclass(frozen=True)
class DeviceSync:
    """One device's latest sync as the console reads it."""

    received_at: datetime
    synced_through: datetime
    pending_count: int | None


def pending_on_devices(syncs: Iterable[DeviceSync]) -> int | None:
    """Items still waiting on a facilitator's phones: the sum over the devices that said, each by its
    latest sync; `None` when none of them said (an older field app), which the console leaves unsaid."""
    counts = [sync.pending_count for sync in syncs if sync.pending_count is not None]
    return sum(counts) if counts else None


def attendance_trend(connection: Connection, group_ids: Iterable[str]) -> dict[str, list[float]]:
    """Per group: the attendance ratio of its last few meetings, oldest first."""
    table = store.meeting_attendance
    ids = sorted(set(group_ids))
    trends: dict[str, list[float]] = {}
    if not ids:
        return trends
    rows = connection.execute(
        select(table.c.group_id, table.c.present, table.c.members)
        .where(table.c.group_id.in_(ids))
        .order_by(table.c.group_id, table.c.started_at.desc())
    )
    for row in rows:
        recent = trends.setdefault(row.group_id, [])
        if len(recent) < TREND_MEETINGS and row.members > 0:
            recent.append(round(row.present / row.members, 3))
    return {group_id: list(reversed(ratios)) for group_id, ratios in trends.items()}
