"""The meetings store: table definitions, engine construction and migrations.

The schema is owned by Alembic migrations in `migrations/versions/`; these `Table` objects describe
it for queries and must agree with the newest migration (a test checks that).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TextClause,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.meetings.leases import lease_key
from shared.sql import build_engine

metadata = MetaData()

regions = Table(
    "regions",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", String(20), nullable=False),
    Column("parent_code", String(20), nullable=True),
    Column("time_zone", String(40), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

supervisors = Table(
    "supervisors",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", String(20), nullable=False),
    Column("region_code", String(20), nullable=False, index=True),
    Column("email", String(320), nullable=True),
    Column("webhook_url", String(2000), nullable=True),
    Column("language", String(2), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

facilitators = Table(
    "facilitators",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("programme", String(40), nullable=False),
    Column("region_code", String(20), nullable=False, index=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("programme", String(40), nullable=False),
    Column("facilitator_id", String(80), nullable=False, index=True),
    Column("region_code", String(20), nullable=False, index=True),
    Column("member_refs", JSON, nullable=False),
    Column("chair_member_ref", String(80), nullable=True),
    Column("schedule", JSON, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # {member_ref: display name}; served only to the group's own facilitator, never published.
    Column("member_names", JSON, nullable=True),
)

meetings = Table(
    "meetings",
    metadata,
    Column("report_id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("body_sha256", String(64), nullable=False),
    Column("record", JSON, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("message_key", String(200), nullable=False),
    Column("message_value", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes start at once on one database: one migrates, the others wait for
            # it (the lock ends with this transaction) and then find nothing to do.
            connection.execute(select(func.pg_advisory_xact_lock(lease_key("migrations"))))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


plans = Table(
    "plans",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("revision", Integer, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("plan", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

activities = Table(
    "activities",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("plan_id", String(80), nullable=False, index=True),
    Column("group_id", String(80), nullable=False),
    Column("due_on", Date, nullable=False),
)

progress_reports = Table(
    "progress_reports",
    metadata,
    Column("progress_id", String(80), primary_key=True),
    Column("activity_id", String(80), nullable=False, index=True),
    Column("body_sha256", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("evaluation_id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("body_sha256", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

device_syncs = Table(
    "device_syncs",
    metadata,
    Column("device_id", String(120), primary_key=True),
    Column("facilitator_id", String(80), nullable=False),
    Column("synced_through", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # Items still on the device after its latest sync (null: the field app did not say).
    Column("pending_count", Integer, nullable=True),
)

open_deviations = Table(
    "open_deviations",
    metadata,
    Column("deviation_id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("rule", String(80), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("details", JSON, nullable=False),
)


scheduled_meetings = Table(
    "scheduled_meetings",
    metadata,
    Column("group_id", String(80), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
)


def insert_new(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, keys: Sequence[str]
) -> list[tuple[Any, ...]]:
    """`INSERT … ON CONFLICT (keys) DO NOTHING RETURNING keys` of `rows`: the keys of the rows this
    statement inserted (a row whose key exists, or that a concurrent transaction inserted first, is
    not returned). Same SQL on SQLite and PostgreSQL.

    SQLAlchemy cannot cache a compiled ON CONFLICT insert (it compiled one on every request, about a
    third of a single report's SQL time), so one row goes as a cached text statement with the
    columns' own types; many rows go as one multi-row statement, compiled once per batch."""
    if not rows:
        return []
    if len(rows) > 1:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(table)
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(*(table.c[key] for key in keys))
        )
        return [tuple(row) for row in connection.execute(statement, list(rows))]
    columns = tuple(rows[0])
    cache_key = (connection.dialect.name, table.name, columns, tuple(keys))
    text_statement = _INSERT_NEW.get(cache_key)
    if text_statement is None:
        quote = connection.dialect.identifier_preparer.quote
        names, key_names = ", ".join(quote(c) for c in columns), ", ".join(quote(k) for k in keys)
        sql = (
            f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join(':' + c for c in columns)}) "
            f"ON CONFLICT ({key_names}) DO NOTHING RETURNING {key_names}"
        )
        text_statement = _INSERT_NEW[cache_key] = text(sql).bindparams(
            *(bindparam(column, type_=table.c[column].type) for column in columns)
        )
    return [tuple(row) for row in connection.execute(text_statement, rows[0])]


_INSERT_NEW: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], TextClause] = {}

__all__ = ["build_engine", "insert_new", "metadata", "migrate"]
