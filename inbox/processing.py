"""Processing a stored message: triage, then whatever plugs in after it.

The job handler is idempotent: the update that records the result only applies while
``processed_at`` is still empty, and everything that follows from processing (hooks such as
escalation) runs in that same transaction. A job delivered twice, or re-queued by the
sweeper after a crash, finds the message processed and changes nothing.
Inference runs before the write transaction opens, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.logging import correlation_id, get_logger
from app.metrics import MESSAGES_PROCESSED, PROCESSING_SECONDS
from app.queue import Job, Queue
from inbox.events import MESSAGE_TRIAGED, emit_message_events
from inbox.models import Author, Conversation, Message

MESSAGE_STORED = "message.stored"

log = get_logger(__name__)
message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]


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
    ) -> None:
        self._sessionmaker = sessionmaker
        self.triager = triager
        self.hooks = list(hooks)
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
        results = await self._triage(pending)
        processed: list[ProcessedMessage] = []
        async with unit_of_work(self._sessionmaker) as session:
            now = utcnow()
            for row, result in zip(pending, results, strict=True):
                values: dict[str, Any] = {"processed_at": now}
                if result is not None:
                    values |= {
                        "triage": result,
                        "urgency": result["urgency"],
                        "model_version": result["model_version"],
                        "language": sa.func.coalesce(message_t.c.language, result["language"]),
                    }
                claimed = await session.execute(
                    sa.update(message_t)
                    .where(message_t.c.id == row["id"], message_t.c.processed_at.is_(None))
                    .values(values)
                    .returning(message_t.c.id)
                )
                if claimed.scalar_one_or_none() is None:
                    continue  # processed by someone else meanwhile
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
            await self._refresh_conversation_urgency(
                session, {p.conversation_id for p in processed}
            )
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
                    m.correlation_id,
                    a.reach_followers,
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

    @staticmethod
    async def _refresh_conversation_urgency(
        session: AsyncSession, conversation_ids: set[int]
    ) -> None:
        """A conversation is as urgent as its most urgent message still standing."""
        if not conversation_ids:
            return
        m, c = message_t.c, conversation_t.c
        highest = (
            sa.select(sa.func.coalesce(sa.func.max(m.urgency), 0))
            .where(m.conversation_id == c.id, m.deleted_at.is_(None))
            .scalar_subquery()
        )
        await session.execute(
            sa.update(conversation_t)
            .where(c.id.in_(sorted(conversation_ids)))
            .values(urgency=highest, updated_at=utcnow())
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
