"""The worker loop: reserve a batch of jobs, hand each kind to its handler, acknowledge.

A batch is whatever is ready when the worker asks (up to ``batch_size``): one job at low
traffic, full batches under load. A handler that raises leaves its jobs unacknowledged;
the queue hands them out again after the visibility timeout.

Several loops share one model. Each loop takes its *turn* at the model before it reserves
jobs, and the message handler gives the turn back as soon as inference is done (before it
writes the results): the next loop then reserves whatever arrived meanwhile, a fresh batch,
and runs it through the model while the first loop writes. Without turns a loop would
reserve a small batch early and hold it while another batch is being scored, and a message
arriving just after would wait for both.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from contextvars import ContextVar

from app.logging import correlation_id, get_logger
from app.metrics import JOBS_FAILED
from app.queue import Delivery, Job, Queue

BatchHandler = Callable[[list[Job]], Awaitable[None]]

log = get_logger(__name__)


class Turn:
    """One loop's turn at a stage the loops share (the model); given back once."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self._held = False

    async def take(self) -> None:
        await self._lock.acquire()
        self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


_turn: ContextVar[Turn | None] = ContextVar("worker_turn", default=None)


def end_turn() -> None:
    """Called by a handler when it is done with the shared stage (no-op without turns)."""
    turn = _turn.get()
    if turn is not None:
        turn.give_back()


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    def __init__(
        self,
        queue: Queue,
        handlers: dict[str, BatchHandler],
        *,
        batch_size: int = 32,
        consumer: str | None = None,
        block_s: float = 1.0,
        turns: asyncio.Lock | None = None,
        turn_jobs: Collection[str] = (),
    ) -> None:
        """``turns``: a lock shared by the loops of one model, taken before reserving;
        ``turn_jobs``: the job names whose handler uses the model (and calls
        :func:`end_turn`); a batch without them gives the turn back at once."""
        self.queue = queue
        self.handlers = handlers
        self.batch_size = batch_size
        self.consumer = consumer or consumer_name()
        self.block_s = block_s
        self.turns = turns
        self.turn_jobs = frozenset(turn_jobs)

    async def run_once(self) -> int:
        turn = Turn(self.turns) if self.turns is not None else None
        if turn is not None:
            await turn.take()
        token = _turn.set(turn)
        try:
            return await self._run_batch(turn)
        finally:
            _turn.reset(token)
            if turn is not None:
                turn.give_back()

    async def _run_batch(self, turn: Turn | None) -> int:
        deliveries = await self.queue.reserve(
            consumer=self.consumer, max_jobs=self.batch_size, block_s=self.block_s
        )
        by_name: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_name[delivery.job.name].append(delivery)
        # The model's jobs first; a batch without any gives the turn back at once.
        order = sorted(by_name, key=lambda name: name not in self.turn_jobs)
        for name in order:
            group = by_name[name]
            if turn is not None and name not in self.turn_jobs:
                turn.give_back()
            handler = self.handlers.get(name)
            if handler is None:
                log.error("worker.unknown_job", job=name, count=len(group))
                await self.queue.ack(group)
                continue
            # The batch's correlation id only when its jobs share one; a handler that logs
            # about a single job of a mixed batch names that job's id itself.
            cids = {d.job.correlation_id for d in group}
            token = correlation_id.set(next(iter(cids)) if len(cids) == 1 else None)
            try:
                await handler([d.job for d in group])
            except Exception:
                JOBS_FAILED.labels(job=name).inc()
                log.exception(
                    "worker.batch_failed",
                    job=name,
                    count=len(group),
                    correlation_ids=sorted(c for c in cids if c),
                )
                continue
            finally:
                correlation_id.reset(token)
            await self.queue.ack(group)
        return len(deliveries)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker.reserve_failed")
                await asyncio.sleep(1.0)
