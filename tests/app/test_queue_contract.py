"""One contract for both queue backends: in-process and Redis Streams."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.queue import InProcessQueue, Job, Queue, RedisStreamsQueue

VISIBILITY_S = 0.3


@pytest.fixture(params=["in-process", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[Queue]:
    if request.param == "in-process":
        q: Queue = InProcessQueue(visibility_timeout_s=VISIBILITY_S)
        yield q
        await q.close()
        return
    url = request.getfixturevalue("redis_url")
    client = aioredis.from_url(url)
    q = RedisStreamsQueue(
        client, stream=f"test:{uuid.uuid4().hex}", visibility_timeout_s=VISIBILITY_S
    )
    yield q
    await q.close()
    await client.aclose()


def job(i: int) -> Job:
    return Job(name="message.stored", payload={"message_id": i}, correlation_id=f"c{i}")


async def test_jobs_come_out_once_in_order_and_intact(queue: Queue) -> None:
    await queue.enqueue([job(i) for i in range(5)])
    got = await queue.reserve(consumer="a", max_jobs=10, block_s=1)
    assert [d.job for d in got] == [job(i) for i in range(5)]
    assert await queue.reserve(consumer="b", max_jobs=10, block_s=0.05) == []
    await queue.ack(got)
    assert await queue.pending_count() == 0


async def test_reserve_returns_at_once_with_what_is_ready(queue: Queue) -> None:
    await queue.enqueue([job(1)])
    started = time.monotonic()
    got = await queue.reserve(consumer="a", max_jobs=32, block_s=5)
    assert len(got) == 1
    assert time.monotonic() - started < 1.0


async def test_reserve_caps_the_batch(queue: Queue) -> None:
    await queue.enqueue([job(i) for i in range(10)])
    first = await queue.reserve(consumer="a", max_jobs=4, block_s=1)
    second = await queue.reserve(consumer="a", max_jobs=100, block_s=1)
    assert len(first) == 4 and len(second) == 6
    assert {d.job.payload["message_id"] for d in first + second} == set(range(10))


async def test_a_blocked_reserve_wakes_for_a_new_job(queue: Queue) -> None:
    waiter = asyncio.create_task(queue.reserve(consumer="a", max_jobs=5, block_s=3))
    await asyncio.sleep(0.1)
    await queue.enqueue([job(7)])
    got = await asyncio.wait_for(waiter, timeout=2)
    assert [d.job for d in got] == [job(7)]


async def test_unacknowledged_jobs_return_after_the_visibility_timeout(queue: Queue) -> None:
    await queue.enqueue([job(1), job(2)])
    crashed = await queue.reserve(consumer="dead", max_jobs=10, block_s=1)
    assert len(crashed) == 2
    assert await queue.reserve(consumer="alive", max_jobs=10, block_s=0.05) == []
    await asyncio.sleep(VISIBILITY_S + 0.1)
    again = await queue.reserve(consumer="alive", max_jobs=10, block_s=1)
    assert sorted(d.job.payload["message_id"] for d in again) == [1, 2]
    await queue.ack(again)
    await asyncio.sleep(VISIBILITY_S + 0.1)
    assert await queue.reserve(consumer="alive", max_jobs=10, block_s=0.05) == []
    assert await queue.pending_count() == 0


async def test_pending_counts_queued_and_in_flight(queue: Queue) -> None:
    await queue.enqueue([job(i) for i in range(3)])
    assert await queue.pending_count() == 3
    got = await queue.reserve(consumer="a", max_jobs=2, block_s=1)
    assert await queue.pending_count() == 3
    await queue.ack(got)
    assert await queue.pending_count() == 1
