"""Storing a verified delivery: authors, conversations and messages, deduplicated.

Everything a delivery holds is written in the caller's transaction, before the platform
gets its 2xx. Jobs for the new or changed messages are enqueued after commit.
The platform's content id is the dedup key: a repeat adds nothing, an edit updates the
text (and re-queues the message for triage), a removal marks the row.

What the inbox's full-text filter reads (``inbox.queries``) is kept in step too: the texts
of each conversation's standing inbound messages, indexed so that a search yields
conversation ids without reading a message.

- SQLite: the FTS5 table ``conversation_fts``, one row per such message, kept in step by
  triggers on ``message`` (0004_inbox_search); its rowid carries the conversation id
  (``inbox.models.FTS_ROWID_SHIFT``). Nothing to do here: a new message costs one index
  insert inside the batch's one ``INSERT INTO message``, whatever the thread's length.
- PostgreSQL: one document per conversation, ``conversation.search_vector`` (positions
  stripped), appended to by the statement that counts the batch's new messages. Appending
  costs in proportion to the document (tsvector and GIN index), so a message adds at most
  ``SEARCH_MESSAGE_CHARS`` of its text, and a document that would pass
  ``SEARCH_DOC_CHARS`` is rebuilt from the latest messages that fit in
  ``SEARCH_KEEP_CHARS`` instead: a long thread is found by what it says lately. Edits and
  removals rebuild the document.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import UTCDateTime, utcnow
from app.sql import dialect_name
from inbox.channels import ChannelInfo
from inbox.models import Author, Conversation, ConversationStatus, Message
from inbox.normalize import Action, Direction, NormalizedAuthor, NormalizedMessage
from inbox.processing import refresh_conversation_categories, refresh_conversation_urgency

author_t = Author.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]

SUBJECT_CHARS = 200
ID_CHARS = 300  # external_id, thread_key, parent_external_id, platform_id columns
# PostgreSQL's search document (module docstring); 0004_inbox_search backfills alike.
SEARCH_MESSAGE_CHARS = 8000
SEARCH_DOC_CHARS = 32000
SEARCH_KEEP_CHARS = 16000
SEARCH_REBUILD_MESSAGES = 500  # at most this many latest messages are read for a rebuild
SEARCH_SEPARATOR = "\n"

# PostgreSQL's search column is not a model column (SQLite has no such column).
conversation_pg_t = sa.table(
    "conversation",
    *(sa.column(column.name, column.type) for column in conversation_t.c),
    sa.column("search_vector", postgresql.TSVECTOR()),
)


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


@dataclass(frozen=True, slots=True)
class _Statements:
    upsert_author: Any
    insert_conversations: Any
    find_conversations: Any
    insert_messages: Any
    count_new_messages: Any
    # PostgreSQL's search document: a conversation's latest searchable texts (newest
    # first), and the statement that replaces the document; None on SQLite.
    latest_texts: Any
    replace_document: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    """The ingest statements, built once per dialect: building them costs more than running."""
    dml = postgresql if dialect == "postgresql" else sqlite
    a, c, m = author_t.c, conversation_t.c, message_t.c
    author_insert = dml.insert(author_t)
    excluded = author_insert.excluded
    upsert_author = author_insert.on_conflict_do_update(
        index_elements=["platform", "platform_id"],
        # What a delivery does not carry (followers on Meta) keeps its known value.
        set_={
            "handle": sa.func.coalesce(excluded.handle, a.handle),
            "display_name": sa.func.coalesce(excluded.display_name, a.display_name),
            "reach_followers": sa.func.coalesce(excluded.reach_followers, a.reach_followers),
            "updated_at": excluded.updated_at,
        },
    ).returning(a.id, a.platform, a.platform_id)
    # Updates name the table with PostgreSQL's search column where there is one.
    target = conversation_pg_t if dialect == "postgresql" else conversation_t
    t = target.c
    reopen = sa.and_(sa.bindparam("inbound"), t.status == ConversationStatus.resolved.value)
    latest = sa.func.max if dialect == "sqlite" else sa.func.greatest
    at = sa.bindparam("at", type_=UTCDateTime)
    cid = sa.bindparam("cid", type_=sa.BigInteger)
    counted: dict[str, Any] = {
        "message_count": t.message_count + sa.bindparam("n"),
        "last_message_at": latest(t.last_message_at, at),
        "updated_at": at,
        "status": sa.case((reopen, ConversationStatus.open.value), else_=t.status),
        "waiting_since": sa.case((reopen, at), else_=t.waiting_since),
        "language": sa.func.coalesce(sa.bindparam("lang"), t.language),
    }
    latest_texts = replace_document = None
    if dialect == "postgresql":
        doc = sa.bindparam("doc", type_=sa.Text)
        counted["search_vector"] = sa.case(
            (sa.cast(doc, sa.Text).is_(None), t.search_vector),
            else_=sa.func.coalesce(t.search_vector, sa.cast("", postgresql.TSVECTOR)).op("||")(
                _tsvector(doc)
            ),
        )
        counted["search_chars"] = t.search_chars + sa.bindparam("chars")
        latest_texts = (
            sa.select(sa.func.substr(m.text, 1, SEARCH_MESSAGE_CHARS))
            .where(
                m.conversation_id == cid,
                m.direction == Direction.inbound.value,
                m.deleted_at.is_(None),
                m.text != "",
            )
            .order_by(m.received_at.desc(), m.id.desc())
            .limit(SEARCH_REBUILD_MESSAGES)
        )
        replace_document = (
            sa.update(target)
            .where(t.id == cid)
            .values(search_vector=_tsvector(doc), search_chars=sa.bindparam("chars"))
            .execution_options(synchronize_session=False)
        )
    return _Statements(
        upsert_author=upsert_author,
        insert_conversations=dml.insert(conversation_t).on_conflict_do_nothing(
            index_elements=["channel_id", "thread_key"]
        ),
        find_conversations=sa.select(
            c.id, c.channel_id, c.thread_key, c.team_id, c.assignee_id, c.search_chars
        ).where(sa.tuple_(c.channel_id, c.thread_key).in_(sa.bindparam("keys", expanding=True))),
        insert_messages=dml.insert(message_t)
        .on_conflict_do_nothing(index_elements=["channel_id", "external_id"])
        .returning(m.id, m.channel_id, m.external_id),
        count_new_messages=sa.update(target)
        .where(t.id == cid)
        .values(counted)
        .execution_options(synchronize_session=False),
        latest_texts=latest_texts,
        replace_document=replace_document,
    )


def _tsvector(text: Any) -> Any:
    """The search terms of ``text`` without positions (the search never asks for them)."""
    return sa.func.strip(sa.func.to_tsvector(sa.literal_column("'simple'"), text))


@dataclass(slots=True)
class IngestResult:
    created: list[int] = field(default_factory=list)  # message ids
    updated: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    duplicates: int = 0

    @property
    def to_process(self) -> list[int]:
        return self.created + self.updated


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified, parsed webhook delivery."""

    channel: ChannelInfo
    messages: Sequence[NormalizedMessage]
    correlation_id: str | None = None


