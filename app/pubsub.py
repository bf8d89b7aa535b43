"""Fan-out of realtime events to the subscribers (websockets) of every process.

:class:`EventHub` delivers to local subscribers. Without Redis it does so directly; with
Redis every publish goes through one pub/sub channel and each process's listener delivers
what it hears to its own subscribers, so a client connected to process A receives what
happened in process B. Both modes pass one contract test suite.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import redis.asyncio as aioredis

from app.logging import get_logger

log = get_logger(__name__)


class Subscription:
    """One listener's queue. A listener that falls too far behind is told to resync."""

    def __init__(self, max_pending: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_pending)
        self.overflowed = False

    def offer(self, event: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()


class EventHub:
    def __init__(
        self,
        redis: aioredis.Redis | None = None,
        *,
        channel: str = "leitstand:events",
        max_pending_per_subscriber: int = 1000,
        connect_timeout_s: float = 3.0,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._redis = redis
        self.channel = channel
        self._max_pending = max_pending_per_subscriber
        self._subscribers: set[Subscription] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        if self._redis is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="event-hub-listener")
            try:
                await asyncio.wait_for(self._listening.wait(), timeout=self.connect_timeout_s)
            except TimeoutError:
                # Start anyway: /readyz reports Redis as down, the listener keeps retrying.
                log.warning("event_hub.not_listening_yet", channel=self.channel)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    def subscribe(self) -> Subscription:
        subscription = Subscription(self._max_pending)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def publish(self, event: dict[str, Any]) -> None:
        if self._redis is None:
            self._deliver(event)
            return
        try:
            await self._redis.publish(self.channel, orjson.dumps(event))
        except Exception:
            # The event is in the log: clients get it when they reconnect with their cursor.
            log.exception("event_hub.publish_failed", event_id=event.get("id"))

    def _deliver(self, event: dict[str, Any]) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._listening.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._deliver(orjson.loads(message["data"]))
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception:
                log.exception("event_hub.listener_failed")
                await pubsub.aclose()
                # Subscribers may have missed events: tell them to catch up from the log.
                self._deliver({"id": None, "type": "resync", "audience": "all"})
                await asyncio.sleep(1.0)
