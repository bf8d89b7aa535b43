"""One contract for event fan-out: in-process, and Redis pub/sub across processes; and
for what reaches it: events emitted in a transaction, only once it commits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from app.db import make_engine, make_sessionmaker, unit_of_work
from app.pubsub import EventHub
from realtime.events import PUBLISHER_KEY, EventSpec, emit, emit_many
from realtime.models import Audience


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


async def test_events_are_published_after_commit_and_never_after_a_rollback(
    hubs: tuple[EventHub, EventHub], sqlite_url: str
) -> None:
    """``realtime.events.emit`` publishes through ``app.db.after_commit``: nothing while the
    transaction is open, nothing at all when it rolls back, everything once it commits."""
    a, b = hubs
    listener = a.subscribe()
    engine = make_engine(sqlite_url)
    sessionmaker = make_sessionmaker(engine, info={PUBLISHER_KEY: b})
    try:
        with pytest.raises(RuntimeError, match="the work failed"):
            async with unit_of_work(sessionmaker) as session:
                await emit(session, "message.created", {"n": "undone"}, audience=Audience.inbox)
                await emit_many(
                    session,
                    [
                        EventSpec("incident.opened", {"n": "undone too"}, Audience.staff),
                        EventSpec(
                            "escalation.alert", {"n": "undone"}, Audience.users, None, None, (1,)
                        ),
                    ],
                )
                raise RuntimeError("the work failed")

        async with unit_of_work(sessionmaker) as session:
            kept = await emit(session, "message.created", {"n": "kept"}, audience=Audience.inbox)
            await asyncio.sleep(0.1)
            assert listener.queue.empty()  # not before the commit

        # Fan-out keeps order: had anything of the rolled-back work been published, it
        # would arrive before this.
        first = await asyncio.wait_for(listener.get(), 2)
        assert (first["id"], first["data"]) == (kept["id"], {"n": "kept"})
        await asyncio.sleep(0.1)
        assert listener.queue.empty()
        async with sessionmaker() as session:
            logged = (await session.execute(sa.text("SELECT id, type FROM event"))).all()
        assert [tuple(row) for row in logged] == [(kept["id"], "message.created")]
    finally:
        await engine.dispose()
