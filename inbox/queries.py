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
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from app.sql import dialect_name
from inbox.models import (
    FTS_ROWID_SHIFT,
    Author,
    Conversation,
    ConversationCategory,
    ConversationLabel,
    Message,
)
from inbox.schemas import (
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
category_t = ConversationCategory.__table__  # type: ignore[attr-defined]

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
    """Conversations whose standing inbound messages have every word of ``q`` (not
    necessarily in the same message), read from what ``inbox.ingest`` keeps for search."""
    terms = _SEARCH_TERM.findall(q)[:16]
    if not terms:
        raise InvalidInput("the search needs at least one word")
    if dialect_name(session) == "postgresql":
        return sa.literal_column("conversation.search_vector").op("@@")(
            sa.func.plainto_tsquery(sa.literal_column("'simple'"), " ".join(terms))
        )
    # One row per message, keyed by conversation: a term at a time, so that the words may
    # come from different messages. Each term quoted (user input never reaches FTS5 query
    # syntax), prefix match.
    conversation_id: sa.ColumnElement[int] = sa.literal_column(f"rowid >> {FTS_ROWID_SHIFT}")
    return sa.and_(
        *(
            conversation_t.c.id.in_(
                sa.select(conversation_id)
                .select_from(sa.table("conversation_fts"))
                .where(sa.literal_column("conversation_fts").op("MATCH")(f'"{term}"*'))
            )
            for term in dict.fromkeys(t.replace('"', "") for t in terms)
        )
    )


def _category_condition(category: str) -> sa.ColumnElement[bool]:
    """A standing message of the conversation scores at least the threshold on it (what
    the worker keeps in ``conversation_category``, ``inbox.processing``)."""
    return sa.exists().where(
        category_t.c.conversation_id == conversation_t.c.id,
        category_t.c.category == category,
    )


def visibility_condition(visibility: Visibility) -> sa.ColumnElement[bool] | None:
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
    if (visible := visibility_condition(visibility)) is not None:
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

    page = sa.select(conversation_t).where(*conditions).order_by(*order).limit(limit + 1)
    rows = (await session.execute(_with_details(session, page, sort))).all()
    more = len(rows) > limit
    items = [_conversation_public(r) for r in rows[:limit]]
    next_cursor = None
    if more and items:
        last_item = items[-1]
        next_cursor = _encode_cursor(
            [last_item.urgency, last_item.waiting_since.isoformat(), last_item.id]
            if sort is Sort.urgency
            else [last_item.last_message_at.isoformat(), last_item.id]
        )
    return items, next_cursor


def _order(c: Any, sort: Sort) -> list[sa.UnaryExpression[Any]]:
    if sort is Sort.urgency:
        return [c.urgency.desc(), c.waiting_since.asc(), c.id.asc()]
    return [c.last_message_at.desc(), c.id.desc()]


_CONVERSATION_FIELDS = tuple(
    column.name for column in conversation_t.c if column.name in ConversationPublic.model_fields
)
_AUTHOR_FIELDS = tuple(AuthorPublic.model_fields)
_TOP_FIELDS = (
    "id",
    "kind",
    "text",
    "language",
    "urgency",
    "triage",
    "platform_created_at",
    "received_at",
    "author_id",
)
_LABEL_SEPARATOR = "\x1f"  # labels cannot hold control characters (inbox.service)


# Made once: aliasing a table copies its columns, which costs more than the query's rest.
_candidate = message_t.alias("candidate")
_top_message = message_t.alias("top")
_author_a = author_t.alias("author")
_top_author_a = author_t.alias("top_author")


def _with_details(session: AsyncSession, page: sa.Select[Any], sort: Sort) -> sa.Select[Any]:
    """The conversations ``page`` selects, in one statement with what a row shows besides
    its own columns: its labels, its author, and its top message (its most urgent standing
    inbound message, the latest on a tie) with that message's author."""
    rows = page.subquery("page")
    p, m = rows.c, _candidate.c
    top_first = (sa.func.coalesce(m.urgency, -1).desc(), m.received_at.desc(), m.id.desc())
    standing_inbound = (m.conversation_id == p.id, m.direction == "inbound", m.deleted_at.is_(None))
    if dialect_name(session) == "postgresql":
        top: Any = (
            sa.select(*(m[f] for f in _TOP_FIELDS))
            .where(*standing_inbound)
            .order_by(*top_first)
            .limit(1)
            .lateral("top")
        )
        top_on: sa.ColumnElement[bool] = sa.true()
    else:  # no LATERAL: join the top message by its id, found per row
        top = _top_message
        top_on = (
            top.c.id
            == (
                sa.select(m.id).where(*standing_inbound).order_by(*top_first).limit(1)
            ).scalar_subquery()
        )
    labels = (
        sa.select(sa.func.aggregate_strings(label_t.c.label, _LABEL_SEPARATOR))
        .where(label_t.c.conversation_id == p.id)
        .scalar_subquery()
    )
    t, author, top_author = top.c, _author_a.c, _top_author_a.c
    columns = [
        *(p[f] for f in _CONVERSATION_FIELDS),
        labels.label("labels"),
        *(author[f].label(f"a_{f}") for f in _AUTHOR_FIELDS),
        *(
            (sa.func.substr(t.text, 1, EXCERPT_CHARS) if f == "text" else t[f]).label(f"t_{f}")
            for f in _TOP_FIELDS
        ),
        *(top_author[f].label(f"ta_{f}") for f in _AUTHOR_FIELDS),
    ]
    source = (
        rows.outerjoin(_author_a, author.id == p.author_id)
        .outerjoin(top, top_on)
        .outerjoin(_top_author_a, top_author.id == t.author_id)
    )
    return sa.select(*columns).select_from(source).order_by(*_order(p, sort))


def _author(row: dict[str, Any], prefix: str) -> AuthorPublic | None:
    if row[f"{prefix}id"] is None:
        return None
    return AuthorPublic(**{f: row[f"{prefix}{f}"] for f in _AUTHOR_FIELDS})


def _conversation_public(row: Row[Any]) -> ConversationPublic:
    r = row._asdict()
    top = None
    if r["t_id"] is not None:
        triage: dict[str, Any] = r["t_triage"] or {}
        top = MessageSummary(
            id=r["t_id"],
            kind=r["t_kind"],
            excerpt=r["t_text"] or "",
            language=r["t_language"] or triage.get("language"),
            urgency=r["t_urgency"],
            categories=triage.get("categories"),
            reasons=triage.get("reasons"),
            sentiment=triage.get("sentiment"),
            created_at=r["t_platform_created_at"] or r["t_received_at"],
            author=_author(r, "ta_"),
        )
    return ConversationPublic(
        **{f: r[f] for f in _CONVERSATION_FIELDS},
        labels=sorted(r["labels"].split(_LABEL_SEPARATOR)) if r["labels"] else [],
        author=_author(r, "a_"),
        top_message=top,
    )


async def conversations_public(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[ConversationPublic]:
    """The public shape of conversation rows another query has read, in their order."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    page = sa.select(conversation_t).where(conversation_t.c.id.in_(ids))
    found = {
        r.id: _conversation_public(r)
        for r in await session.execute(_with_details(session, page, Sort.urgency))
    }
    return [found[i] for i in ids if i in found]


async def authors_by_id(session: AsyncSession, ids: set[int]) -> dict[int, AuthorPublic]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(author_t).where(author_t.c.id.in_(sorted(ids))))
    return {r.id: AuthorPublic.model_validate(dict(r._mapping)) for r in rows}


def message_public(row: dict[str, Any], author: AuthorPublic | None) -> MessagePublic:
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
    if (visible := visibility_condition(visibility)) is not None:
        conditions.append(visible)
    page = sa.select(conversation_t).where(*conditions)
    row = (await session.execute(_with_details(session, page, Sort.urgency))).first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    conversation = _conversation_public(row)
    message_rows = [
        dict(r._mapping)
        for r in await session.execute(
            sa.select(message_t)
            .where(message_t.c.conversation_id == conversation_id)
            .order_by(message_t.c.received_at, message_t.c.id)
        )
    ]
    authors = await authors_by_id(session, {r["author_id"] for r in message_rows if r["author_id"]})
    messages = [
        message_public(r, authors.get(r["author_id"]) if r["author_id"] else None)
        for r in message_rows
    ]
    return ConversationDetail(**conversation.model_dump(), messages=messages)


async def get_message(
    session: AsyncSession, *, message_id: int, visibility: Visibility
) -> tuple[MessagePublic, dict[str, Any]]:
    m = message_t.c
    query = sa.select(message_t).where(m.id == message_id)
    if (visible := visibility_condition(visibility)) is not None:
        query = query.join(conversation_t, conversation_t.c.id == m.conversation_id).where(visible)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no message {message_id}")
    data = dict(row._mapping)
    authors = await authors_by_id(session, {data["author_id"]} if data["author_id"] else set())
    return message_public(data, authors.get(data["author_id"])), data["raw"]
