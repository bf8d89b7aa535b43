"""Processing a stored message: triage, then whatever plugs in after it.

The job handler is idempotent: the update that records the result only applies while
``processed_at`` is still empty, and everything that follows from processing (hooks such as
escalation) runs in that same transaction. A job delivered twice, or re-queued by the
sweeper after a crash, finds the message processed and changes nothing.
Inference runs before the write transaction opens, off the event loop.

Content a platform notified without (``context.needs_fetch``: Instagram mentions, Google
reviews) is fetched first, outside the transaction (:mod:`inbox.content_fetch`), so that
triage reads the text; what came back (or why nothing did) is written in the transaction
that claims the message.

When triage results land, the conversation's urgency and categories (``conversation_category``,
what the inbox's category filter reads) follow in the same transaction: a new result adds
its categories; a message triaged again (it was edited) recomputes the conversation's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, get_args

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.logging import correlation_id, get_logger
from app.metrics import MESSAGES_PROCESSED, PROCESSING_SECONDS
from app.queue import Job, Queue
from app.sql import dialect_name, insert_for
from app.worker import end_turn
from inbox.events import MESSAGE_TRIAGED, emit_message_events
from inbox.models import Author, Conversation, ConversationCategory, Message
from inbox.normalize import Direction
from inbox.schemas import CATEGORY_THRESHOLD, Category

MESSAGE_STORED = "message.stored"

log = get_logger(__name__)
message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]
category_t = ConversationCategory.__table__  # type: ignore[attr-defined]
CATEGORIES: tuple[str, ...] = get_args(Category)

if TYPE_CHECKING:  # inbox.content_fetch imports inbox.ingest, which imports this module
    from inbox.content_fetch import ContentFetch, FetchOutcome


@dataclass(frozen=True, slots=True)
class ProcessedMessage:
    id: int
    conversation_id: int
    channel_id: str
    text: str
    urgency: int | None
    triage: dict[str, Any] | None
    correlation_id: str | None


ProcessedHook = Callable[[AsyncSession, list[ProcessedMessage]], Awaitable[None]]


def message_stored_job(message_id: int, cid: str | None) -> Job:
    return Job(name=MESSAGE_STORED, payload={"message_id": message_id}, correlation_id=cid)


class MessageProcessor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        triager: Any | None = None,
        hooks: Sequence[ProcessedHook] = (),
        fetch: ContentFetch | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.triager = triager
        self.hooks = list(hooks)
        self.fetch = fetch
        # One inference at a time; the model's own thread count is a setting.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def handle(self, jobs: list[Job]) -> None:
        ids = sorted({int(job.payload["message_id"]) for job in jobs})
        await self.process(ids)

    async def process(self, message_ids: Sequence[int]) -> list[ProcessedMessage]:
        started = asyncio.get_running_loop().time()
        pending = await self._load_unprocessed(message_ids)
        if not pending:
            return []
        fetched = await self._fetch(pending)
        results = await self._triage(pending)
        end_turn()  # the model is free for the next batch while this one is written
        processed: list[ProcessedMessage] = []
        categories: set[tuple[int, str]] = set()
        retriaged: set[int] = set()  # conversations whose categories are recomputed
        async with unit_of_work(self._sessionmaker) as session:
            claimed = await _claim(session, [row["id"] for row in pending])
            await _store_results(
                session,
                [
                    (row["id"], result)
                    for row, result in zip(pending, results, strict=True)
                    if result is not None and row["id"] in claimed
                ],
            )
            for row, result in zip(pending, results, strict=True):
                if row["id"] not in claimed:
                    fetched.pop(row["id"], None)
                    continue  # processed by someone else meanwhile
                if result is not None:
                    if row["triaged_before"]:
                        retriaged.add(row["conversation_id"])
                    elif claimed[row["id"]] is None:  # not deleted
                        categories |= {
                            (row["conversation_id"], name)
                            for name in conversation_categories(result)
                        }
                processed.append(
                    ProcessedMessage(
                        id=row["id"],
                        conversation_id=row["conversation_id"],
                        channel_id=row["channel_id"],
                        text=row["text"],
                        urgency=None if result is None else result["urgency"],
                        triage=result,
                        correlation_id=row["correlation_id"],
                    )
                )
            if fetched and self.fetch is not None:
                await self.fetch.record(session, list(fetched.values()))
            await refresh_conversation_urgency(session, {p.conversation_id for p in processed})
            await _add_conversation_categories(
                session, [c for c in categories if c[0] not in retriaged]
            )
            await refresh_conversation_categories(session, retriaged)
            for hook in self.hooks:
                await hook(session, processed)
            await emit_message_events(session, MESSAGE_TRIAGED, [p.id for p in processed])
        MESSAGES_PROCESSED.inc(len(processed))
        PROCESSING_SECONDS.observe(asyncio.get_running_loop().time() - started)
        for p in processed:
            token = correlation_id.set(p.correlation_id)
            log.info("message.processed", message_id=p.id, urgency=p.urgency)
            correlation_id.reset(token)
        return processed

    async def _fetch(self, rows: list[dict[str, Any]]) -> dict[int, FetchOutcome]:
        """Fetch what notifications left out; the rows get the fetched text for triage."""
        if self.fetch is None:
            return {}
        wanted = [r["id"] for r in rows if self.fetch.needs_fetch(r["context"])]
        if not wanted:
            return {}
        fetched = await self.fetch.fetch(wanted)
        for row in rows:
            outcome = fetched.get(row["id"])
            if outcome is not None and outcome.content is not None:
                row["text"] = outcome.content.text
        return fetched

    async def _load_unprocessed(self, message_ids: Sequence[int]) -> list[dict[str, Any]]:
        m, a = message_t.c, author_t.c
        async with self._sessionmaker() as session:
            rows = await session.execute(
                sa.select(
                    m.id,
                    m.conversation_id,
                    m.channel_id,
                    m.text,
                    m.language,
                    m.context,
                    m.correlation_id,
                    a.reach_followers,
                    m.triage.is_not(None).label("triaged_before"),
                )
                .select_from(message_t.outerjoin(author_t, a.id == m.author_id))
                .where(m.id.in_(message_ids), m.processed_at.is_(None))
                .order_by(m.id)
            )
            return [dict(r._mapping) for r in rows]

    async def _triage(self, rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        if self.triager is None:
            return [None] * len(rows)
        from triage.model import TriageInput

        inputs = [
            TriageInput(
                text=r["text"], language=r["language"], author_followers=r["reach_followers"]
            )
            for r in rows
        ]
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self.triager.score, inputs)
        return [r.to_dict() for r in results]


async def _claim(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, Any]:
    """Mark these messages processed unless someone else has; {claimed id: deleted_at}.

    One statement for the batch: the claim is atomic, and only the rows it changed are
    this worker's to write.
    """
    rows = await session.execute(
        sa.update(message_t)
        .where(message_t.c.id.in_(message_ids), message_t.c.processed_at.is_(None))
        .values(processed_at=utcnow())
        .returning(message_t.c.id, message_t.c.deleted_at)
    )
    return {r.id: r.deleted_at for r in rows}


async def _store_results(
    session: AsyncSession, results: Sequence[tuple[int, dict[str, Any]]]
) -> None:
    """The triage results of claimed messages, in one executemany statement."""
    if not results:
        return
    m = message_t.c
    await session.execute(
        sa.update(message_t)
        .where(m.id == sa.bindparam("b_id"))
        .values(
            triage=sa.bindparam("b_triage", type_=m.triage.type),
            urgency=sa.bindparam("b_urgency", type_=m.urgency.type),
            model_version=sa.bindparam("b_model_version", type_=m.model_version.type),
            # A language the platform told us stays; triage fills in the rest.
            language=sa.func.coalesce(
                m.language, sa.bindparam("b_language", type_=m.language.type)
            ),
        ),
        [
            {
                "b_id": message_id,
                "b_triage": result,
                "b_urgency": result["urgency"],
                "b_model_version": result["model_version"],
                "b_language": result["language"],
            }
            for message_id, result in results
        ],
    )


async def refresh_conversation_urgency(
    session: AsyncSession, conversation_ids: set[int] | frozenset[int]
) -> None:
    """A conversation is as urgent as the most urgent of its open messages, 0 without any.

    "Open" means inbound (what people sent us; our own replies are marked processed on
    arrival, but an edit of one goes through triage and must not raise the conversation)
    and not deleted (a message removed on the platform no longer counts). Called after
    triage and by ingest when messages are removed.
    """
    if not conversation_ids:
        return
    m, c = message_t.c, conversation_t.c
    highest = (
        sa.select(sa.func.coalesce(sa.func.max(m.urgency), 0))
        .where(
            m.conversation_id == c.id,
            m.direction == Direction.inbound.value,
            m.deleted_at.is_(None),
        )
        .scalar_subquery()
    )
    await session.execute(
        sa.update(conversation_t)
        .where(c.id.in_(sorted(conversation_ids)))
        .values(urgency=highest, updated_at=utcnow())
    )


def conversation_categories(triage: dict[str, Any] | None) -> list[str]:
    """The categories a triage result gives its message's conversation."""
    scores = (triage or {}).get("categories") or {}
    return [
        name
        for name in CATEGORIES
        if isinstance(score := scores.get(name), int | float) and score >= CATEGORY_THRESHOLD
    ]


