"""One contract for event fan-out: in-process, and Redis pub/sub across processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.pubsub import EventHub


@pytest.fixture(params=["in-process", "redis"])
async def hubs(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventHub, EventHub]]:
    """Two hubs standing for two processes (the same hub when there is no Redis)."""
    if request.param == "in-process":
        hub = EventHub(None)
        yield hub, hub
        return
    url = request.getfixturevalue("redis_url")
    channel = f"test:{uuid.uuid4().hex}"
    clients = [aioredis.from_url(url), aioredis.from_url(url)]
    a, b = (EventHub(c, channel=channel) for c in clients)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()
    for c in clients:
        await c.aclose()


def event(i: int) -> dict:
    return {"id": i, "type": "message.created", "audience": "inbox", "data": {"n": i}}


async def test_every_subscriber_of_every_process_gets_events_in_order(
    hubs: tuple[EventHub, EventHub],
) -> None:
    a, b = hubs
    on_a, on_b = a.subscribe(), b.subscribe()
    for i in range(20):
        await b.publish(event(i))
    for subscription in (on_a, on_b):
        got = [await asyncio.wait_for(subscription.get(), 2) for _ in range(20)]
        assert [e["id"] for e in got] == list(range(20))
        assert got[3]["data"] == {"n": 3}


async def test_unsubscribed_listeners_get_nothing(hubs: tuple[EventHub, EventHub]) -> None:
    a, b = hubs
    gone, stays = a.subscribe(), a.subscribe()
    a.unsubscribe(gone)
    await b.publish(event(1))
    assert (await asyncio.wait_for(stays.get(), 2))["id"] == 1
    await asyncio.sleep(0.05)
    assert gone.queue.empty()


async def test_a_listener_that_falls_behind_is_marked_for_resync() -> None:
    hub = EventHub(None, max_pending_per_subscriber=3)
    slow = hub.subscribe()
    for i in range(5):
        await hub.publish(event(i))
    assert slow.overflowed
    assert slow.queue.qsize() == 3
