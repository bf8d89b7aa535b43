"""inbox list at a million messages: search and categories per conversation, newest index

Revision ID: 0004
Revises: 0003, 0003r, 0003w
Create Date: 2026-11-25

Merges the three 0003 branches. What the inbox list filters on is read from copies kept per
conversation instead of from every message, backfilled here:

- Full-text search over the texts of a conversation's standing inbound messages, without
  reading ``message``. PostgreSQL: one document per conversation (its latest messages),
  ``conversation.search_vector`` (a plain ``tsvector``, positions stripped) with a GIN
  index, kept by ``inbox.ingest``. SQLite: the contentless FTS5 table ``conversation_fts``,
  one row per message whose rowid carries the conversation id, kept by triggers. What they
  replace (PostgreSQL's generated ``message.search_vector`` and its GIN index, SQLite's
  ``message_fts`` and its triggers) is dropped: nothing reads it any more, and every stored
  message paid for it.
- ``conversation_category``: the categories a standing message of the conversation scores
  at least 0.5 on, kept by ``inbox.processing``.
- ``ix_conversation_latest``: the "newest first" sort without a status filter.

The backfill SQL is exposed (:func:`search_backfill`, :func:`category_backfill`) so that
``bench/inbox_query.py`` fills its bulk-loaded data set the same way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0004"
down_revision: str | tuple[str, ...] | None = ("0003", "0003r", "0003w")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's documents, as inbox.ingest builds them when this was written: a message adds
# at most MESSAGE_CHARS characters; a (re)built document keeps the latest messages while
# the text before them is under KEEP_CHARS.
MESSAGE_CHARS = 8000
KEEP_CHARS = 16000
THRESHOLD = 0.5
CATEGORIES = (
    "safety", "threat", "legal", "press", "outage", "complaint",
    "toxic", "question", "praise", "spam", "fact_claim",
)  # fmt: skip
_CATEGORY_LIST = ", ".join(f"'{c}'" for c in CATEGORIES)


# SQLite: one full-text row per standing inbound message, its rowid the conversation id
# shifted left by 32 plus the message id's low 32 bits (inbox.models.FTS_ROWID_SHIFT), kept
# in step by triggers (contentless: a row's old text comes from the trigger).
def _fts_rowid(row: str) -> str:
    return f"({row}.conversation_id << 32) | ({row}.id & 4294967295)"


def _searchable(row: str) -> str:
    return f"{row}.direction = 'inbound' AND {row}.deleted_at IS NULL AND {row}.text <> ''"


SQLITE_FTS_TRIGGERS = (
    "CREATE TRIGGER conversation_fts_insert AFTER INSERT ON message "
    f"WHEN {_searchable('new')} BEGIN "
    f"INSERT INTO conversation_fts(rowid, text) VALUES ({_fts_rowid('new')}, new.text); END",
    "CREATE TRIGGER conversation_fts_delete AFTER DELETE ON message "
    f"WHEN {_searchable('old')} BEGIN "
    "INSERT INTO conversation_fts(conversation_fts, rowid, text) "
    f"VALUES ('delete', {_fts_rowid('old')}, old.text); END",
    "CREATE TRIGGER conversation_fts_update "
    "AFTER UPDATE OF text, direction, deleted_at, conversation_id ON message BEGIN "
    "INSERT INTO conversation_fts(conversation_fts, rowid, text) "
    f"SELECT 'delete', {_fts_rowid('old')}, old.text WHERE {_searchable('old')}; "
    "INSERT INTO conversation_fts(rowid, text) "
    f"SELECT {_fts_rowid('new')}, new.text WHERE {_searchable('new')}; END",
)

# Per conversation, its standing inbound messages newest first, with the characters used
# up to and including each one; a message is kept while the text before it is under budget.
_KEPT = (
    "SELECT conversation_id, received_at, id, piece, "
    "sum(length(piece) + 1) OVER (PARTITION BY conversation_id "
    "ORDER BY received_at DESC, id DESC ROWS UNBOUNDED PRECEDING) - length(piece) - 1 AS used "
    f"FROM (SELECT conversation_id, received_at, id, substr(text, 1, {MESSAGE_CHARS}) AS piece "
    "FROM message WHERE direction = 'inbound' AND deleted_at IS NULL AND text <> '') AS m"
)


def search_backfill(dialect: str) -> list[str]:
    """Statements that (re)build every conversation's search index from its messages."""
    if dialect == "postgresql":
        return [
            "UPDATE conversation AS c SET search_vector = d.doc, search_chars = d.chars FROM ("
            "SELECT conversation_id, "
            "strip(to_tsvector('simple', string_agg(piece, E'\\n' ORDER BY received_at, id))) "
            "AS doc, sum(length(piece) + 1) - 1 AS chars "
            f"FROM ({_KEPT}) AS k WHERE used < {KEEP_CHARS} GROUP BY conversation_id"
            ") AS d WHERE c.id = d.conversation_id"
        ]
    return [
        "INSERT INTO conversation_fts(conversation_fts) VALUES ('delete-all')",
        # in rowid order: FTS5 flushes its pending data whenever a rowid goes backwards
        f"INSERT INTO conversation_fts(rowid, text) SELECT {_fts_rowid('message')}, text "
        f"FROM message WHERE {_searchable('message')} ORDER BY 1",
    ]