@dataclass(slots=True)
class _Item:
    delivery: int  # index of its delivery in the batch
    channel: ChannelInfo
    message: NormalizedMessage
    correlation_id: str | None
    author_id: int | None = None


async def _upsert_authors(session: AsyncSession, items: Sequence[_Item], at: datetime) -> None:
    """One statement for every author in the batch; sets each item's ``author_id``."""
    latest: dict[tuple[str, str], NormalizedAuthor] = {}
    for item in items:
        if item.message.author is not None:
            latest[(item.channel.platform, item.message.author.platform_id)] = item.message.author
    if not latest:
        return
    statement = _statements(dialect_name(session)).upsert_author
    keys = sorted(latest)  # a stable order: concurrent batches lock rows alike
    rows = [
        {
            "platform": platform,
            "platform_id": platform_id,
            "handle": latest[(platform, platform_id)].handle,
            "display_name": latest[(platform, platform_id)].display_name,
            "reach_followers": latest[(platform, platform_id)].reach_followers,
            "first_seen_at": at,
            "updated_at": at,
        }
        for platform, platform_id in keys
    ]
    ids = {(r.platform, r.platform_id): r.id for r in await session.execute(statement, rows)}
    for item in items:
        if item.message.author is not None:
            item.author_id = ids[(item.channel.platform, item.message.author.platform_id)]


async def _conversations(
    session: AsyncSession, items: Sequence[_Item], at: datetime
) -> dict[tuple[str, str], Any]:
    """Conversation rows (id, team, assignee, status, urgency) by (channel, thread)."""
    first: dict[tuple[str, str], _Item] = {}
    for item in items:
        first.setdefault((item.channel.id, item.message.thread_key), item)
    rows = [
        {
            "channel_id": item.channel.id,
            "platform": item.channel.platform,
            "thread_key": item.message.thread_key,
            "kind": item.message.kind.value,
            "subject": (item.message.text[:SUBJECT_CHARS] or None),
            "status": ConversationStatus.open.value,
            "urgency": 0,
            "language": item.message.language,
            "team_id": item.channel.team_id,
            "author_id": item.author_id,
            "message_count": 0,
            "waiting_since": at,
            "last_message_at": at,
            "created_at": at,
            "updated_at": at,
        }
        for item in first.values()
    ]
    statements = _statements(dialect_name(session))
    await session.execute(statements.insert_conversations, rows)
    found = await session.execute(statements.find_conversations, {"keys": list(first)})
    return {(r.channel_id, r.thread_key): r for r in found}


