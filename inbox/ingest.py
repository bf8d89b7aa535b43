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
  insert inside the batch's ``INSERT INTO message``, whatever the thread's length.
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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.sql import RawConnection, dialect_name, json_placeholder, json_text, run_raw
from inbox.channels import ChannelInfo
from inbox.events import emit_message_events, record_message_events
from inbox.models import Author, Conversation, ConversationStatus, Message
from inbox.normalize import Action, Direction, NormalizedAuthor, NormalizedMessage
from inbox.processing import refresh_conversation_categories, refresh_conversation_urgency
from realtime.events import RawEvents

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
COUNT_ROWS_PER_STATEMENT = 500  # SQLite: conversations counted by one UPDATE ... FROM


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


def _fit_scalars(message: NormalizedMessage) -> NormalizedMessage:
    """``sanitised`` but for the JSON fields; the message itself when it fits already."""
    author = message.author
    if author is not None:
        platform_id = _fit_id(author.platform_id) or ""
        handle = _fit(author.handle, 200)
        display_name = _fit(author.display_name, 300)
        if (
            platform_id is not author.platform_id
            or handle is not author.handle
            or display_name is not author.display_name
        ):
            author = replace(
                author, platform_id=platform_id, handle=handle, display_name=display_name
            )
    fitted: dict[str, Any] = {
        "external_id": _fit_id(message.external_id) or "",
        "thread_key": _fit_id(message.thread_key) or "",
        "parent_external_id": _fit_id(message.parent_external_id),
        "text": _clean_text(message.text),
        "author": author,
        "language": _fit(message.language, 8),
        "url": _fit(message.url, 2000),
    }
    # str.replace and a slice that change nothing give back the same object
    if all(value is getattr(message, name) for name, value in fitted.items()):
        return message
    return replace(message, **fitted)


def sanitised(message: NormalizedMessage) -> NormalizedMessage:
    """A message whose values fit the columns and the database's character rules."""
    return replace(
        _fit_scalars(message),
        attachments=tuple(_clean_json(list(message.attachments))),
        context=_clean_json(message.context),
        raw=_clean_json(message.raw),
    )


_AUTHOR_COLUMNS = (
    "platform, platform_id, handle, display_name, reach_followers, first_seen_at, updated_at"
)
_CONVERSATION_COLUMNS = (
    "channel_id, platform, thread_key, kind, subject, status, urgency, language, team_id, "
    "author_id, message_count, waiting_since, last_message_at, created_at, updated_at, "
    "search_chars"
)
_MESSAGE_COLUMNS = (
    "channel_id, conversation_id, external_id, parent_external_id, author_id, direction, kind, "
    "text, language, url, attachments, context, raw, platform_created_at, received_at, "
    "correlation_id, processed_at, edited_at, deleted_at, delivery_attempts"
)


@dataclass(frozen=True, slots=True)
class _Statements:
    # The batch's statements as SQL text for ``app.sql.run_raw`` (``?`` placeholders,
    # positional parameters in the order of the column lists above).
    upsert_author: str
    insert_conversation: str
    find_conversations: str  # {keys}: "(?, ?), ..." (channel_id, thread_key)
    insert_message: str
    count_new_messages: str
    # PostgreSQL's search document: a conversation's latest searchable texts (newest
    # first), and the statement that replaces the document; None on SQLite.
    latest_texts: str | None
    replace_document: str | None