async def _add_conversation_categories(
    session: AsyncSession, rows: Sequence[tuple[int, str]]
) -> None:
    if rows:
        await session.execute(
            insert_for(session, category_t).on_conflict_do_nothing(),
            [{"conversation_id": cid, "category": name} for cid, name in sorted(rows)],
        )


# The categories of every standing message of the conversations in :ids, by dialect
# (0004_inbox_search backfills with the same conditions).
_STANDING_CATEGORIES = {
    "postgresql": "SELECT DISTINCT m.conversation_id, j.key FROM message AS m "
    "CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(m.triage -> 'categories') = 'object' "
    "THEN m.triage -> 'categories' END) AS j "
    "WHERE m.conversation_id IN :ids AND m.deleted_at IS NULL "
    "AND CASE WHEN jsonb_typeof(j.value) = 'number' THEN (j.value)::numeric END >= :threshold "
    "AND j.key IN :names",
    "sqlite": "SELECT DISTINCT m.conversation_id, j.key "
    "FROM message AS m, json_each(m.triage, '$.categories') AS j "
    "WHERE m.conversation_id IN :ids AND m.triage IS NOT NULL AND m.deleted_at IS NULL "
    "AND j.type IN ('integer', 'real') AND j.value >= :threshold AND j.key IN :names",
}