def _message_row(item: _Item, conversation_id: int, at: datetime) -> dict[str, Any]:
    message = item.message
    return {
        "channel_id": item.channel.id,
        "conversation_id": conversation_id,
        "external_id": message.external_id,
        "parent_external_id": message.parent_external_id,
        "author_id": item.author_id,
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
        "correlation_id": item.correlation_id,
        # Outbound copies (echoes of our own replies) and removals need no triage.
        "processed_at": at
        if message.direction is Direction.outbound or message.action is Action.delete
        else None,
        "edited_at": at if message.action is Action.edit else None,
        "deleted_at": at if message.action is Action.delete else None,
    }


def _searchable(message: NormalizedMessage) -> bool:
    return (
        message.direction is Direction.inbound
        and message.action is not Action.delete
        and message.text != ""
    )


async def _note_new_messages(
    session: AsyncSession,
    new: Sequence[tuple[int, _Item]],
    search_chars: dict[int, int],
    at: datetime,
) -> set[int]:
    """Count the new messages on their conversations (a customer writing again reopens)
    and, on PostgreSQL, append their texts to the search documents; returns the
    conversations whose document is to be rebuilt instead."""
    statements = _statements(dialect_name(session))
    documents = statements.replace_document is not None
    per_conversation: dict[int, dict[str, Any]] = {}
    texts: dict[int, list[str]] = {}
    for conversation_id, item in new:
        stats = per_conversation.setdefault(
            conversation_id,
            {"cid": conversation_id, "n": 0, "inbound": False, "lang": None},
        )
        stats["n"] += 1
        if item.message.direction is Direction.inbound:
            stats["inbound"] = True
            stats["lang"] = item.message.language or stats["lang"]
        if documents and _searchable(item.message):
            texts.setdefault(conversation_id, []).append(item.message.text[:SEARCH_MESSAGE_CHARS])
    if not per_conversation:
        return set()
    rebuild: set[int] = set()
    if documents:
        for conversation_id, stats in per_conversation.items():
            doc = SEARCH_SEPARATOR.join(texts.get(conversation_id, ()))
            held = search_chars.get(conversation_id, 0)
            if doc and held + len(doc) + 1 <= SEARCH_DOC_CHARS:
                stats |= {"doc": doc, "chars": len(doc) + (1 if held else 0)}
            else:
                if doc:
                    rebuild.add(conversation_id)
                stats |= {"doc": None, "chars": 0}
    params = [stats | {"at": at} for _, stats in sorted(per_conversation.items())]
    await session.execute(statements.count_new_messages, params)
    return rebuild


async def _rebuild_documents(session: AsyncSession, conversation_ids: Collection[int]) -> None:
    """PostgreSQL: these conversations' search documents, from their latest messages."""
    statements = _statements(dialect_name(session))
    if statements.replace_document is None or not conversation_ids:
        return
    params: list[dict[str, Any]] = []
    for conversation_id in sorted(conversation_ids):
        texts: list[str] = []
        used = 0
        for (text,) in await session.execute(statements.latest_texts, {"cid": conversation_id}):
            if used >= SEARCH_KEEP_CHARS:
                break
            texts.append(text)
            used += len(text) + 1
        doc = SEARCH_SEPARATOR.join(reversed(texts))
        params.append({"cid": conversation_id, "doc": doc, "chars": len(doc)})
    await session.execute(statements.replace_document, params)