def category_backfill(dialect: str) -> list[str]:
    """Statements that fill ``conversation_category`` from every standing message's triage."""
    if dialect == "postgresql":
        source = (
            "FROM message AS m CROSS JOIN LATERAL jsonb_each(CASE WHEN "
            "jsonb_typeof(m.triage -> 'categories') = 'object' THEN m.triage -> 'categories' "
            "END) AS j WHERE m.deleted_at IS NULL "
            "AND CASE WHEN jsonb_typeof(j.value) = 'number' THEN (j.value)::numeric END "
            f">= {THRESHOLD}"
        )
    else:
        source = (
            "FROM message AS m, json_each(m.triage, '$.categories') AS j "
            "WHERE m.triage IS NOT NULL AND m.deleted_at IS NULL "
            f"AND j.type IN ('integer', 'real') AND j.value >= {THRESHOLD}"
        )
    return [
        "DELETE FROM conversation_category",
        "INSERT INTO conversation_category (conversation_id, category) "
        f"SELECT DISTINCT m.conversation_id, j.key {source} AND j.key IN ({_CATEGORY_LIST})",
    ]


# What 0001 made for per-message search on SQLite (restored by the downgrade).
SQLITE_MESSAGE_FTS_TRIGGERS = (
    "CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN "
    "INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER message_fts_update AFTER UPDATE OF text ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text); END",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "conversation",
        sa.Column("search_chars", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_conversation_latest",
        "conversation",
        [sa.text("last_message_at DESC"), sa.text("id DESC")],
    )

    op.create_table(
        "conversation_category",
        sa.Column("conversation_id", app.db.BigIntId, nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "category"),
    )
    for statement in category_backfill(dialect):
        op.execute(statement)
    op.create_index(
        "ix_conversation_category_category",
        "conversation_category",
        ["category", "conversation_id"],
    )

    if dialect == "postgresql":
        op.execute("ALTER TABLE conversation ADD COLUMN search_vector tsvector")
        for statement in search_backfill(dialect):
            op.execute(statement)
        op.execute("CREATE INDEX ix_conversation_search ON conversation USING gin (search_vector)")
        op.execute("DROP INDEX IF EXISTS ix_message_search")
        op.execute("ALTER TABLE message DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("message_fts_insert", "message_fts_delete", "message_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS message_fts")
        op.execute(
            "CREATE VIRTUAL TABLE conversation_fts USING fts5(text, content='', columnsize=0, "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        for statement in search_backfill(dialect):
            op.execute(statement)
        for statement in SQLITE_FTS_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE message ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(text, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_message_search ON message USING gin (search_vector)")
        op.execute("DROP INDEX IF EXISTS ix_conversation_search")
        op.execute("ALTER TABLE conversation DROP COLUMN search_vector")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE message_fts USING fts5("
            "text, content='message', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute("INSERT INTO message_fts(message_fts) VALUES('rebuild')")
        for statement in SQLITE_MESSAGE_FTS_TRIGGERS:
            op.execute(statement)
        for trigger in (
            "conversation_fts_insert",
            "conversation_fts_delete",
            "conversation_fts_update",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS conversation_fts")
    op.drop_index("ix_conversation_category_category", table_name="conversation_category")
    op.drop_table("conversation_category")
    op.drop_index("ix_conversation_latest", table_name="conversation")
    op.execute("ALTER TABLE conversation DROP COLUMN search_chars")
