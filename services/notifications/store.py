"""The notifications store: a projection of the registry, the alerts, a durable delivery queue, the
escalation and digest schedule, and an outbox of alert events.

Deliveries are rows, not in-memory tasks: a crash between accepting a deviation and delivering it
loses nothing, and a retry after a crash reuses the row's `message_id` (the `webhook-id`). The
schedule is columns of the alert rows (`escalate_at`, `digest_at`), so it survives restarts too.

Schema changes are Alembic revisions (`migrations/versions/`), as in meetings; `build_engine`
upgrades to the newest at start-up. Stores made before that are brought up by their own numbered
steps first (`legacy_schema.py`) and stamped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    inspect,
    text,
)
from sqlalchemy.engine import Dialect

from shared.sql import build_engine as build_sql_engine

log = logging.getLogger(__name__)

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and always read back with its offset. SQLite keeps no time zone,
    so without this a row read back is naive and the API would answer a `date-time` without an
    offset; PostgreSQL's `timestamptz` gives the same values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


regions = Table(
    "regions",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("time_zone", String(40), nullable=False),
)
supervisors = Table(
    "supervisors",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", String(20), nullable=False),
    Column("region_code", String(20), nullable=True, index=True),
    Column("email", String(320), nullable=True),
    Column("webhook_url", String(2000), nullable=True),
    Column("language", String(2), nullable=False),
)
facilitators = Table(
    "facilitators",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("region_code", String(20), nullable=False),
)
groups = Table(
    "groups",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("facilitator_id", String(80), nullable=False),
    Column("region_code", String(20), nullable=False),
    Column("time_zone", String(40), nullable=False),
)
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(80), primary_key=True),
    Column("deviation_id", String(80), nullable=False, index=True),
    Column("supervisor_id", String(80), nullable=False, index=True),
    Column("group_id", String(80), nullable=False),
    Column("rule", String(80), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("escalation_level", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # open, acknowledged, resolved
    Column("payload", JSON, nullable=False),  # the webhook body of `alert.opened`
    Column("detected_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    # schema v2 (nullable: rows from v1 keep working)
    Column("region_code", String(20), nullable=True, index=True),  # the routing region (scope of acks/lists)
    Column("facilitator_id", String(80), nullable=True),
    Column("concerns", String(20), nullable=True),
    Column("acknowledged_by", String(80), nullable=True),
    Column("escalate_at", UtcDateTime(), nullable=True, index=True),  # the durable escalation schedule
    Column("escalated_to", String(80), nullable=True),  # the next level's alert id once it climbed
    Column("digest_at", UtcDateTime(), nullable=True, index=True),  # info items: when the digest goes
    Column("digested_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=True),
)
deliveries = Table(
    "deliveries",
    metadata,
    Column("message_id", String(80), primary_key=True),
    Column("alert_id", String(80), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False, index=True),
    Column("last_error", String(500), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    # schema v2
    Column("kind", String(40), nullable=True),  # alert.opened, alert.escalated, alert.resolved, alert.digest
    Column("supervisor_id", String(80), nullable=True),
    Column("replayed_at", UtcDateTime(), nullable=True),
)
parked_deviations = Table(
    "parked_deviations",
    metadata,
    Column("deviation_id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("record", Text, nullable=False),  # the CloudEvents JSON, to retry once the registry knows more
    Column("parked_at", UtcDateTime(), nullable=False),
)


outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),  # unqualified topic name; the publisher adds the prefix
    Column("key", String(200), nullable=False),
    Column("envelope", Text, nullable=False),  # the CloudEvents JSON, id included: a re-publish is the same event
    Column("created_at", UtcDateTime(), nullable=False),
    # Only set by versions before 4 (rows are now removed once published); kept for old stores.
    Column("published_at", UtcDateTime(), nullable=True, index=True),
)
# Incidents (schema v3): one row per facilitator holding the pure lifecycle's state (`incidents.Desk`
# as JSON) with the next moment it needs a tick, and one row per incident for the API and console.
incident_desks = Table(
    "incident_desks",
    metadata,
    Column("facilitator_id", String(80), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("wake_at", UtcDateTime(), nullable=True, index=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)
incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(80), primary_key=True),
    Column("facilitator_id", String(80), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # group, facilitator
    Column("subject_id", String(80), nullable=False),
    Column("supervisor_id", String(80), nullable=False, index=True),  # who has it now
    Column("escalation_level", String(20), nullable=False),
    Column("region_code", String(20), nullable=True, index=True),  # routing region: scope of lists and acks
    Column("status", String(20), nullable=False),  # pending, open, acknowledged, resolved, dismissed
    Column("severity", String(10), nullable=False),
    Column("deviation_id", String(80), nullable=False),  # the worst item's, for alert-shaped events
    Column("group_id", String(80), nullable=False),
    Column("rule", String(80), nullable=False),
    Column("items", JSON, nullable=False),
    Column("detected_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("acknowledged_by", String(80), nullable=True),
    Column("note", String(1000), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    # schema v6: the console's snooze (until, why) and close (outcome)
    Column("snoozed_until", UtcDateTime(), nullable=True),
    Column("snooze_reason", String(500), nullable=True),
    Column("outcome", String(40), nullable=True),
)
# Schema v5: the supervisors' "useful / not useful" marks on incident items, one per item and reader.
item_feedback = Table(
    "item_feedback",
    metadata,
    Column("deviation_id", String(80), primary_key=True),
    Column("supervisor_id", String(80), primary_key=True),
    Column("incident_id", String(80), nullable=False, index=True),
    Column("rule", String(80), nullable=False),
    Column("useful", Integer, nullable=False),  # 1 useful, 0 not useful
    Column("marked_at", UtcDateTime(), nullable=False),
)
# Schema v6: what the console shows next to an incident — when the facilitator's devices last
# synced (one row per device) and the attendance of each group's meetings (one row per report).
device_syncs = Table(
    "device_syncs",
    metadata,
    Column("device_id", String(120), primary_key=True),
    Column("facilitator_id", String(80), nullable=False, index=True),
    Column("synced_through", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    # Revision 0002: items still on the device after its latest sync (null: the field app did not say).
    Column("pending_count", Integer, nullable=True),
)
meeting_attendance = Table(
    "meeting_attendance",
    metadata,
    Column("report_id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("facilitator_id", String(80), nullable=False, index=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("present", Integer, nullable=False),
    Column("members", Integer, nullable=False),
)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest Alembic revision (idempotent); returns it.

    A store made before Alembic (a `schema_version` table, versions 1–6) is first brought to v6 by
    its own steps (`legacy_schema.py`) and stamped as revision 0001, which is that schema."""
    from services.notifications import legacy_schema  # it reads this module's tables

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        config.attributes["connection"] = connection
        if "schema_version" in tables and "alembic_version" not in tables:
            legacy_schema.upgrade(connection)
            command.stamp(config, "0001")
            log.info("notifications store made before Alembic: stamped as revision 0001")
        command.upgrade(config, "head")
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return str(revision)


def build_engine(database_url: str) -> Engine:
    """An engine for the URL, with the schema migrated to the current version."""
    engine = build_sql_engine(database_url)
    migrate(engine)
    return engine
