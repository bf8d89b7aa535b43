"""The long-lived things a process holds, made once in the lifespan.

Routes and jobs receive them through typed dependencies (:mod:`app.deps`); tests build a
``Services`` of their own through the same seam.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import make_engine, make_sessionmaker
from app.logging import get_logger
from app.pubsub import EventHub
from app.queue import InProcessQueue, Queue, RedisStreamsQueue
from app.settings import Settings
from app.worker import Worker, consumer_name
from escalation.runtime import EscalationRuntime
from inbox.channels import ChannelCache
from inbox.content_fetch import ContentFetch
from inbox.processing import MESSAGE_STORED, MessageProcessor, Sweeper
from inbox.replies import REPLY_REQUESTED
from inbox.reply_delivery import ReplyDelivery, make_http_client
from inbox.writer import IngestWriter
from realtime.events import PUBLISHER_KEY

log = get_logger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    queue: Queue
    channels: ChannelCache
    processor: MessageProcessor
    hub: EventHub
    ingest: IngestWriter
    escalation: EscalationRuntime
    http: httpx.AsyncClient  # platform APIs (replies, fetching notified content)
    replies: ReplyDelivery
    redis: aioredis.Redis | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(cls, settings: Settings, *, triager: Any | None = None) -> Services:
        engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        client: aioredis.Redis | None = None
        queue: Queue
        if settings.redis_url:
            client = aioredis.from_url(settings.redis_url)
            queue = RedisStreamsQueue(
                client,
                stream=f"{settings.queue_stream_prefix}:jobs",
                visibility_timeout_s=settings.queue_visibility_timeout_s,
            )
        else:
            queue = InProcessQueue(visibility_timeout_s=settings.queue_visibility_timeout_s)
        hub = EventHub(client, channel=f"{settings.queue_stream_prefix}:events")
        sessionmaker = make_sessionmaker(engine, info={PUBLISHER_KEY: hub})
        escalation = EscalationRuntime(settings, sessionmaker)
        hooks = [escalation.engine] if settings.escalation_enabled else []
        http = make_http_client(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            queue=queue,
            channels=ChannelCache(sessionmaker),
            processor=MessageProcessor(
                sessionmaker,
                triager=triager,
                hooks=hooks,
                fetch=ContentFetch.from_settings(settings, sessionmaker, http),
            ),
            hub=hub,
            ingest=IngestWriter(sessionmaker, queue),
            escalation=escalation,
            http=http,
            replies=ReplyDelivery.from_settings(settings, sessionmaker, http),
            redis=client,
        )

    async def start(self) -> None:
        """Connect what needs connecting before the first request."""
        await self.hub.start()
        self.ingest.start()

    def start_background(
        self, *, worker: bool = True, sweeper: bool = True, escalation: bool = True
    ) -> None:
        """Start the worker loops, the sweeper, and the escalation timer scheduler and
        notification dispatcher on the running event loop."""
        if worker:
            # The loops take turns at the model (app.worker.Turn): each batch is formed
            # when the model is free, and scored while the previous one is written.
            turns = asyncio.Lock() if self.processor.triager is not None else None
            for i in range(self.settings.worker_concurrency):
                loop = Worker(
                    self.queue,
                    {MESSAGE_STORED: self.processor.handle, REPLY_REQUESTED: self.replies.handle},
                    batch_size=self.settings.triage_batch_size,
                    consumer=f"{consumer_name()}-{i}",
                    turns=turns,
                    turn_jobs={MESSAGE_STORED},
                )
                self._tasks.append(asyncio.create_task(loop.run(self._stop), name=f"worker-{i}"))
        if sweeper:
            sweep = Sweeper(self.sessionmaker, self.queue, grace_s=self.settings.sweeper_grace_s)
            self._tasks.append(
                asyncio.create_task(
                    sweep.run(self._stop, interval_s=self.settings.sweeper_interval_s),
                    name="sweeper",
                )
            )
            # Replies whose retry is due, or whose first job or sender was lost.
            self._tasks.append(
                asyncio.create_task(
                    self.replies.run_scheduler(
                        self._stop, interval_s=self.settings.reply_retry_poll_s
                    ),
                    name="reply-scheduler",
                )
            )
        if escalation and self.settings.escalation_enabled:
            self._tasks += self.escalation.start(self._stop)

    async def close(self) -> None:
        self._stop.set()
        await self.ingest.close()
        await self.queue.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.processor.close()
        await self.replies.close()
        await self.http.aclose()
        await self.escalation.close()
        await self.hub.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
