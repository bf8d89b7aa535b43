"""Public shapes of inbox objects. Table models are never request bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class MessageWithRaw(MessagePublic):
    raw: dict[str, Any]


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
