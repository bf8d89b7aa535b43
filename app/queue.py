"""The work queue behind the project's own interface.

Two backends with one contract (``tests/app/test_queue_contract.py``):

* :class:`InProcessQueue`: asyncio, the embedded default. Jobs live in memory; after a
  crash the sweeper re-queues stored but unprocessed messages from the database.
* :class:`RedisStreamsQueue`: a Redis stream with a consumer group, for several worker
  processes. A job a consumer reserved but did not acknowledge within the visibility
  timeout is claimed by another consumer (``XAUTOCLAIM``).

Delivery is at least once: handlers must be idempotent. Jobs carry ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError


@dataclass(frozen=True, slots=True)
class Job:
    name: str  # what happened, e.g. "message.stored"
    payload: dict[str, Any]
    correlation_id: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            {"name": self.name, "payload": self.payload, "cid": self.correlation_id}
        )

    @classmethod
    def decode(cls, data: bytes) -> Job:
        doc = orjson.loads(data)
        return cls(name=doc["name"], payload=doc["payload"], correlation_id=doc.get("cid"))


@dataclass(frozen=True, slots=True)
class Delivery:
    job: Job
    receipt: str  # the backend's handle for ack


class Queue(Protocol):
    async def enqueue(self, jobs: list[Job]) -> None: ...

    async def reserve(self, *, consumer: str, max_jobs: int, block_s: float) -> list[Delivery]:
        """Up to ``max_jobs`` jobs: returns at once when any are ready, else waits ``block_s``."""
        ...

    async def ack(self, deliveries: list[Delivery]) -> None: ...

    async def pending_count(self) -> int:
        """Jobs enqueued and not yet acknowledged."""
        ...

    async def close(self) -> None: ...


@dataclass
class InProcessQueue:
    visibility_timeout_s: float = 30.0
    _ready: deque[Delivery] = field(default_factory=deque)
    _in_flight: dict[str, tuple[Delivery, float]] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    async def enqueue(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._ready.append(Delivery(job=job, receipt=str(next(self._counter))))
        if jobs:
            self._wakeup.set()

    def _requeue_expired(self) -> None:
        now = time.monotonic()
        expired = [r for r, (_, deadline) in self._in_flight.items() if deadline <= now]
        for receipt in expired:
            delivery, _ = self._in_flight.pop(receipt)
            self._ready.append(delivery)

    async def reserve(self, *, consumer: str, max_jobs: int, block_s: float) -> list[Delivery]:
        deadline = time.monotonic() + block_s
        while True:
            self._requeue_expired()
            if self._ready:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._wakeup.clear()
            # Wake at the earliest of: a new job, the block deadline, an expiry check.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await self._wakeup.wait()
        taken: list[Delivery] = []
        visible_at = time.monotonic() + self.visibility_timeout_s
        while self._ready and len(taken) < max_jobs:
            delivery = self._ready.popleft()
            self._in_flight[delivery.receipt] = (delivery, visible_at)
            taken.append(delivery)
        return taken

    async def ack(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._in_flight.pop(delivery.receipt, None)

    async def pending_count(self) -> int:
        return len(self._ready) + len(self._in_flight)

    async def close(self) -> None:
        return None


class RedisStreamsQueue:
    GROUP = "workers"

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        stream: str = "leitstand:jobs",
        visibility_timeout_s: float = 30.0,
        max_stream_len: int = 1_000_000,
    ) -> None:
        self._redis = client
        self.stream = stream
        self.visibility_timeout_ms = int(visibility_timeout_s * 1000)
        self.max_stream_len = max_stream_len
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self.stream, self.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def enqueue(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        await self._ensure_group()
        async with self._redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.xadd(
                    self.stream,
                    {"job": job.encode()},
                    maxlen=self.max_stream_len,
                    approximate=True,
                )
            await pipe.execute()

    async def reserve(self, *, consumer: str, max_jobs: int, block_s: float) -> list[Delivery]:
        await self._ensure_group()
        # Jobs another consumer reserved and never acknowledged (it crashed) come first.
        claim_reply: Any = await self._redis.xautoclaim(
            self.stream,
            self.GROUP,
            consumer,
            min_idle_time=self.visibility_timeout_ms,
            start_id="0-0",
            count=max_jobs,
        )
        entries = [e for e in claim_reply[1] if e and e[1]]
        if not entries:
            reply: Any = await self._redis.xreadgroup(
                self.GROUP,
                consumer,
                {self.stream: ">"},
                count=max_jobs,
                block=max(1, int(block_s * 1000)),
            )
            entries = [e for _, stream_entries in reply or [] for e in stream_entries]
        deliveries: list[Delivery] = []
        for entry_id, fields in entries:
            receipt = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            deliveries.append(Delivery(job=Job.decode(fields[b"job"]), receipt=receipt))
        return deliveries

    async def ack(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        receipts = [d.receipt for d in deliveries]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.GROUP, *receipts)
            pipe.xdel(self.stream, *receipts)
            await pipe.execute()

    async def pending_count(self) -> int:
        # Acknowledged entries are deleted, so the stream holds exactly the open jobs.
        return int(await self._redis.xlen(self.stream))

    async def close(self) -> None:
        return None
