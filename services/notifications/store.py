"""The notifications store: a projection of the registry, the alerts, and a durable delivery queue.

Deliveries are rows, not in-memory tasks: a crash between accepting a deviation and delivering it
loses nothing, and a retry after a crash reuses the row's `message_id` (the `webhook-id`).
"""

from __future__ import annotations

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
)

from shared.sql import build_engine as build_sql_engine

metadata = MetaData()

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
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
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
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("last_error", String(500), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
parked_deviations = Table(
    "parked_deviations",
    metadata,
    Column("deviation_id", String(80), primary_key=True),
    Column("group_id", String(80), nullable=False, index=True),
    Column("record", Text, nullable=False),  # the CloudEvents JSON, to retry once the registry knows more
    Column("parked_at", DateTime(timezone=True), nullable=False),
)


def build_engine(database_url: str) -> Engine:
    """An engine for the URL, with the schema in place (a projection plus queues: additive only)."""
    engine = build_sql_engine(database_url)
    metadata.create_all(engine)
    return engine
