"""Agents' replies: stored as outbound messages, then sent by the platform's connector.

``create_reply`` writes the reply in the request's transaction: an outbound message
(``delivery_status`` "queued", a placeholder ``external_id`` "out:<uuid>", the author our
own account), visible in the thread at once; the conversation counts as answered
(``waiting_since`` and ``first_response_at``). The ``reply.requested`` job is enqueued only
after the commit. An ``Idempotency-Key`` is unique per channel (a unique index): the same
key again returns the same reply and sends nothing more; the same key with a different
conversation or text is a 409.

Sending, retries and the delivery state machine are in :mod:`inbox.reply_delivery`.
Services never commit; events reach subscribers after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.queue import Job, Queue
from app.sql import dialect_name, insert_ignore_returning_id
from inbox.channels import outbound_credentials
from inbox.connectors import connector_for
from inbox.events import MESSAGE_CREATED, emit_conversation_updated, emit_message_events
from inbox.models import Author, Channel, Conversation, Message
from inbox.normalize import Direction, Kind
from inbox.queries import Visibility, visibility_condition
from realtime.events import emit
from realtime.models import Audience

REPLY_REQUESTED = "reply.requested"  # job: a reply is waiting to be sent
REPLY_STATUS = "reply.status"  # realtime event: a reply's delivery state changed
PLACEHOLDER_PREFIX = "out:"
EMAIL_PLATFORMS = frozenset({"mailgun", "sendgrid"})

message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
channel_t = Channel.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]


class DeliveryStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class ChannelNotReady(InvalidInput):
    code = "channel_not_configured"


class ReplyNotRetryable(Conflict):
    code = "reply_not_retryable"


@dataclass(frozen=True, slots=True)
class ReplyCreated:
    message_id: int
    replayed: bool  # an earlier request with the same Idempotency-Key made it


def reply_requested_job(message_id: int, cid: str | None) -> Job:
    return Job(name=REPLY_REQUESTED, payload={"message_id": message_id}, correlation_id=cid)


def new_placeholder_id() -> str:
    return f"{PLACEHOLDER_PREFIX}{uuid.uuid4().hex}"


def reply_kind(platform: str, conversation_kind: str) -> Kind:
    if platform in EMAIL_PLATFORMS:
        return Kind.email
    return Kind.dm if conversation_kind == Kind.dm else Kind.reply


async def _visible_conversation(
    session: AsyncSession, conversation_id: int, visibility: Visibility
) -> Mapping[str, Any]:
    c, ch = conversation_t.c, channel_t.c
    conditions = [c.id == conversation_id]
    if (visible := visibility_condition(visibility)) is not None:
        conditions.append(visible)
    row = (
        await session.execute(
            sa.select(
                c.id,
                c.channel_id,
                c.kind,
                c.thread_key,
                ch.platform,
                ch.name.label("channel_name"),
                ch.outbound_credentials,
            )
            .select_from(conversation_t.join(channel_t, ch.id == c.channel_id))
            .where(*conditions)
        )
    ).first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return dict(row._mapping)


async def _target(
    session: AsyncSession, conversation_id: int, reply_to_message_id: int | None
) -> Mapping[str, Any] | None:
    """The message answered: the one named, else the latest standing inbound message."""
    m = message_t.c
    query = sa.select(m.id, m.external_id, m.deleted_at).where(m.conversation_id == conversation_id)
    if reply_to_message_id is not None:
        row = (await session.execute(query.where(m.id == reply_to_message_id))).first()
        if row is None:
            raise InvalidInput(
                f"message {reply_to_message_id} is not in conversation {conversation_id}"
            )
        if row.deleted_at is not None:
            raise InvalidInput(f"message {reply_to_message_id} was deleted on the platform")
        return dict(row._mapping)
    row = (
        await session.execute(
            query.where(m.direction == Direction.inbound.value, m.deleted_at.is_(None))
            .order_by(m.received_at.desc(), m.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def _our_author_id(
    session: AsyncSession, *, platform: str, platform_id: str, display_name: str
) -> int:
    """Our own account as an author; the same row its echoes from the platform get."""
    now = utcnow()
    new_id = await insert_ignore_returning_id(
        session,
        author_t,
        {
            "platform": platform,
            "platform_id": platform_id,
            "display_name": display_name,
            "first_seen_at": now,
            "updated_at": now,
        },
        conflict_columns=("platform", "platform_id"),
    )
    if new_id is not None:
        return new_id
    existing = await session.execute(
        sa.select(author_t.c.id).where(
            author_t.c.platform == platform, author_t.c.platform_id == platform_id
        )
    )
    return int(existing.scalar_one())


async def _existing_for_key(
    session: AsyncSession,
    *,
    channel_id: str,
    idempotency_key: str,
    conversation_id: int,
    text: str,
) -> ReplyCreated | None:
    m = message_t.c
    row = (
        await session.execute(
            sa.select(m.id, m.conversation_id, m.text).where(
                m.channel_id == channel_id, m.idempotency_key == idempotency_key
            )
        )
    ).first()
    if row is None:
        return None
    if row.conversation_id != conversation_id or row.text != text:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different reply",
            message_id=row.id,
        )
    return ReplyCreated(message_id=row.id, replayed=True)


async def create_reply(
    session: AsyncSession,
    *,
    conversation_id: int,
    text: str,
    user_id: int,
    visibility: Visibility,
    queue: Queue,
    reply_to_message_id: int | None = None,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
) -> ReplyCreated:
    conversation = await _visible_conversation(session, conversation_id, visibility)
    platform: str = conversation["platform"]
    channel_id: str = conversation["channel_id"]
    connector = connector_for(platform)
    if not text.strip():
        raise InvalidInput("a reply needs some text")
    if "\x00" in text:
        raise InvalidInput("a reply cannot contain NUL characters")
    limit = connector.text_limit(platform, conversation["kind"])
    if len(text) > limit:
        raise InvalidInput(f"{platform} takes at most {limit} characters; this is {len(text)}")
    credentials = outbound_credentials(conversation)
    missing = connector.missing_credentials(platform, credentials)
    if missing:
        raise ChannelNotReady(
            f"the channel cannot send replies yet: it needs the outbound credentials "
            f"{', '.join(missing)}",
            missing=missing,
        )
    if idempotency_key is not None:
        found = await _existing_for_key(
            session,
            channel_id=channel_id,
            idempotency_key=idempotency_key,
            conversation_id=conversation_id,
            text=text,
        )
        if found is not None:
            return found

    target = await _target(session, conversation_id, reply_to_message_id)
    account = connector.account_id(platform, credentials, conversation["thread_key"])
    author_id = await _our_author_id(
        session,
        platform=platform,
        platform_id=account or f"channel:{channel_id}",
        display_name=conversation["channel_name"],
    )
    now = utcnow()
    values: dict[str, Any] = {
        "channel_id": channel_id,
        "conversation_id": conversation_id,
        "external_id": new_placeholder_id(),
        "parent_external_id": target["external_id"] if target else None,
        "author_id": author_id,
        "direction": Direction.outbound.value,
        "kind": reply_kind(platform, conversation["kind"]).value,
        "text": text,
        "attachments": [],
        "context": {"reply_to_message_id": target["id"]} if target else {},
        "raw": {},
        "received_at": now,
        "correlation_id": correlation_id,
        # Nothing to triage: the sweeper must not pick it up.
        "processed_at": now,
        "delivery_status": DeliveryStatus.queued.value,
        "delivery_attempts": 0,
        "sent_by_user_id": user_id,
        "idempotency_key": idempotency_key,
    }
    if idempotency_key is None:
        new_id: int | None = (
            await session.execute(sa.insert(message_t).values(values).returning(message_t.c.id))
        ).scalar_one()
    else:
        new_id = await insert_ignore_returning_id(
            session, message_t, values, conflict_columns=("channel_id", "idempotency_key")
        )
        if new_id is None:  # a concurrent request with the same key won
            found = await _existing_for_key(
                session,
                channel_id=channel_id,
                idempotency_key=idempotency_key,
                conversation_id=conversation_id,
                text=text,
            )
            assert found is not None
            return found
    assert new_id is not None
    await _note_answered(session, conversation_id, now)
    await emit_message_events(session, MESSAGE_CREATED, [new_id])
    await emit_conversation_updated(session, conversation_id, {"replied": True})

    job = reply_requested_job(new_id, correlation_id)

    async def enqueue() -> None:
        await queue.enqueue([job])

    after_commit(session, enqueue)
    return ReplyCreated(message_id=new_id, replayed=False)


async def _note_answered(session: AsyncSession, conversation_id: int, at: Any) -> None:
    """The conversation is answered: its waiting clock restarts, its first response is set.
    (Its status stays as the agent left it.)"""
    c = conversation_t.c
    latest = (
        sa.func.max(c.last_message_at, at)
        if dialect_name(session) == "sqlite"
        else sa.func.greatest(c.last_message_at, at)
    )
    await session.execute(
        sa.update(conversation_t)
        .where(c.id == conversation_id)
        .values(
            message_count=c.message_count + 1,
            last_message_at=latest,
            waiting_since=at,
            first_response_at=sa.func.coalesce(c.first_response_at, at),
            updated_at=at,
        )
    )


async def retry_reply(
    session: AsyncSession, *, message_id: int, visibility: Visibility, queue: Queue
) -> None:
    """Send a failed reply again (the agent fixed the channel, or the platform recovered)."""
    m, c = message_t.c, conversation_t.c
    conditions = [m.id == message_id]
    if (visible := visibility_condition(visibility)) is not None:
        conditions.append(visible)
    row = (
        await session.execute(
            sa.select(m.id, m.delivery_status, m.correlation_id)
            .select_from(message_t.join(conversation_t, c.id == m.conversation_id))
            .where(*conditions)
        )
    ).first()
    if row is None:
        raise NotFound(f"no message {message_id}")
    changed = await session.execute(
        sa.update(message_t)
        .where(m.id == message_id, m.delivery_status == DeliveryStatus.failed.value)
        .values(
            delivery_status=DeliveryStatus.queued.value,
            delivery_error=None,
            delivery_attempts=0,
            delivery_next_attempt_at=None,
            delivery_lease_until=None,
        )
        .returning(m.id)
    )
    if changed.scalar_one_or_none() is None:
        raise ReplyNotRetryable(
            f"message {message_id} is not a failed reply (it is {row.delivery_status or 'inbound'})"
        )
    await emit_reply_status(session, message_id)
    job = reply_requested_job(message_id, row.correlation_id)

    async def enqueue() -> None:
        await queue.enqueue([job])

    after_commit(session, enqueue)


async def emit_reply_status(session: AsyncSession, message_id: int) -> None:
    """Tell the inbox audience of the conversation about the reply's delivery state."""
    m, c = message_t.c, conversation_t.c
    row = (
        await session.execute(
            sa.select(
                m.id,
                m.conversation_id,
                m.external_id,
                m.delivery_status,
                m.delivery_error,
                m.delivery_attempts,
                m.delivery_next_attempt_at,
                c.team_id,
                c.assignee_id,
            )
            .select_from(message_t.join(conversation_t, c.id == m.conversation_id))
            .where(m.id == message_id)
        )
    ).first()
    if row is None:
        return
    await emit(
        session,
        REPLY_STATUS,
        {
            "message_id": row.id,
            "conversation_id": row.conversation_id,
            "delivery_status": row.delivery_status,
            "delivery_error": row.delivery_error,
            "delivery_attempts": row.delivery_attempts,
            "delivery_next_attempt_at": row.delivery_next_attempt_at.isoformat()
            if row.delivery_next_attempt_at
            else None,
            "external_id": None
            if row.external_id.startswith(PLACEHOLDER_PREFIX)
            else row.external_id,
        },
        audience=Audience.inbox,
        team_id=row.team_id,
        assignee_id=row.assignee_id,
    )
