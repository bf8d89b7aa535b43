"""Inbox tables: channels, authors, conversations, messages.

Indexes are chosen for the inbox list at a million messages: every list filter has an
index that leads with it and then follows the sort order (status, urgency, waiting time).
Filters on what a conversation's messages say read per-conversation copies kept in step by
the writers, never the messages themselves: ``conversation_category`` (written by the
worker when triage results land, ``inbox.processing``) and the search index: on PostgreSQL
a ``search_vector`` document per conversation with a GIN index (written at ingest,
``inbox.ingest``), on SQLite the contentless FTS5 table ``conversation_fts`` (one row per
message, keyed by conversation, see ``FTS_ROWID_SHIFT``; kept by triggers). Neither is a
model column; the migrations make both.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

import people.models  # noqa: F401  (tables this module's foreign keys point to)
from app.db import BigIntId, JsonType, UTCDateTime, utcnow

#: SQLite's ``conversation_fts`` has one row per searchable message, its rowid the
#: conversation id shifted left by this plus the message id's low bits: a search reads
#: conversation ids straight from the full-text index (``rowid >> FTS_ROWID_SHIFT``).
FTS_ROWID_SHIFT = 32


class ConversationStatus(StrEnum):
    open = "open"
    pending = "pending"
    snoozed = "snoozed"
    resolved = "resolved"


class Channel(SQLModel, table=True):
    __tablename__ = "channel"

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=32, index=True)
    name: str = Field(max_length=200)
    # Signing secret (app secret, whsec_..., bot secret token) and handshake token.
    # Never returned by the API, never logged.
    secret: str | None = Field(default=None, max_length=500)
    verify_token: str | None = Field(default=None, max_length=500)
    # What replies are sent with (page access token, bot token, SMTP identity, ...), as
    # {key: value}; read through inbox.channels.outbound_credentials. Never returned by the
    # API, never logged.
    outbound_credentials: dict[str, str] | None = Field(default=None, sa_type=JsonType)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Author(SQLModel, table=True):
    __tablename__ = "author"
    __table_args__ = (sa.UniqueConstraint("platform", "platform_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    platform: str = Field(max_length=32)
    platform_id: str = Field(max_length=200)
    handle: str | None = Field(default=None, max_length=200)
    display_name: str | None = Field(default=None, max_length=300)
    reach_followers: int | None = Field(default=None, sa_type=sa.BigInteger)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "thread_key"),
        sa.Index("ix_conversation_newest", "status", sa.text("last_message_at DESC"), "id"),
        sa.Index("ix_conversation_latest", sa.text("last_message_at DESC"), sa.text("id DESC")),
        sa.Index("ix_conversation_all", sa.text("urgency DESC"), "waiting_since", "id"),
        *(
            sa.Index(name, *lead, "status", sa.text("urgency DESC"), "waiting_since", "id")
            for name, lead in (
                ("ix_conversation_inbox", ()),
                ("ix_conversation_channel_inbox", ("channel_id",)),
                ("ix_conversation_platform_inbox", ("platform",)),
                ("ix_conversation_assignee_inbox", ("assignee_id",)),
                ("ix_conversation_team_inbox", ("team_id",)),
                ("ix_conversation_language_inbox", ("language",)),
            )
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    channel_id: str = Field(foreign_key="channel.id", max_length=32)
    platform: str = Field(max_length=32)
    thread_key: str = Field(max_length=300)
    kind: str = Field(max_length=16)
    subject: str | None = Field(default=None, max_length=500)
    status: str = Field(default=ConversationStatus.open, max_length=16)
    urgency: int = Field(default=0)
    language: str | None = Field(default=None, max_length=8)
    assignee_id: int | None = Field(default=None, foreign_key="user.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    author_id: int | None = Field(default=None, foreign_key="author.id", sa_type=BigIntId)
    message_count: int = 0
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the oldest inbound message nobody answered arrived (else the last message):
    # the age the inbox sorts by within one urgency.
    waiting_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_message_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # When an agent first replied (inbox.replies); first-response times are measured by it.
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # PostgreSQL: about how many characters of message text the search document holds
    # (inbox.ingest rebuilds the document instead of appending past a limit); SQLite: 0.
    search_chars: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ConversationCategory(SQLModel, table=True):
    """The triage categories a conversation has: those that a standing message of it
    scores at least ``inbox.schemas.CATEGORY_THRESHOLD`` on (``inbox.processing``)."""

    __tablename__ = "conversation_category"
    __table_args__ = (sa.Index("ix_conversation_category_category", "category", "conversation_id"),)

    conversation_id: int = Field(
        foreign_key="conversation.id", primary_key=True, sa_type=BigIntId, ondelete="CASCADE"
    )
    category: str = Field(primary_key=True, max_length=32)


class ConversationLabel(SQLModel, table=True):
    __tablename__ = "conversation_label"
    __table_args__ = (sa.Index("ix_conversation_label_label", "label", "conversation_id"),)

    conversation_id: int = Field(
        foreign_key="conversation.id", primary_key=True, sa_type=BigIntId, ondelete="CASCADE"
    )
    label: str = Field(primary_key=True, max_length=64)


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "external_id"),
        sa.Index("ix_message_conversation", "conversation_id", "received_at", "id"),
        # The overview's volume and urgency by channel over time reads only this index.
        sa.Index(
            "ix_message_received_channel", "received_at", "channel_id", "direction", "urgency"
        ),
        # The sweeper's scan: only rows still waiting for processing are in this index.
        sa.Index(
            "ix_message_unprocessed",
            "received_at",
            sqlite_where=sa.text("processed_at IS NULL"),
            postgresql_where=sa.text("processed_at IS NULL"),
        ),
        # Replies: one per Idempotency-Key and channel; the retry scheduler's scan.
        sa.Index("ux_message_idempotency_key", "channel_id", "idempotency_key", unique=True),
        sa.Index(
            "ix_message_delivery_queued",
            "received_at",
            sqlite_where=sa.text("delivery_status = 'queued'"),
            postgresql_where=sa.text("delivery_status = 'queued'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    channel_id: str = Field(foreign_key="channel.id", max_length=32)
    conversation_id: int = Field(foreign_key="conversation.id", sa_type=BigIntId)
    external_id: str = Field(max_length=300)
    parent_external_id: str | None = Field(default=None, max_length=300)
    author_id: int | None = Field(default=None, foreign_key="author.id", sa_type=BigIntId)
    direction: str = Field(max_length=16)
    kind: str = Field(max_length=16)
    text: str = Field(default="", sa_type=sa.Text)
    language: str | None = Field(default=None, max_length=8)
    url: str | None = Field(default=None, max_length=2000)
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonType)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    platform_created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    correlation_id: str | None = Field(default=None, max_length=64)
    # Set once by the worker; the guard that makes processing idempotent.
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    urgency: int | None = None
    triage: dict[str, Any] | None = Field(default=None, sa_type=JsonType)
    # The escalation rules that fired for this message and why (escalation.engine).
    escalation: list[dict[str, Any]] | None = Field(default=None, sa_type=JsonType)
    model_version: str | None = Field(default=None, max_length=100)
    # Replies we send (inbox.replies): queued -> sent | failed; None for everything else.
    # A queued reply's external_id is a placeholder ("out:<uuid>") until the platform's id
    # replaces it, so the platform's echo of it is a duplicate on (channel_id, external_id).
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_error: str | None = Field(default=None, sa_type=sa.Text)
    delivery_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    delivery_next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivery_lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_by_user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    idempotency_key: str | None = Field(default=None, max_length=200)
    # Content the platform notified without is fetched before triage (inbox.content_fetch);
    # when that failed for good, why (the message keeps its empty text).
    fetch_error: str | None = Field(default=None, sa_type=sa.Text)


class ConversationNote(SQLModel, table=True):
    """An internal note on a conversation: seen by colleagues, never sent to the platform."""

    __tablename__ = "conversation_note"
    __table_args__ = (sa.Index("ix_conversation_note_conversation", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    conversation_id: int = Field(
        foreign_key="conversation.id", sa_type=BigIntId, ondelete="CASCADE"
    )
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    text: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TriageFeedback(SQLModel, table=True):
    """An agent's correction of a message's triage; retraining reads these."""

    __tablename__ = "triage_feedback"
    __table_args__ = (sa.Index("ix_triage_feedback_message", "message_id", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    message_id: int = Field(foreign_key="message.id", sa_type=BigIntId, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    urgency: int | None = None
    # The complete list of categories that apply (empty: none); None: not corrected.
    categories: list[str] | None = Field(default=None, sa_type=JsonType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
