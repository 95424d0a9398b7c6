"""The notifications store as of the last hand-made schema step (v6): the registry projection,
alerts, deliveries, parked deviations, the outbox, incidents and their desks, item marks, device
syncs and meeting attendance. A store made by those steps is stamped with this revision instead.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(40), nullable=False),
    )
    op.create_table(
        "supervisors",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(20), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
    )
    op.create_index("ix_supervisors_region_code", "supervisors", ["region_code"])
    op.create_table(
        "facilitators",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(20), nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("facilitator_id", sa.String(80), nullable=False),
        sa.Column("region_code", sa.String(20), nullable=False),
        sa.Column("time_zone", sa.String(40), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(80), primary_key=True),
        sa.Column("deviation_id", sa.String(80), nullable=False),
        sa.Column("supervisor_id", sa.String(80), nullable=False),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("escalation_level", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("region_code", sa.String(20), nullable=True),
        sa.Column("facilitator_id", sa.String(80), nullable=True),
        sa.Column("concerns", sa.String(20), nullable=True),
        sa.Column("acknowledged_by", sa.String(80), nullable=True),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to", sa.String(80), nullable=True),
        sa.Column("digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_alerts_deviation_id", "alerts", ["deviation_id"])
    op.create_index("ix_alerts_supervisor_id", "alerts", ["supervisor_id"])
    op.create_index("ix_alerts_region_code", "alerts", ["region_code"])
    op.create_index("ix_alerts_escalate_at", "alerts", ["escalate_at"])
    op.create_index("ix_alerts_digest_at", "alerts", ["digest_at"])
    op.create_table(
        "deliveries",
        sa.Column("message_id", sa.String(80), primary_key=True),
        sa.Column("alert_id", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=True),
        sa.Column("supervisor_id", sa.String(80), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_deliveries_alert_id", "deliveries", ["alert_id"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])
    op.create_table(
        "parked_deviations",
        sa.Column("deviation_id", sa.String(80), primary_key=True),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_parked_deviations_group_id", "parked_deviations", ["group_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_table(
        "incident_desks",
        sa.Column("facilitator_id", sa.String(80), primary_key=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_incident_desks_wake_at", "incident_desks", ["wake_at"])
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(80), primary_key=True),
        sa.Column("facilitator_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.String(80), nullable=False),
        sa.Column("supervisor_id", sa.String(80), nullable=False),
        sa.Column("escalation_level", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(20), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("deviation_id", sa.String(80), nullable=False),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(80), nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snooze_reason", sa.String(500), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
    )
    op.create_index("ix_incidents_facilitator_id", "incidents", ["facilitator_id"])
    op.create_index("ix_incidents_supervisor_id", "incidents", ["supervisor_id"])
    op.create_index("ix_incidents_region_code", "incidents", ["region_code"])
    op.create_table(
        "item_feedback",
        sa.Column("deviation_id", sa.String(80), primary_key=True),
        sa.Column("supervisor_id", sa.String(80), primary_key=True),
        sa.Column("incident_id", sa.String(80), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("useful", sa.Integer(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_item_feedback_incident_id", "item_feedback", ["incident_id"])
    op.create_table(
        "device_syncs",
        sa.Column("device_id", sa.String(120), primary_key=True),
        sa.Column("facilitator_id", sa.String(80), nullable=False),
        sa.Column("synced_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_device_syncs_facilitator_id", "device_syncs", ["facilitator_id"])
    op.create_table(
        "meeting_attendance",
        sa.Column("report_id", sa.String(80), primary_key=True),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("facilitator_id", sa.String(80), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
    )
    op.create_index("ix_meeting_attendance_group_id", "meeting_attendance", ["group_id"])
    op.create_index("ix_meeting_attendance_facilitator_id", "meeting_attendance", ["facilitator_id"])


def downgrade() -> None:
    op.drop_table("meeting_attendance")
    op.drop_table("device_syncs")
    op.drop_table("item_feedback")
    op.drop_table("incidents")
    op.drop_table("incident_desks")
    op.drop_table("outbox")
    op.drop_table("parked_deviations")
    op.drop_table("deliveries")
    op.drop_table("alerts")
    op.drop_table("groups")
    op.drop_table("facilitators")
    op.drop_table("supervisors")
    op.drop_table("regions")
