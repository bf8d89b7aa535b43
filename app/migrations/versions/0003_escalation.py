"""escalation: rules, policies, rotations, integrations, incidents, timers, notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = app.db.UTCDateTime(timezone=True)


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target], ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "escalation_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        _fk("created_by", "user.id", "SET NULL"),
    )
    op.create_index("ix_escalation_rule_position", "escalation_rule", ["enabled", "position", "id"])
    op.create_table(
        "escalation_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("levels", JSON, nullable=False),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("ack_timeout_s", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "oncall_rotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("participant_ids", JSON, nullable=False),
        sa.Column("handover_at", UTC, nullable=False),
        sa.Column("shift_s", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "oncall_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rotation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("start_at", UTC, nullable=False),
        sa.Column("end_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        _fk("rotation_id", "oncall_rotation.id", "CASCADE"),
        _fk("user_id", "user.id", "CASCADE"),
    )
    op.create_index(
        "ix_oncall_override_window", "oncall_override", ["rotation_id", "start_at", "end_at"]
    )
    op.create_table(
        "integration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("secret", sa.String(length=500), nullable=True),
        sa.Column("email_address", sa.String(length=320), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "incident",
        sa.Column("id", app.db.BigIntId, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=300), nullable=True),
        sa.Column("dedup_slot", sa.String(length=300), nullable=True),
        sa.Column("dedup_window_minutes", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalation_round", sa.Integer(), nullable=False),
        sa.Column("escalation_epoch", sa.Integer(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", UTC, nullable=False),
        sa.Column("last_attached_at", UTC, nullable=False),
        sa.Column("acknowledged_at", UTC, nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_slot", name="uq_incident_dedup_slot"),
        _fk("owner_id", "user.id", "SET NULL"),
        _fk("rule_id", "escalation_rule.id", "SET NULL"),
        _fk("policy_id", "escalation_policy.id", "SET NULL"),
        _fk("acknowledged_by", "user.id", "SET NULL"),
        _fk("resolved_by", "user.id", "SET NULL"),
    )
    op.create_index("ix_incident_status_severity", "incident", ["status", "severity_rank", "id"])
    op.create_index("ix_incident_dedup_key", "incident", ["dedup_key"])
    op.create_table(
        "incident_conversation",
        sa.Column("incident_id", app.db.BigIntId, nullable=False),
        sa.Column("conversation_id", app.db.BigIntId, nullable=False),
        sa.Column("attached_at", UTC, nullable=False),
        sa.Column("attached_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "conversation_id"),
        _fk("incident_id", "incident.id", "CASCADE"),
        _fk("conversation_id", "conversation.id", "CASCADE"),
        _fk("attached_by", "user.id", "SET NULL"),
    )
    op.create_index(
        "ix_incident_conversation_conversation", "incident_conversation", ["conversation_id"]
    )
    op.create_table(
        "incident_message",
        sa.Column("incident_id", app.db.BigIntId, nullable=False),
        sa.Column("message_id", app.db.BigIntId, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("attached_at", UTC, nullable=False),
        sa.Column("attached_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "message_id"),
        _fk("incident_id", "incident.id", "CASCADE"),
        _fk("message_id", "message.id", "CASCADE"),
        _fk("rule_id", "escalation_rule.id", "SET NULL"),
        _fk("attached_by", "user.id", "SET NULL"),
    )
    op.create_index("ix_incident_message_message", "incident_message", ["message_id"])
    op.create_table(
        "incident_event",
        sa.Column("id", app.db.BigIntId, nullable=False),
        sa.Column("incident_id", app.db.BigIntId, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        _fk("incident_id", "incident.id", "CASCADE"),
        _fk("actor_id", "user.id", "SET NULL"),
    )
    op.create_index("ix_incident_event_incident", "incident_event", ["incident_id", "id"])
    op.create_table(
        "escalation_timer",
        sa.Column("id", app.db.BigIntId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("incident_id", app.db.BigIntId, nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("fired_at", UTC, nullable=True),
        sa.Column("cancelled_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        _fk("incident_id", "incident.id", "CASCADE"),
    )
    op.create_index(
        "ix_escalation_timer_due",
        "escalation_timer",
        ["due_at"],
        sqlite_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
        postgresql_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
    )
    op.create_index("ix_escalation_timer_incident", "escalation_timer", ["incident_id"])
    op.create_table(
        "notification",
        sa.Column("id", app.db.BigIntId, nullable=False),
        sa.Column("incident_id", app.db.BigIntId, nullable=True),
        sa.Column("message_id", app.db.BigIntId, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("failed_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", name="uq_notification_delivery_id"),
        _fk("incident_id", "incident.id", "CASCADE"),
        _fk("message_id", "message.id", "SET NULL"),
        _fk("user_id", "user.id", "SET NULL"),
        _fk("integration_id", "integration.id", "SET NULL"),
    )
    op.create_index(
        "ix_notification_due",
        "notification",
        ["next_attempt_at"],
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index("ix_notification_incident", "notification", ["incident_id", "id"])
    op.create_table(
        "spike_counter",
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("bucket_start", UTC, nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("negative_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "bucket_start"),
    )
    op.add_column("message", sa.Column("escalation", JSON, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE message DROP COLUMN escalation")
    for table in (
        "spike_counter",
        "notification",
        "escalation_timer",
        "incident_event",
        "incident_message",
        "incident_conversation",
        "incident",
        "integration",
        "oncall_override",
        "oncall_rotation",
        "escalation_policy",
        "escalation_rule",
    ):
        op.drop_table(table)
