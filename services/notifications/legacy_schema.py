"""The notifications store's schema steps from before Alembic (versions 1–6, kept in a
`schema_version` table): an old store is brought to version 6 by them, then stamped as Alembic
revision 0001 (`store.migrate`). New schema changes are Alembic revisions, never steps here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, inspect, select, text

from services.notifications.store import (
    device_syncs,
    incident_desks,
    incidents,
    item_feedback,
    meeting_attendance,
    metadata,
    outbox,
)

log = logging.getLogger(__name__)

schema_version = Table(
    "schema_version",
    MetaData(),
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(40), nullable=False),
)

_V1_TABLES = ("regions", "supervisors", "facilitators", "groups", "alerts", "deliveries", "parked_deviations")


def _v1(connection: Connection) -> None:
    """The original schema (what `create_all` made before versions existed)."""
    for name in _V1_TABLES:
        table = metadata.tables[name]
        if not inspect(connection).has_table(name):
            # v1 columns only (their indexes come along): v2's additions are added by `_v2`, as on an old store.
            legacy = Table(name, MetaData(), *(column._copy() for column in table.columns if not _is_v2(table, column)))
            legacy.create(connection)


_V2_COLUMNS = {
    "alerts": (
        "region_code",
        "facilitator_id",
        "concerns",
        "acknowledged_by",
        "escalate_at",
        "escalated_to",
        "digest_at",
        "digested_at",
        "resolved_at",
        "updated_at",
    ),
    "deliveries": ("kind", "supervisor_id", "replayed_at"),
}


def _is_v2(table: Table, column: Column[object]) -> bool:
    return column.name in _V2_COLUMNS.get(table.name, ())


def _v2(connection: Connection) -> None:
    """Escalation/digest schedule and scope columns, delivery kinds, and the outbox table."""
    for table_name, names in _V2_COLUMNS.items():
        table = metadata.tables[table_name]
        present = {column["name"] for column in inspect(connection).get_columns(table_name)}
        for name in names:
            if name in present:
                continue
            column = table.c[name]
            column_type = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {table_name} ADD COLUMN {name} {column_type}"))
            if column.index:
                connection.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table_name}_{name} ON {table_name} ({name})"))
    outbox.create(connection, checkfirst=True)


def _v3(connection: Connection) -> None:
    """Incidents: the lifecycle's state per facilitator and the incidents themselves."""
    incident_desks.create(connection, checkfirst=True)
    incidents.create(connection, checkfirst=True)


def _v4(connection: Connection) -> None:
    """The outbox keeps only what is still to publish: rows marked published by older versions go."""
    connection.execute(outbox.delete().where(outbox.c.published_at.is_not(None)))


def _v5(connection: Connection) -> None:
    """Marks on incident items."""
    item_feedback.create(connection, checkfirst=True)


# Columns added by Alembic revisions after 0001 (which is schema v6).
_AFTER_V6_COLUMNS = frozenset({"pending_count"})


def _v6(connection: Connection) -> None:
    """Snooze and close on incidents; the facilitators' device syncs and meeting attendance (the
    console's data freshness and attendance trend)."""
    present = {column["name"] for column in inspect(connection).get_columns("incidents")}
    for name in ("snoozed_until", "snooze_reason", "outcome"):
        if name not in present:
            column_type = incidents.c[name].type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE incidents ADD COLUMN {name} {column_type}"))
    # The v6 columns only: later ones come with their Alembic revisions, as on any v6 store.
    v6_syncs = [column._copy() for column in device_syncs.columns if column.name not in _AFTER_V6_COLUMNS]
    Table("device_syncs", MetaData(), *v6_syncs).create(connection, checkfirst=True)
    meeting_attendance.create(connection, checkfirst=True)


MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = (
    (1, _v1),
    (2, _v2),
    (3, _v3),
    (4, _v4),
    (5, _v5),
    (6, _v6),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def upgrade(connection: Connection) -> int:
    """Apply the missing steps in order; returns the version now in place."""
    schema_version.create(connection, checkfirst=True)
    done = set(connection.execute(select(schema_version.c.version)).scalars())
    for version, step in MIGRATIONS:
        if version in done:
            continue
        step(connection)
        connection.execute(schema_version.insert().values(version=version, applied_at=datetime.now(UTC).isoformat()))
        log.info("notifications store migrated to schema version %d", version)
    return SCHEMA_VERSION