async def _store_new(
    session: AsyncSession, items: Sequence[_Item], results: list[IngestResult], at: datetime
) -> set[int]:
    """Insert content not seen before, in a few statements for the whole batch; returns the
    conversations whose search document is to be rebuilt (PostgreSQL)."""
    unique: dict[tuple[str, str], _Item] = {}
    for item in items:
        key = (item.channel.id, item.message.external_id)
        if key in unique:
            results[item.delivery].duplicates += 1  # the same content twice in one batch
        else:
            unique[key] = item
    if not unique:
        return set()
    conversations = await _conversations(session, list(unique.values()), at)
    conversation_ids = [
        conversations[(item.channel.id, item.message.thread_key)].id for item in unique.values()
    ]
    # Grouped by conversation, each thread's order kept: ids then come in the order of
    # SQLite's full-text rowids (conversation first), which FTS5 takes without flushing.
    rows = sorted(
        (
            _message_row(item, cid, at)
            for item, cid in zip(unique.values(), conversation_ids, strict=True)
        ),
        key=lambda row: row["conversation_id"],
    )
    inserted = await session.execute(_statements(dialect_name(session)).insert_messages, rows)
    new_ids = {(r.channel_id, r.external_id): r.id for r in inserted}
    new: list[tuple[int, _Item]] = []
    for key, item in unique.items():
        message_id = new_ids.get(key)
        result = results[item.delivery]
        if message_id is None:
            result.duplicates += 1
            continue
        new.append((conversations[(item.channel.id, item.message.thread_key)].id, item))
        if item.message.action is Action.delete:
            result.deleted.append(message_id)
        else:
            result.created.append(message_id)
    search_chars = {row.id: row.search_chars for row in conversations.values()}
    return await _note_new_messages(session, new, search_chars, at)


@dataclass(slots=True)
class _Changed:
    """What this batch changed besides new content."""

    documents: set[int] = field(default_factory=set)  # PostgreSQL search documents to rebuild
    categories: set[int] = field(default_factory=set)  # conversations to recompute


async def _apply_change(
    session: AsyncSession, item: _Item, results: list[IngestResult], at: datetime, changed: _Changed
) -> bool:
    """An edit or removal of stored content; False when the content is not stored yet."""
    m = message_t.c
    key = (m.channel_id == item.channel.id) & (m.external_id == item.message.external_id)
    result = results[item.delivery]
    if item.message.action is Action.edit:
        edited = (
            await session.execute(
                sa.update(message_t)
                .where(key, m.text != item.message.text, m.deleted_at.is_(None))
                .values(
                    text=item.message.text, edited_at=at, processed_at=None, raw=item.message.raw
                )
                .returning(m.id, m.conversation_id, m.direction)
            )
        ).first()
        if edited is not None:
            result.updated.append(edited.id)
            if edited.direction == Direction.inbound.value:
                changed.documents.add(edited.conversation_id)
            return True
    else:
        marked = (
            await session.execute(
                sa.update(message_t)
                .where(key, m.deleted_at.is_(None))
                .values(deleted_at=at)
                .returning(m.id, m.conversation_id, m.direction)
            )
        ).first()
        if marked is not None:
            result.deleted.append(marked.id)
            if marked.direction == Direction.inbound.value:
                changed.documents.add(marked.conversation_id)
            changed.categories.add(marked.conversation_id)
            return True
    exists = await session.execute(sa.select(m.id).where(key))
    if exists.first() is not None:
        result.duplicates += 1  # the same edit or removal again
        return True
    return False


async def store_deliveries(
    session: AsyncSession, deliveries: Sequence[Delivery]
) -> list[IngestResult]:
    """Store a batch of deliveries in the caller's transaction; one result per delivery.

    New content is written with one statement per table for the whole batch. Edits and
    removals (rare) follow one by one, after the new content, so an edit that arrives in
    the same batch as its original applies to it. An edit or removal of content never seen
    is stored as new content, marked edited or deleted.
    """
    at = utcnow()
    results = [IngestResult() for _ in deliveries]
    items = [
        _Item(index, delivery.channel, sanitised(message), delivery.correlation_id)
        for index, delivery in enumerate(deliveries)
        for message in delivery.messages
    ]
    if not items:
        return results
    await _upsert_authors(session, items, at)
    changed = _Changed()
    changed.documents |= await _store_new(
        session, [i for i in items if i.message.action is Action.create], results, at
    )
    unseen = [
        item
        for item in items
        if item.message.action is not Action.create
        and not await _apply_change(session, item, results, at, changed)
    ]
    changed.documents |= await _store_new(session, unseen, results, at)
    await _rebuild_documents(session, changed.documents)
    await refresh_conversation_categories(session, changed.categories)
    await refresh_conversation_urgency(session, changed.categories)  # removed messages
    return results


async def reindex_conversations(session: AsyncSession, conversation_ids: Collection[int]) -> None:
    """Bring what the inbox filters read per conversation (PostgreSQL's search document,
    the categories) in step with its messages: for messages written by other means than
    ingest and the worker (scripts, demo data, test seeds)."""
    await _rebuild_documents(session, conversation_ids)
    await refresh_conversation_categories(session, set(conversation_ids))


async def store_delivery(
    session: AsyncSession,
    *,
    channel: ChannelInfo,
    messages: Sequence[NormalizedMessage],
    correlation_id: str | None = None,
) -> IngestResult:
    (result,) = await store_deliveries(session, [Delivery(channel, messages, correlation_id)])
    return result