async def refresh_conversation_categories(
    session: AsyncSession, conversation_ids: set[int] | frozenset[int]
) -> None:
    """Recompute the categories of these conversations from their standing messages (after
    a message was triaged again or removed, or written by other means than the worker)."""
    if not conversation_ids:
        return
    ids = sorted(conversation_ids)
    await session.execute(sa.delete(category_t).where(category_t.c.conversation_id.in_(ids)))
    standing = sa.text(
        "INSERT INTO conversation_category (conversation_id, category) "
        + _STANDING_CATEGORIES[dialect_name(session)]
    ).bindparams(
        sa.bindparam("ids", expanding=True),
        sa.bindparam("names", expanding=True),
        sa.bindparam("threshold", type_=sa.Float),
    )
    await session.execute(
        standing, {"ids": ids, "names": list(CATEGORIES), "threshold": CATEGORY_THRESHOLD}
    )


class Sweeper:
    """Re-queues messages that were stored but never processed (a crash, a lost job)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        queue: Queue,
        *,
        grace_s: float,
        batch: int = 1000,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._queue = queue
        self.grace_s = grace_s
        self.batch = batch

    async def sweep_once(self) -> int:
        # While jobs are queued, unprocessed messages are simply waiting their turn.
        if await self._queue.pending_count() > 0:
            return 0
        m = message_t.c
        cutoff = utcnow() - timedelta(seconds=self.grace_s)
        async with self._sessionmaker() as session:
            rows = await session.execute(
                sa.select(m.id, m.correlation_id)
                .where(m.processed_at.is_(None), m.received_at < cutoff)
                .order_by(m.received_at)
                .limit(self.batch)
            )
            jobs = [message_stored_job(mid, cid) for mid, cid in rows]
        if jobs:
            await self._queue.enqueue(jobs)
            log.warning("sweeper.requeued", count=len(jobs))
        return len(jobs)

    async def run(self, stop: asyncio.Event, *, interval_s: float) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception:
                log.exception("sweeper.failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()
