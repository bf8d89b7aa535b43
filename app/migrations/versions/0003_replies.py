"""replies out: delivery state on messages, outbound credentials on channels

Revision ID: 0003r
Revises: 0002
Create Date: 2026-11-24

Columns are added in place (no batch copy of ``message`` on SQLite: that would drop the
full-text triggers). SQLite cannot add a foreign key to an existing table, so
``message.sent_by_user_id`` references ``user`` on PostgreSQL only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0003r"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = app.db.UTCDateTime(timezone=True)
QUEUED = sa.text("delivery_status = 'queued'")


def upgrade() -> None:
    is_postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column("message", sa.Column("delivery_status", sa.String(length=16), nullable=True))
    op.add_column("message", sa.Column("delivery_error", sa.Text(), nullable=True))
    op.add_column(
        "message",
        sa.Column("delivery_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("message", sa.Column("delivery_next_attempt_at", UTC, nullable=True))
    op.add_column("message", sa.Column("delivery_lease_until", UTC, nullable=True))
    op.add_column("message", sa.Column("sent_by_user_id", sa.Integer(), nullable=True))
    op.add_column("message", sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    if is_postgresql:
        op.create_foreign_key(
            "message_sent_by_user_id_fkey",
            "message",
            "user",
            ["sent_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "ux_message_idempotency_key", "message", ["channel_id", "idempotency_key"], unique=True
    )
    op.create_index(
        "ix_message_delivery_queued",
        "message",
        ["received_at"],
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )
    op.add_column("conversation", sa.Column("first_response_at", UTC, nullable=True))
    op.add_column("channel", sa.Column("outbound_credentials", JSON, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE channel DROP COLUMN outbound_credentials")
    op.execute("ALTER TABLE conversation DROP COLUMN first_response_at")
    op.drop_index("ix_message_delivery_queued", table_name="message")
    op.drop_index("ux_message_idempotency_key", table_name="message")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("message_sent_by_user_id_fkey", "message", type_="foreignkey")
    for column in (
        "idempotency_key",
        "sent_by_user_id",
        "delivery_lease_until",
        "delivery_next_attempt_at",
        "delivery_attempts",
        "delivery_error",
        "delivery_status",
    ):
        op.execute(f"ALTER TABLE message DROP COLUMN {column}")
