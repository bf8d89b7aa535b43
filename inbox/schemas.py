"""Public shapes of inbox objects. Table models are never request bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inbox.models import ConversationStatus


class AuthorPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: str
    platform_id: str
    handle: str | None
    display_name: str | None
    reach_followers: int | None


class MessagePublic(BaseModel):
    id: int
    conversation_id: int
    channel_id: str
    external_id: str
    parent_external_id: str | None
    direction: str
    kind: str
    text: str
    language: str | None
    url: str | None
    attachments: list[dict[str, Any]]
    context: dict[str, Any]
    author: AuthorPublic | None
    created_at: datetime  # when it was written on the platform (else when we received it)
    received_at: datetime
    edited_at: datetime | None
    deleted: bool
    processed: bool
    urgency: int | None
    triage: dict[str, Any] | None
    # Which escalation rules fired for this message and why (escalation.engine).
    escalation: list[dict[str, Any]] | None = None
    # Our replies only (inbox.replies): queued, sent or failed, the platform's reason for
    # a failure (or the wait before the next attempt), who sent it.
    delivery_status: str | None = None
    delivery_error: str | None = None
    delivery_attempts: int = 0
    delivery_next_attempt_at: datetime | None = None
    sent_by_user_id: int | None = None
    # Why the content the platform notified without could not be fetched (else None).
    fetch_error: str | None = None


class MessageWithRaw(MessagePublic):
    raw: dict[str, Any]


#: The triage categories (PRODUCT.md); a conversation "has" one when a standing message
#: scores at least ``CATEGORY_THRESHOLD`` on it.
Category = Literal[
    "safety", "threat", "legal", "press", "outage", "complaint",
    "toxic", "question", "praise", "spam", "fact_claim",
]  # fmt: skip
CATEGORY_THRESHOLD = 0.5


class MessageSummary(BaseModel):
    """The conversation's most urgent standing inbound message, for the inbox row."""

    id: int
    kind: str
    excerpt: str
    language: str | None
    urgency: int | None
    categories: dict[str, float] | None
    reasons: list[str] | None
    sentiment: str | None
    created_at: datetime
    author: AuthorPublic | None = None  # who wrote it (a post's thread has many authors)


class ConversationPublic(BaseModel):
    id: int
    channel_id: str
    platform: str
    thread_key: str
    kind: str
    subject: str | None
    status: str
    urgency: int
    language: str | None
    assignee_id: int | None
    team_id: int | None
    labels: list[str]
    author: AuthorPublic | None
    message_count: int
    snoozed_until: datetime | None
    waiting_since: datetime
    last_message_at: datetime
    created_at: datetime
    top_message: MessageSummary | None = None
    first_response_at: datetime | None = None


class ConversationDetail(ConversationPublic):
    messages: list[MessagePublic]


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ConversationStatus | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    labels: list[str] | None = Field(default=None, max_length=50)
    snoozed_until: datetime | None = None


class ChannelPublic(BaseModel):
    """A channel as the API shows it: never its secrets."""

    id: str
    platform: str
    name: str
    team_id: int | None
    is_active: bool
    webhook_url: str
    has_secret: bool
    has_verify_token: bool
    created_at: datetime


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=200)
    secret: str | None = Field(default=None, max_length=500)
    verify_token: str | None = Field(default=None, max_length=500)
    team_id: int | None = None


class ChannelCreated(ChannelPublic):
    """Returned once, at creation: what the operator pastes into the platform console."""

    secret: str | None
    verify_token: str | None
    # What to enter in the platform's console, line by line (as `leitstand channel create`).
    console: list[str] = []


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000)


class NotePublic(BaseModel):
    id: int
    conversation_id: int
    user_id: int | None
    author_name: str | None
    text: str
    created_at: datetime


class TriageFeedbackCreate(BaseModel):
    """A correction: the urgency it should have had, and/or the complete list of categories
    that apply (an empty list: none do). At least one of the two."""

    model_config = ConfigDict(extra="forbid")

    urgency: int | None = Field(default=None, ge=0, le=100)
    categories: list[Category] | None = Field(default=None, max_length=11)


class TriageFeedbackPublic(BaseModel):
    id: int
    message_id: int
    user_id: int | None
    author_name: str | None
    urgency: int | None
    categories: list[str] | None
    created_at: datetime


class ReplyCreate(BaseModel):
    """An agent's reply; ``reply_to_message_id`` picks the message answered (default: the
    conversation's latest inbound message)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000)
    reply_to_message_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class OutboundCredentialsUpdate(BaseModel):
    """A channel's outbound credentials, replacing the ones it has ({}: remove them)."""

    model_config = ConfigDict(extra="forbid")

    credentials: dict[str, str] = Field(max_length=20)


class OutboundCredentialsPublic(BaseModel):
    """Which outbound credentials a channel holds: their names, never their values."""

    channel_id: str
    keys: list[str]
    missing_for_replies: list[str]
