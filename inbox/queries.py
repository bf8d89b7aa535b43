"""The inbox's reads: the conversation list, a thread, a message. All SQL for them is here."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from app.sql import dialect_name
from inbox.models import Author, Conversation, ConversationLabel, Message
from inbox.schemas import (
    CATEGORY_THRESHOLD,
    AuthorPublic,
    ConversationDetail,
    ConversationPublic,
    MessagePublic,
    MessageSummary,
)

conversation_t = Conversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]
label_t = ConversationLabel.__table__  # type: ignore[attr-defined]

MAX_LIMIT = 200
EXCERPT_CHARS = 280
_SEARCH_TERM = re.compile(r"\w+", re.UNICODE)


class Sort(StrEnum):
    urgency = "urgency"  # most urgent first, then longest waiting
    newest = "newest"  # most recent activity first


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which conversations a reader may see: everything, or their teams' and their own."""

    everything: bool
    user_id: int | None = None
    team_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class InboxFilter:
    status: tuple[str, ...] = ()
    channel_id: str | None = None
    platform: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    label: str | None = None
    language: str | None = None
    min_urgency: int | None = None
    q: str | None = None
    category: str | None = None  # one of inbox.schemas.Category


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list):
            raise ValueError("not a list")
        if sort is Sort.urgency:
            urgency, waiting, cid = values
            return [int(urgency), datetime.fromisoformat(waiting), int(cid)]
        last, cid = values
        return [datetime.fromisoformat(last), int(cid)]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("the cursor is not one this API issued") from exc


def _search_condition(session: AsyncSession, q: str) -> sa.ColumnElement[bool]:
    terms = _SEARCH_TERM.findall(q)[:16]
    if not terms:
        raise InvalidInput("the search needs at least one word")
    c = conversation_t.c
    if dialect_name(session) == "postgresql":
        matching = sa.select(message_t.c.conversation_id).where(
            sa.literal_column("message.search_vector").op("@@")(
                sa.func.plainto_tsquery("simple", " ".join(terms))
            )
        )
    else:
        # Each term quoted: user input never reaches FTS5 query syntax; prefix match.
        fts_query = " ".join('"' + t.replace('"', "") + '"*' for t in terms)
        matching = sa.select(message_t.c.conversation_id).where(
            message_t.c.id.in_(
                sa.select(sa.literal_column("rowid"))
                .select_from(sa.table("message_fts"))
                .where(sa.literal_column("message_fts").op("MATCH")(fts_query))
            )
        )
    return c.id.in_(matching)


def _category_condition(category: str) -> sa.ColumnElement[bool]:
    """A standing message of the conversation scores at least the threshold on it."""
    m = message_t.c
    return sa.exists().where(
        m.conversation_id == conversation_t.c.id,
        m.deleted_at.is_(None),
        m.triage[("categories", category)].as_float() >= CATEGORY_THRESHOLD,
    )


def _visibility_condition(visibility: Visibility) -> sa.ColumnElement[bool] | None:
    if visibility.everything:
        return None
    c = conversation_t.c
    return sa.or_(
        c.team_id.is_(None),
        c.team_id.in_(visibility.team_ids),
        c.assignee_id == visibility.user_id,
    )


