"""message.fetch_error: why the content a platform notified without could not be fetched

Revision ID: 0005f
Revises: 0004
Create Date: 2026-11-26

Instagram mentions and Google Business Profile review notifications arrive without their
content; the worker fetches it before triage (``inbox.content_fetch``). When that fails for
good the message keeps its empty text and this column says why (the platform's error, a
missing credential); it is empty otherwise.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005f"
down_revision: str | tuple[str, ...] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message", sa.Column("fetch_error", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: rebuilding the table on SQLite would drop its full-text triggers.
    op.drop_column("message", "fetch_error")
