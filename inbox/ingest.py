"""Storing a verified delivery: authors, conversations and messages, deduplicated.

Everything a delivery holds is written in the caller's transaction, before the platform
gets its 2xx. Jobs for the new or changed messages are enqueued after commit.
The platform's content id is the dedup key: a repeat adds nothing, an edit updates the
text (and re-queues the message for triage), a removal marks the row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.sql import insert_for, insert_ignore_returning_id
from inbox.channels import ChannelInfo
from inbox.models import Author, Conversation, ConversationStatus, Message
from inbox.normalize import Action, Direction, NormalizedAuthor, NormalizedMessage

author_t = Author.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]

SUBJECT_CHARS = 200
ID_CHARS = 300  # external_id, thread_key, parent_external_id, platform_id columns


def _clean_text(value: str) -> str:
    """PostgreSQL refuses NUL in text and jsonb; no platform means anything by it."""
    return value.replace("\x00", "")


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    return value


def _fit_id(value: str | None) -> str | None:
    """Ids longer than the column are replaced by their hash: distinct ids stay distinct."""
    if value is None:
        return None
    value = _clean_text(value)
    if len(value) <= ID_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _fit(value: str | None, max_chars: int) -> str | None:
    return None if value is None else _clean_text(value)[:max_chars]


def sanitised(message: NormalizedMessage) -> NormalizedMessage:
    """A message whose values fit the columns and the database's character rules."""
    author = message.author
    if author is not None:
        author = replace(
            author,
            platform_id=_fit_id(author.platform_id) or "",
            handle=_fit(author.handle, 200),
            display_name=_fit(author.display_name, 300),
        )
    return replace(
        message,
        external_id=_fit_id(message.external_id) or "",
        thread_key=_fit_id(message.thread_key) or "",
        parent_external_id=_fit_id(message.parent_external_id),
        text=_clean_text(message.text),
        author=author,
        language=_fit(message.language, 8),
        url=_fit(message.url, 2000),
        attachments=tuple(_clean_json(list(message.attachments))),
        context=_clean_json(message.context),
        raw=_clean_json(message.raw),
    )


@dataclass(slots=True)
class IngestResult:
    created: list[int] = field(default_factory=list)  # message ids
    updated: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    duplicates: int = 0

    @property
    def to_process(self) -> list[int]:
        return self.created + self.updated


async def _upsert_author(session: AsyncSession, platform: str, author: NormalizedAuthor) -> int:
    now = utcnow()
    values = {
        "platform": platform,
        "platform_id": author.platform_id,
        "handle": author.handle,
        "display_name": author.display_name,
        "reach_followers": author.reach_followers,
        "first_seen_at": now,
        "updated_at": now,
    }
    excluded = insert_for(session, author_t).excluded
    statement = (
        insert_for(session, author_t)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["platform", "platform_id"],
            # What a delivery does not carry (followers on Meta) keeps its known value.
            set_={
                "handle": sa.func.coalesce(excluded.handle, author_t.c.handle),
                "display_name": sa.func.coalesce(excluded.display_name, author_t.c.display_name),
                "reach_followers": sa.func.coalesce(
                    excluded.reach_followers, author_t.c.reach_followers
                ),
                "updated_at": now,
            },
        )
        .returning(author_t.c.id)
    )
    return int((await session.execute(statement)).scalar_one())


async def _conversation_id(
    session: AsyncSession,
    channel: ChannelInfo,
    message: NormalizedMessage,
    *,
    author_id: int | None,
    at: datetime,
) -> int:
    new_id = await insert_ignore_returning_id(
        session,
        conversation_t,
        {
            "channel_id": channel.id,
            "platform": channel.platform,
            "thread_key": message.thread_key,
            "kind": message.kind.value,
            "subject": (message.text[:SUBJECT_CHARS] or None),
            "status": ConversationStatus.open.value,
            "urgency": 0,
            "language": message.language,
            "team_id": channel.team_id,
            "author_id": author_id,
            "message_count": 0,
            "waiting_since": at,
            "last_message_at": at,
            "created_at": at,
            "updated_at": at,
        },
        conflict_columns=("channel_id", "thread_key"),
    )
    if new_id is not None:
        return new_id
    existing = await session.execute(
        sa.select(conversation_t.c.id).where(
            conversation_t.c.channel_id == channel.id,
            conversation_t.c.thread_key == message.thread_key,
        )
    )
    return int(existing.scalar_one())


