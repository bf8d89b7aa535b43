"""The worker loop: reserve a batch of jobs, hand each kind to its handler, acknowledge.

A batch is whatever is ready when the worker asks (up to ``batch_size``): one job at low
traffic, full batches under load. A handler that raises leaves its jobs unacknowledged;
the queue hands them out again after the visibility timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable

from app.logging import correlation_id, get_logger
from app.metrics import JOBS_FAILED
from app.queue import Delivery, Job, Queue

BatchHandler = Callable[[list[Job]], Awaitable[None]]

log = get_logger(__name__)


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
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.batch_size = batch_size
        self.consumer = consumer or consumer_name()
        self.block_s = block_s

    async def run_once(self) -> int:
        deliveries = await self.queue.reserve(
            consumer=self.consumer, max_jobs=self.batch_size, block_s=self.block_s
        )
        by_name: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_name[delivery.job.name].append(delivery)
        for name, group in by_name.items():
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
