"""Group commit for webhook deliveries.

Each delivery request hands its verified, parsed delivery to the process's one writer and
waits. The writer takes everything that has arrived, stores it in one transaction (a few
statements per table for the whole batch), commits, and only then answers the waiting
requests; jobs and realtime events go out after the commit. At low traffic a batch is a
single delivery and nothing waits; under load the batches fill up by themselves while the
previous one is being written. A batch that fails is retried one delivery at a time, so
one bad delivery cannot fail the others; a batch that PostgreSQL gave up on because of a
concurrent one (a deadlock, a serialization failure) is first retried whole, once.

A batch of new content only (the usual batch: edits and removals are rare) is stored
without a session: the statements, the events and the commit are one hand-over to another
thread (``app.sql.RawTransactions``: aiosqlite's, or one with its own PostgreSQL
connection; ``inbox.ingest.store_new_deliveries``), and the events are published and the
jobs enqueued once it returns, as ``unit_of_work`` would after its commit. Other batches go
through a session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import after_commit, unit_of_work
from app.logging import get_logger
from app.queue import Job, Queue
from app.sql import RawTransactions
from inbox.events import MESSAGE_CREATED
from inbox.ingest import (
    Delivery,
    IngestResult,
    only_new_content,
    store_deliveries,
    store_new_deliveries,
)
from inbox.processing import message_stored_job
from realtime.events import PUBLISHER_KEY, Publisher

log = get_logger(__name__)


@dataclass(slots=True)
class _Pending:
    delivery: Delivery
    done: asyncio.Future[IngestResult]


class _Gate:
    """Batches of new content may be written side by side; a batch with edits or removals
    waits until nothing else is being written (and holds back new batches meanwhile), so
    that it sees the content it changes however the deliveries were batched."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0  # exclusive batches waiting

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            async with self._changed:
                self._shared -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._changed:
            self._waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._changed:
                self._exclusive = False
                self._changed.notify_all()


class IngestWriter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        queue: Queue,
        *,
        max_batch: int = 256,
        lanes: int | None = None,
    ) -> None:
        """``lanes``: batches written at the same time (default: 2 on PostgreSQL, where a
        batch can be written while the one before waits for its commit; 1 on SQLite, which
        has one writer anyway)."""
        self._sessionmaker = sessionmaker
        self._queue = queue
        engine = sessionmaker.kw.get("bind")
        dialect = engine.dialect.name if isinstance(engine, AsyncEngine) else None
        if lanes is None:
            lanes = 2 if dialect == "postgresql" else 1
        # Batches of new content skip the session (app.sql.RawTransactions), each lane on a
        # connection of its own.
        self._lanes: list[RawTransactions | None] = [
            RawTransactions(engine)
            if isinstance(engine, AsyncEngine) and dialect in ("sqlite", "postgresql")
            else None
            for _ in range(max(1, lanes))
        ]
        self._gate = _Gate()
        self._publisher: Publisher | None = sessionmaker.kw.get("info", {}).get(PUBLISHER_KEY)
        self.max_batch = max_batch
        self._inbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(raw), name=f"ingest-writer-{i}")
                for i, raw in enumerate(self._lanes)
            ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while not self._inbox.empty():
            pending = self._inbox.get_nowait()
            if not pending.done.done():
                pending.done.set_exception(RuntimeError("the service is shutting down"))
        for raw in self._lanes:
            if raw is not None:
                await raw.close()

    async def store(self, delivery: Delivery) -> IngestResult:
        """Store ``delivery`` durably; returns once it is committed."""
        if not self._tasks:  # no writer loop (a script, a test): write directly
            (result,) = await self._write([delivery], self._lanes[0])
            return result
        done: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Pending(delivery, done))
        return await done

    async def _run(self, raw: RawTransactions | None) -> None:
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < self.max_batch and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                results = await self._write_retrying([p.delivery for p in batch], raw)
            except Exception:
                if len(batch) == 1:
                    log.exception("ingest.write_failed")
                    self._settle(batch[0], exception=RuntimeError("storing the delivery failed"))
                    continue
                log.warning("ingest.batch_failed_retrying_singly", size=len(batch))
                for pending in batch:
                    try:
                        (result,) = await self._write([pending.delivery], raw)
                    except Exception:
                        log.exception("ingest.write_failed")
                        self._settle(pending, exception=RuntimeError("storing the delivery failed"))
                    else:
                        self._settle(pending, result=result)
                continue
            for pending, result in zip(batch, results, strict=True):
                self._settle(pending, result=result)

    @staticmethod
    def _settle(
        pending: _Pending, *, result: IngestResult | None = None, exception: Exception | None = None
    ) -> None:
        if pending.done.done():  # the request went away meanwhile
            return
        if exception is not None:
            pending.done.set_exception(exception)
        else:
            assert result is not None
            pending.done.set_result(result)

    async def _write_retrying(
        self, deliveries: list[Delivery], raw: RawTransactions | None
    ) -> list[IngestResult]:
        """``_write``, once more when the database gave up on the transaction because of
        another one writing beside it (a deadlock or a serialization failure): the batch
        itself is fine, and the retry usually finds the other one committed."""
        try:
            return await self._write(deliveries, raw)
        except Exception as exc:
            if not _conflicted(exc):
                raise
            log.warning("ingest.batch_conflicted_retrying", size=len(deliveries))
        return await self._write(deliveries, raw)

    async def _write(
        self, deliveries: list[Delivery], raw: RawTransactions | None
    ) -> list[IngestResult]:
        if raw is not None and only_new_content(deliveries):
            async with self._gate.shared():
                results, events = await raw.run(
                    lambda db: store_new_deliveries(db, deliveries, created_event=MESSAGE_CREATED)
                )
            # committed: what follows the commit, in the order unit_of_work runs it
            await events.publish_committed(self._publisher)
            jobs = _jobs(deliveries, results)
            if jobs:
                await self._queue.enqueue(jobs)
            return results
        async with self._gate.exclusive(), unit_of_work(self._sessionmaker) as session:
            results = await store_deliveries(session, deliveries, created_event=MESSAGE_CREATED)
            jobs = _jobs(deliveries, results)
            if jobs:

                async def enqueue() -> None:
                    await self._queue.enqueue(jobs)

                after_commit(session, enqueue)
        return results


_CONFLICTS = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def _conflicted(exc: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure: psycopg's own error (raw lanes) or
    one SQLAlchemy wraps (sessions)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.Error) and current.sqlstate in _CONFLICTS:
            return True
        orig = current.orig if isinstance(current, sa.exc.DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def _jobs(deliveries: list[Delivery], results: list[IngestResult]) -> list[Job]:
    return [
        message_stored_job(mid, delivery.correlation_id)
        for delivery, result in zip(deliveries, results, strict=True)
        for mid in result.to_process
    ]