async def list_conversations(
    session: AsyncSession,
    *,
    visibility: Visibility,
    filters: InboxFilter,
    sort: Sort = Sort.urgency,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ConversationPublic], str | None]:
    limit = max(1, min(limit, MAX_LIMIT))
    c = conversation_t.c
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.status:
        conditions.append(
            c.status == filters.status[0]
            if len(filters.status) == 1
            else c.status.in_(filters.status)
        )
    for column, value in (
        (c.channel_id, filters.channel_id),
        (c.platform, filters.platform),
        (c.assignee_id, filters.assignee_id),
        (c.team_id, filters.team_id),
        (c.language, filters.language),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.unassigned:
        conditions.append(c.assignee_id.is_(None))
    if filters.min_urgency is not None:
        conditions.append(c.urgency >= filters.min_urgency)
    if filters.label is not None:
        conditions.append(
            c.id.in_(sa.select(label_t.c.conversation_id).where(label_t.c.label == filters.label))
        )
    if filters.q:
        conditions.append(_search_condition(session, filters.q))
    if filters.category is not None:
        conditions.append(_category_condition(filters.category))
    if (visible := _visibility_condition(visibility)) is not None:
        conditions.append(visible)

    if sort is Sort.urgency:
        order = [c.urgency.desc(), c.waiting_since.asc(), c.id.asc()]
        if cursor:
            urgency, waiting, cid = _decode_cursor(cursor, sort)
            conditions.append(
                sa.or_(
                    c.urgency < urgency,
                    sa.and_(
                        c.urgency == urgency,
                        sa.or_(
                            c.waiting_since > waiting,
                            sa.and_(c.waiting_since == waiting, c.id > cid),
                        ),
                    ),
                )
            )
    else:
        order = [c.last_message_at.desc(), c.id.desc()]
        if cursor:
            last, cid = _decode_cursor(cursor, sort)
            conditions.append(sa.tuple_(c.last_message_at, c.id) < sa.tuple_(last, cid))

    rows = (
        await session.execute(
            sa.select(conversation_t).where(*conditions).order_by(*order).limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = await _conversations_public(session, [dict(r._mapping) for r in rows])
    next_cursor = None
    if more and items:
        last_item = items[-1]
        next_cursor = _encode_cursor(
            [last_item.urgency, last_item.waiting_since.isoformat(), last_item.id]
            if sort is Sort.urgency
            else [last_item.last_message_at.isoformat(), last_item.id]
        )
    return items, next_cursor


async def _authors(session: AsyncSession, ids: set[int]) -> dict[int, AuthorPublic]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(author_t).where(author_t.c.id.in_(sorted(ids))))
    return {r.id: AuthorPublic.model_validate(dict(r._mapping)) for r in rows}


async def _labels(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            sa.select(label_t.c.conversation_id, label_t.c.label)
            .where(label_t.c.conversation_id.in_(ids))
            .order_by(label_t.c.label)
        )
        for cid, label in rows:
            labels[cid].append(label)
    return labels


async def _top_messages(session: AsyncSession, ids: list[int]) -> dict[int, MessageSummary]:
    """Per conversation, its most urgent standing inbound message (the latest on a tie)."""
    if not ids:
        return {}
    m, c = message_t.c, conversation_t.c
    top = (
        sa.select(m.id)
        .where(m.conversation_id == c.id, m.direction == "inbound", m.deleted_at.is_(None))
        .order_by(sa.func.coalesce(m.urgency, -1).desc(), m.received_at.desc(), m.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    top_ids = sa.select(top).where(c.id.in_(ids)).scalar_subquery()
    rows = await session.execute(
        sa.select(
            m.id,
            m.conversation_id,
            m.kind,
            sa.func.substr(m.text, 1, EXCERPT_CHARS).label("excerpt"),
            m.language,
            m.urgency,
            m.triage,
            m.platform_created_at,
            m.received_at,
            m.author_id,
        ).where(m.id.in_(top_ids))
    )
    found = rows.all()
    authors = await _authors(session, {r.author_id for r in found if r.author_id})
    summaries: dict[int, MessageSummary] = {}
    for r in found:
        triage: dict[str, Any] = r.triage or {}
        summaries[r.conversation_id] = MessageSummary(
            id=r.id,
            kind=r.kind,
            excerpt=r.excerpt or "",
            language=r.language or triage.get("language"),
            urgency=r.urgency,
            categories=triage.get("categories"),
            reasons=triage.get("reasons"),
            sentiment=triage.get("sentiment"),
            created_at=r.platform_created_at or r.received_at,
            author=authors.get(r.author_id) if r.author_id else None,
        )
    return summaries


async def _conversations_public(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[ConversationPublic]:
    authors = await _authors(session, {r["author_id"] for r in rows if r["author_id"]})
    ids = [r["id"] for r in rows]
    labels = await _labels(session, ids)
    tops = await _top_messages(session, ids)
    return [
        ConversationPublic(
            **{k: v for k, v in r.items() if k in ConversationPublic.model_fields},
            labels=labels[r["id"]],
            author=authors.get(r["author_id"]) if r["author_id"] else None,
            top_message=tops.get(r["id"]),
        )
        for r in rows
    ]


def _message_public(row: dict[str, Any], author: AuthorPublic | None) -> MessagePublic:
    return MessagePublic(
        **{k: v for k, v in row.items() if k in MessagePublic.model_fields},
        author=author,
        created_at=row["platform_created_at"] or row["received_at"],
        deleted=row["deleted_at"] is not None,
        processed=row["processed_at"] is not None,
    )


async def get_conversation(
    session: AsyncSession, *, conversation_id: int, visibility: Visibility
) -> ConversationDetail:
    conditions = [conversation_t.c.id == conversation_id]
    if (visible := _visibility_condition(visibility)) is not None:
        conditions.append(visible)
    row = (await session.execute(sa.select(conversation_t).where(*conditions))).first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    (conversation,) = await _conversations_public(session, [dict(row._mapping)])
    message_rows = [
        dict(r._mapping)
        for r in await session.execute(
            sa.select(message_t)
            .where(message_t.c.conversation_id == conversation_id)
            .order_by(message_t.c.received_at, message_t.c.id)
        )
    ]
    authors = await _authors(session, {r["author_id"] for r in message_rows if r["author_id"]})
    messages = [
        _message_public(r, authors.get(r["author_id"]) if r["author_id"] else None)
        for r in message_rows
    ]
    return ConversationDetail(**conversation.model_dump(), messages=messages)


async def get_message(
    session: AsyncSession, *, message_id: int, visibility: Visibility
) -> tuple[MessagePublic, dict[str, Any]]:
    m = message_t.c
    query = sa.select(message_t).where(m.id == message_id)
    if (visible := _visibility_condition(visibility)) is not None:
        query = query.join(conversation_t, conversation_t.c.id == m.conversation_id).where(visible)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no message {message_id}")
    data = dict(row._mapping)
    authors = await _authors(session, {data["author_id"]} if data["author_id"] else set())
    return _message_public(data, authors.get(data["author_id"])), data["raw"]