@functools.cache
def _statements(dialect: str) -> _Statements:
    """The ingest statements, built once per dialect."""
    postgres = dialect == "postgresql"
    json = json_placeholder(dialect)
    resolved, open_ = ConversationStatus.resolved.value, ConversationStatus.open.value

    def v(i: int) -> str:
        """The i-th value of a row: PostgreSQL counts a conversation per statement (one
        pipelined executemany), SQLite all of them in one UPDATE ... FROM (VALUES ...) AS v."""
        return "?" if postgres else f"v.column{i}"

    counted = [
        f"status = CASE WHEN {v(1)} AND status = '{resolved}' THEN '{open_}' ELSE status END",
        f"waiting_since = CASE WHEN {v(2)} AND status = '{resolved}' "
        f"THEN {v(3)} ELSE waiting_since END",
        f"language = coalesce({v(4)}, language)",
        f"message_count = message_count + {v(5)}",
        f"last_message_at = {'greatest' if postgres else 'max'}(last_message_at, {v(6)})",
        f"updated_at = {v(7)}",
    ]
    latest_texts = replace_document = None
    if postgres:
        counted += [
            "search_vector = CASE WHEN CAST(? AS TEXT) IS NULL THEN search_vector "
            "ELSE coalesce(search_vector, CAST('' AS TSVECTOR)) "
            "|| strip(to_tsvector('simple', CAST(? AS TEXT))) END",
            "search_chars = search_chars + ?",
        ]
        latest_texts = (
            f"SELECT substr(text, 1, {SEARCH_MESSAGE_CHARS}) FROM message "
            f"WHERE conversation_id = ? AND direction = '{Direction.inbound.value}' "
            "AND deleted_at IS NULL AND text <> '' "
            f"ORDER BY received_at DESC, id DESC LIMIT {SEARCH_REBUILD_MESSAGES}"
        )
        replace_document = (
            "UPDATE conversation SET "
            "search_vector = strip(to_tsvector('simple', CAST(? AS TEXT))), search_chars = ? "
            "WHERE id = ?"
        )
    return _Statements(
        # What a delivery does not carry (followers on Meta) keeps its known value.
        upsert_author=f"INSERT INTO author ({_AUTHOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (platform, platform_id) DO UPDATE SET "
        "handle = coalesce(excluded.handle, author.handle), "
        "display_name = coalesce(excluded.display_name, author.display_name), "
        "reach_followers = coalesce(excluded.reach_followers, author.reach_followers), "
        "updated_at = excluded.updated_at "
        "RETURNING id, platform, platform_id",
        insert_conversation=f"INSERT INTO conversation ({_CONVERSATION_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, ?, ?, ?, ?, 0) "
        "ON CONFLICT (channel_id, thread_key) DO NOTHING",
        # Planned for the keys at hand (PostgreSQL: never prepared, see app.sql.run_raw);
        # SQLite reads an index entry per key only with the keys as the outer loop.
        find_conversations=(
            "SELECT id, channel_id, thread_key, search_chars FROM conversation "
            "WHERE (channel_id, thread_key) IN (VALUES {keys})"
            if postgres
            else "SELECT c.id, c.channel_id, c.thread_key, c.search_chars "
            "FROM (VALUES {keys}) AS k CROSS JOIN conversation AS c "
            "ON c.channel_id = k.column1 AND c.thread_key = k.column2"
        ),
        insert_message=f"INSERT INTO message ({_MESSAGE_COLUMNS}) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {json}, {json}, {json}, ?, ?, ?, ?, ?, ?, 0) "
        "ON CONFLICT (channel_id, external_id) DO NOTHING "
        "RETURNING id, channel_id, external_id",
        count_new_messages=f"UPDATE conversation SET {', '.join(counted)} WHERE id = ?"
        if postgres
        else f"UPDATE conversation SET {', '.join(counted)} "
        "FROM (VALUES {rows}) AS v WHERE conversation.id = v.column8",
        latest_texts=latest_texts,
        replace_document=replace_document,
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


def _json(value: Any) -> str:
    """JSON text as SQLAlchemy's JSON type writes it, without NUL (``_clean_json``)."""
    text = json_text(value)
    if "\\u0000" in text:
        text = json_text(_clean_json(value))
    return text


def _upsert_authors(db: RawConnection, items: Sequence[_Item], at: datetime) -> None:
    """Every author in the batch (one pipelined statement); sets each item's ``author_id``."""
    latest: dict[tuple[str, str], NormalizedAuthor] = {}
    for item in items:
        if item.message.author is not None:
            latest[(item.channel.platform, item.message.author.platform_id)] = item.message.author
    if not latest:
        return
    now = db.timestamp(at)
    rows = [
        (
            platform,
            platform_id,
            author.handle,
            author.display_name,
            author.reach_followers,
            now,
            now,
        )
        # a stable order: concurrent batches lock rows alike
        for (platform, platform_id), author in sorted(latest.items(), key=lambda kv: kv[0])
    ]
    returned = db.insert_many(_statements(db.dialect).upsert_author, rows, returning=True)
    ids = {(platform, platform_id): author_id for author_id, platform, platform_id in returned}
    for item in items:
        if item.message.author is not None:
            item.author_id = ids[(item.channel.platform, item.message.author.platform_id)]


def _conversations(
    db: RawConnection, items: Sequence[_Item], at: datetime
) -> dict[tuple[str, str], tuple[int, int]]:
    """(id, search_chars) of each item's conversation by (channel, thread); new ones made."""
    first: dict[tuple[str, str], _Item] = {}
    for item in items:
        first.setdefault((item.channel.id, item.message.thread_key), item)
    now = db.timestamp(at)
    open_ = ConversationStatus.open.value
    rows = [
        (
            item.channel.id,
            item.channel.platform,
            item.message.thread_key,
            item.message.kind.value,
            item.message.text[:SUBJECT_CHARS] or None,
            open_,
            item.message.language,
            item.channel.team_id,
            item.author_id,
            now,
            now,
            now,
            now,
        )
        # in key order: concurrent batches (two writer lanes on PostgreSQL) wait for each
        # other's new conversations alike, never crosswise
        for _, item in sorted(first.items(), key=lambda kv: kv[0])
    ]
    statements = _statements(db.dialect)
    db.insert_many(statements.insert_conversation, rows)
    found = db.execute(
        statements.find_conversations.format(keys=", ".join(["(?, ?)"] * len(first))),
        [value for key in first for value in key],
        returning=True,
    )
    return {(channel_id, thread_key): (cid, chars) for cid, channel_id, thread_key, chars in found}


def _message_row(db: RawConnection, item: _Item, conversation_id: int, now: Any) -> tuple[Any, ...]:
    message = item.message
    action = message.action
    return (
        item.channel.id,
        conversation_id,
        message.external_id,
        message.parent_external_id,
        item.author_id,
        message.direction.value,
        message.kind.value,
        message.text,
        message.language,
        message.url,
        _json(list(message.attachments)),
        _json(message.context),
        _json(message.raw),
        db.timestamp(message.platform_created_at),
        now,
        item.correlation_id,
        # Outbound copies (echoes of our own replies) and removals need no triage.
        now if message.direction is Direction.outbound or action is Action.delete else None,
        now if action is Action.edit else None,
        now if action is Action.delete else None,
    )


def _searchable(message: NormalizedMessage) -> bool:
    return (
        message.direction is Direction.inbound
        and message.action is not Action.delete
        and message.text != ""
    )


def _note_new_messages(
    db: RawConnection,
    new: Sequence[tuple[int, _Item]],
    search_chars: dict[int, int],
    at: datetime,
) -> set[int]:
    """Count the new messages on their conversations (a customer writing again reopens)
    and, on PostgreSQL, append their texts to the search documents; returns the
    conversations whose document is to be rebuilt instead."""
    documents = db.dialect == "postgresql"
    per_conversation: dict[int, list[Any]] = {}  # [n, inbound, language]
    texts: dict[int, list[str]] = {}
    for conversation_id, item in new:
        stats = per_conversation.get(conversation_id)
        if stats is None:
            stats = per_conversation[conversation_id] = [0, False, None]
        stats[0] += 1
        if item.message.direction is Direction.inbound:
            stats[1] = True
            stats[2] = item.message.language or stats[2]
        if documents and _searchable(item.message):
            texts.setdefault(conversation_id, []).append(item.message.text[:SEARCH_MESSAGE_CHARS])
    if not per_conversation:
        return set()
    now = db.timestamp(at)
    rebuild: set[int] = set()
    params: list[tuple[Any, ...]] = []
    for conversation_id, (n, inbound, language) in sorted(per_conversation.items()):
        row: tuple[Any, ...] = (inbound, inbound, now, language, n, now, now)
        if documents:
            doc: str | None = SEARCH_SEPARATOR.join(texts.get(conversation_id, ()))
            held = search_chars.get(conversation_id, 0)
            if doc and held + len(doc) + 1 <= SEARCH_DOC_CHARS:
                chars = len(doc) + (1 if held else 0)
            else:
                if doc:
                    rebuild.add(conversation_id)
                doc, chars = None, 0
            row += (doc, doc, chars)
        params.append((*row, conversation_id))
    statement = _statements(db.dialect).count_new_messages
    if documents:
        db.execute_many(statement, params)
    else:
        for start in range(0, len(params), COUNT_ROWS_PER_STATEMENT):
            chunk = params[start : start + COUNT_ROWS_PER_STATEMENT]
            group = "(" + ", ".join(["?"] * len(chunk[0])) + ")"
            db.execute(
                statement.format(rows=", ".join([group] * len(chunk))),
                [value for row in chunk for value in row],
                returning=False,
            )
    return rebuild


async def _rebuild_documents(session: AsyncSession, conversation_ids: Collection[int]) -> None:
    """PostgreSQL: these conversations' search documents, from their latest messages."""
    if conversation_ids and dialect_name(session) == "postgresql":
        await run_raw(session, lambda db: _rebuild_documents_raw(db, conversation_ids))


def _rebuild_documents_raw(db: RawConnection, conversation_ids: Collection[int]) -> None:
    statements = _statements(db.dialect)
    if statements.latest_texts is None or statements.replace_document is None:
        return
    params: list[tuple[str, int, int]] = []
    for conversation_id in sorted(conversation_ids):
        texts: list[str] = []
        used = 0
        for (text,) in db.execute(statements.latest_texts, [conversation_id], returning=True):
            if used >= SEARCH_KEEP_CHARS:
                break
            texts.append(text)
            used += len(text) + 1
        doc = SEARCH_SEPARATOR.join(reversed(texts))
        params.append((doc, len(doc), conversation_id))
    if params:
        db.execute_many(statements.replace_document, params)


def _by_conversation(row: tuple[Any, ...]) -> Any:
    return row[1]  # conversation_id (a stable sort: each thread's order kept)


def _by_unique_key(row: tuple[Any, ...]) -> Any:
    return (row[0], row[2])  # (channel_id, external_id), the message's unique key


def _message_order(dialect: str) -> Callable[[tuple[Any, ...]], Any]:
    """How a batch's message rows are ordered for their multi-row INSERT.

    - PostgreSQL: by the unique key ``(channel_id, external_id)``. Two batches written at
      the same time (two writer lanes) that hold some of the same messages then wait for
      each other's rows in the same order, never crosswise (a deadlock); authors and
      conversations are inserted in their key order too.
    - SQLite (one writer): grouped by conversation, each thread's order kept: ids then come
      in the order of the full-text rowids (conversation first), which FTS5 takes without
      flushing.
    """
    return _by_unique_key if dialect == "postgresql" else _by_conversation


def _store_new(
    db: RawConnection, items: Sequence[_Item], results: list[IngestResult], at: datetime
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
    conversations = _conversations(db, list(unique.values()), at)
    now = db.timestamp(at)
    rows = sorted(
        (
            _message_row(
                db, item, conversations[(item.channel.id, item.message.thread_key)][0], now
            )
            for item in unique.values()
        ),
        key=_message_order(db.dialect),
    )
    inserted = db.insert_many(_statements(db.dialect).insert_message, rows, returning=True)
    new_ids = {(channel_id, external_id): mid for mid, channel_id, external_id in inserted}
    new: list[tuple[int, _Item]] = []
    for key, item in unique.items():
        message_id = new_ids.get(key)
        result = results[item.delivery]
        if message_id is None:
            result.duplicates += 1
            continue
        new.append((conversations[(item.channel.id, item.message.thread_key)][0], item))
        if item.message.action is Action.delete:
            result.deleted.append(message_id)
        else:
            result.created.append(message_id)
    search_chars = dict(conversations.values())
    return _note_new_messages(db, new, search_chars, at)


def _store_batch(
    db: RawConnection,
    items: Sequence[_Item],
    creates: Sequence[_Item],
    results: list[IngestResult],
    at: datetime,
) -> set[int]:
    """Authors of the whole batch, then its new content: one call of ``run_raw``."""
    _upsert_authors(db, items, at)
    return _store_new(db, creates, results, at)


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
                    text=item.message.text,
                    edited_at=at,
                    processed_at=None,
                    raw=_clean_json(item.message.raw),
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


def _batch(deliveries: Sequence[Delivery]) -> tuple[list[IngestResult], list[_Item]]:
    """A result per delivery, and its messages fitted to the columns as items."""
    results = [IngestResult() for _ in deliveries]
    # JSON fields are cleaned as they are written (``_json``, ``_apply_change``).
    items = [
        _Item(index, delivery.channel, _fit_scalars(message), delivery.correlation_id)
        for index, delivery in enumerate(deliveries)
        for message in delivery.messages
    ]
    return results, items


def only_new_content(deliveries: Sequence[Delivery]) -> bool:
    """No edits or removals: what :func:`store_new_deliveries` can store."""
    return all(
        message.action is Action.create for delivery in deliveries for message in delivery.messages
    )


def store_new_deliveries(
    db: RawConnection, deliveries: Sequence[Delivery], *, created_event: str | None
) -> tuple[list[IngestResult], RawEvents]:
    """:func:`store_deliveries` for a batch of new content only (:func:`only_new_content`),
    all of it on the raw connection in the caller's transaction (``app.sql.RawTransactions``,
    or a session's through ``app.sql.run_raw``): one result per delivery, and the
    ``created_event`` events (none without one) to publish once the transaction has
    committed."""
    at = utcnow()
    results, items = _batch(deliveries)
    if items:
        _rebuild_documents_raw(db, _store_batch(db, items, items, results, at))
    if created_event is None:
        return results, RawEvents([])
    created = sorted(mid for result in results for mid in result.created)
    return results, record_message_events(db, created_event, created)


async def store_deliveries(
    session: AsyncSession, deliveries: Sequence[Delivery], *, created_event: str | None = None
) -> list[IngestResult]:
    """Store a batch of deliveries in the caller's transaction; one result per delivery.
    With ``created_event``, also records that realtime event for every message created
    (``inbox.events``), once everything else is written.

    New content is written with one statement per table for the whole batch. Edits and
    removals (rare) follow one by one, after the new content, so an edit that arrives in
    the same batch as its original applies to it. An edit or removal of content never seen
    is stored as new content, marked edited or deleted.
    """
    if only_new_content(deliveries):
        # Nothing else changes in this batch: all of it, events too, in one hand-over.
        results, events = await run_raw(
            session, lambda db: store_new_deliveries(db, deliveries, created_event=created_event)
        )
        events.publish(session)
        return results
    at = utcnow()
    results, items = _batch(deliveries)
    creates = [item for item in items if item.message.action is Action.create]
    changed = _Changed()
    changed.documents |= await run_raw(
        session, lambda db: _store_batch(db, items, creates, results, at)
    )
    unseen = [
        item
        for item in items
        if item.message.action is not Action.create
        and not await _apply_change(session, item, results, at, changed)
    ]
    if unseen:
        changed.documents |= await run_raw(session, lambda db: _store_new(db, unseen, results, at))
    await _rebuild_documents(session, changed.documents)
    await refresh_conversation_categories(session, changed.categories)
    await refresh_conversation_urgency(session, changed.categories)  # removed messages
    if created_event is not None:
        created = [mid for result in results for mid in result.created]
        await emit_message_events(session, created_event, created)
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
