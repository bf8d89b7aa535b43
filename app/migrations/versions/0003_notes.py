"""internal notes, triage corrections, and the overview's index on message arrival

Revision ID: 0003w
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0003w"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversation_note",
        sa.Column("id", app.db.BigIntId, nullable=False),
        sa.Column("conversation_id", app.db.BigIntId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_conversation_note_conversation", "conversation_note", ["conversation_id", "id"]
    )
    op.create_table(
        "triage_feedback",
        sa.Column("id", app.db.BigIntId, nullable=False),
        sa.Column("message_id", app.db.BigIntId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("urgency", sa.Integer(), nullable=True),
        sa.Column("categories", JSON, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_triage_feedback_message", "triage_feedback", ["message_id", "id"])
    op.create_index(
        "ix_message_received_channel",
        "message",
        ["received_at", "channel_id", "direction", "urgency"],
    )


def downgrade() -> None:
    op.drop_index("ix_message_received_channel", table_name="message")
    op.drop_index("ix_triage_feedback_message", table_name="triage_feedback")
    op.drop_table("triage_feedback")
    op.drop_index("ix_conversation_note_conversation", table_name="conversation_note")
    op.drop_table("conversation_note")