async def _note_new_message(
    session: AsyncSession, conversation_id: int, message: NormalizedMessage, at: datetime
) -> None:
    c = conversation_t.c
    values: dict[str, object] = {
        "message_count": c.message_count + 1,
        "last_message_at": sa.func.max(c.last_message_at, at)
        if session.bind is not None and session.bind.dialect.name == "sqlite"
        else sa.func.greatest(c.last_message_at, at),
        "updated_at": at,
    }
    if message.direction is Direction.inbound:
        # A customer writing again reopens a finished conversation and restarts its clock.
        values["status"] = sa.case(
            (c.status == ConversationStatus.resolved.value, ConversationStatus.open.value),
            else_=c.status,
        )
        values["waiting_since"] = sa.case(
            (c.status == ConversationStatus.resolved.value, at), else_=c.waiting_since
        )
        if message.language:
            values["language"] = message.language
    await session.execute(sa.update(conversation_t).where(c.id == conversation_id).values(values))


def _message_values(
    channel: ChannelInfo,
    message: NormalizedMessage,
    *,
    conversation_id: int,
    author_id: int | None,
    at: datetime,
    correlation_id: str | None,
) -> dict[str, object]:
    return {
        "channel_id": channel.id,
        "conversation_id": conversation_id,
        "external_id": message.external_id,
        "parent_external_id": message.parent_external_id,
        "author_id": author_id,
        "direction": message.direction.value,
        "kind": message.kind.value,
        "text": message.text,
        "language": message.language,
        "url": message.url,
        "attachments": list(message.attachments),
        "context": message.context,
        "raw": message.raw,
        "platform_created_at": message.platform_created_at,
        "received_at": at,
        "correlation_id": correlation_id,
        # Outbound copies (echoes of our own replies) and removals need no triage.
        "processed_at": at
        if message.direction is Direction.outbound or message.action is Action.delete
        else None,
        "edited_at": at if message.action is Action.edit else None,
        "deleted_at": at if message.action is Action.delete else None,
    }


async def store_delivery(
    session: AsyncSession,
    *,
    channel: ChannelInfo,
    messages: Sequence[NormalizedMessage],
    correlation_id: str | None = None,
) -> IngestResult:
    result = IngestResult()
    at = utcnow()
    authors: dict[str, int] = {}
    m = message_t.c
    for message in map(sanitised, messages):
        author_id: int | None = None
        if message.author is not None:
            author_id = authors.get(message.author.platform_id)
            if author_id is None:
                author_id = await _upsert_author(session, channel.platform, message.author)
                authors[message.author.platform_id] = author_id
        key = (m.channel_id == channel.id) & (m.external_id == message.external_id)

        if message.action is Action.edit:
            changed = await session.execute(
                sa.update(message_t)
                .where(key, m.text != message.text, m.deleted_at.is_(None))
                .values(text=message.text, edited_at=at, processed_at=None, raw=message.raw)
                .returning(m.id)
            )
            updated_id = changed.scalar_one_or_none()
            if updated_id is not None:
                result.updated.append(updated_id)
                continue
        elif message.action is Action.delete:
            marked = await session.execute(
                sa.update(message_t)
                .where(key, m.deleted_at.is_(None))
                .values(deleted_at=at)
                .returning(m.id)
            )
            deleted_id = marked.scalar_one_or_none()
            if deleted_id is not None:
                result.deleted.append(deleted_id)
                continue

        # New content, or an edit / removal of content we never saw: store it once.
        conversation_id = await _conversation_id(
            session, channel, message, author_id=author_id, at=at
        )
        new_id = await insert_ignore_returning_id(
            session,
            message_t,
            _message_values(
                channel,
                message,
                conversation_id=conversation_id,
                author_id=author_id,
                at=at,
                correlation_id=correlation_id,
            ),
            conflict_columns=("channel_id", "external_id"),
        )
        if new_id is None:
            result.duplicates += 1
            continue
        await _note_new_message(session, conversation_id, message, at)
        if message.action is Action.delete:
            result.deleted.append(new_id)
        else:
            result.created.append(new_id)
    return result
