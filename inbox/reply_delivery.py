"""Sending queued replies: claim, send through the connector, record; retry with backoff.

Delivery state of an outbound message (``inbox.replies.DeliveryStatus``):

    queued --sent by the platform--> sent      (external_id := the platform's id)
    queued --permanent error, or attempts used up--> failed   (delivery_error := its reason)
    queued --429 / 5xx / network--> queued     (delivery_next_attempt_at := now + wait)

**One sender per reply.** A sender first *claims* the reply in its own short transaction:
``UPDATE ... SET delivery_lease_until = now + lease WHERE delivery_status = 'queued' AND
external_id LIKE 'out:%' AND (lease is free) AND (the next attempt is due)``. Only the
process whose update matched sends; a job delivered twice, a scheduler in another process
or a late duplicate finds the lease taken (or the reply sent) and does nothing. A reply
that already carries the platform's id is never sent again. What remains is the window
between the platform accepting a request and us recording its id: a crash there (or a
timeout whose request did arrive) can post twice after the lease expires -- the platforms
offer no idempotency key to close it (e-mail keeps one Message-ID across attempts).

**Retries do not block the worker.** The ``reply.requested`` job handler only starts a
background task per reply (at most ``reply_concurrency`` sends at once) and returns, so a
slow platform never delays the triage of incoming messages in the same batch. A retryable
failure releases the lease and records when the next attempt is due (the platform's
Retry-After, capped, else exponential backoff with jitter); the **retry scheduler** polls
the database every ``reply_retry_poll_s`` for due replies and starts them. It also takes
over replies whose first job was lost (queued, never attempted, older than
``reply_requeue_grace_s``) or whose sender died (lease expired): that is what makes the
at-least-once job delivery safe across crashes and restarts, with any number of processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.logging import correlation_id, get_logger
from app.queue import Job
from app.settings import Settings
from inbox.channels import outbound_credentials
from inbox.connectors import CONNECTORS
from inbox.connectors.base import (
    Connector,
    DeliveryFailed,
    Endpoints,
    OutboundReply,
    ReplyTarget,
    SendResult,
    SmtpConfig,
    Transport,
    retry_delay_s,
)
from inbox.models import Author, Channel, Conversation, Message
from inbox.replies import PLACEHOLDER_PREFIX, DeliveryStatus, emit_reply_status

log = get_logger(__name__)
message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
channel_t = Channel.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]

MAX_EXTERNAL_ID_CHARS = 300
SCHEDULER_BATCH = 100


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    retry_after_max_s: float = 3600.0
    lease_s: float = 120.0
    requeue_grace_s: float = 30.0


def make_transport(settings: Settings, http: httpx.AsyncClient) -> Transport:
    return Transport(
        http=http,
        endpoints=Endpoints(
            meta_graph=settings.meta_graph_base_url,
            x_api=settings.x_api_base_url,
            telegram_api=settings.telegram_api_base_url,
            youtube_api=settings.youtube_api_base_url,
            google_business_api=settings.google_business_api_base_url,
        ),
        smtp=SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            from_address=settings.smtp_from or None,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.reply_http_timeout_s,
        ),
    )


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The process's client for platform APIs: bounded timeouts, no redirects followed."""
    timeout_s = settings.reply_http_timeout_s
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        follow_redirects=False,
        headers={"user-agent": "Leitstand/0.1 (+replies)"},
    )


class ReplyDelivery:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        transport: Transport,
        policy: RetryPolicy = RetryPolicy(),
        concurrency: int = 8,
        connectors: Mapping[str, Connector] = CONNECTORS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.transport = transport
        self.policy = policy
        self.connectors = connectors
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started: set[int] = set()  # replies this process is delivering right now

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
    ) -> ReplyDelivery:
        return cls(
            sessionmaker,
            transport=make_transport(settings, http),
            policy=RetryPolicy(
                max_attempts=settings.reply_max_attempts,
                backoff_base_s=settings.reply_backoff_base_s,
                backoff_max_s=settings.reply_backoff_max_s,
                retry_after_max_s=settings.reply_retry_after_max_s,
                lease_s=settings.reply_lease_s,
                requeue_grace_s=settings.reply_requeue_grace_s,
            ),
            concurrency=settings.reply_concurrency,
        )

    # --- entry points ---------------------------------------------------------------------

    async def handle(self, jobs: list[Job]) -> None:
        """The ``reply.requested`` handler: start each reply's delivery and return."""
        for message_id in sorted({int(job.payload["message_id"]) for job in jobs}):
            self.start(message_id)

    def start(self, message_id: int) -> None:
        if message_id in self._started:
            return
        self._started.add(message_id)
        task = asyncio.create_task(self._run(message_id), name=f"reply-{message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, message_id: int) -> None:
        try:
            await self.deliver(message_id)
        except Exception:
            # The lease (if taken) expires and the scheduler tries again.
            log.exception("reply.delivery_crashed", message_id=message_id)
        finally:
            self._started.discard(message_id)

    async def run_scheduler(self, stop: asyncio.Event, *, interval_s: float) -> None:
        while not stop.is_set():
            try:
                for message_id in await self.due_ids():
                    self.start(message_id)
            except Exception:
                log.exception("reply.scheduler_failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()

    async def close(self, *, grace_s: float = 5.0) -> None:
        """Let sends in flight finish (a cancelled send may have reached the platform)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def due_ids(self, now: datetime | None = None) -> list[int]:
        now = now or utcnow()
        m = message_t.c
        grace = now - timedelta(seconds=self.policy.requeue_grace_s)
        async with self._sessionmaker() as session:
            rows = await session.execute(
                sa.select(m.id)
                .where(
                    m.delivery_status == DeliveryStatus.queued.value,
                    sa.or_(m.delivery_lease_until.is_(None), m.delivery_lease_until < now),
                    sa.or_(
                        m.delivery_next_attempt_at <= now,
                        sa.and_(m.delivery_next_attempt_at.is_(None), m.received_at < grace),
                    ),
                )
                .order_by(m.received_at)
                .limit(SCHEDULER_BATCH)
            )
            return [int(r[0]) for r in rows]

    # --- one delivery -----------------------------------------------------------------------

    async def deliver(self, message_id: int) -> str | None:
        """Claim, send and record one reply; its delivery status after, or None if this
        caller did not get the claim (sent already, failed, not yet due, or taken)."""
        async with self._semaphore:
            claimed = await self._claim(message_id)
            if claimed is None:
                return None
            reply, lease_until, cid = claimed
            token = correlation_id.set(cid)
            try:
                return await self._send_and_record(reply, lease_until)
            finally:
                correlation_id.reset(token)

    async def _claim(self, message_id: int) -> tuple[OutboundReply, datetime, str | None] | None:
        m = message_t.c
        now = utcnow()
        lease_until = now + timedelta(seconds=self.policy.lease_s)
        async with unit_of_work(self._sessionmaker) as session:
            row = (
                await session.execute(
                    sa.update(message_t)
                    .where(
                        m.id == message_id,
                        m.direction == "outbound",
                        m.delivery_status == DeliveryStatus.queued.value,
                        m.external_id.startswith(PLACEHOLDER_PREFIX, autoescape=True),
                        sa.or_(m.delivery_lease_until.is_(None), m.delivery_lease_until < now),
                        sa.or_(
                            m.delivery_next_attempt_at.is_(None),
                            m.delivery_next_attempt_at <= now,
                        ),
                    )
                    .values(
                        delivery_lease_until=lease_until,
                        delivery_attempts=m.delivery_attempts + 1,
                    )
                    .returning(m.id, m.delivery_attempts, m.correlation_id)
                )
            ).first()
            if row is None:
                return None
            reply = await self._load(session, message_id, attempt=row.delivery_attempts)
        return reply, lease_until, row.correlation_id

    async def _load(self, session: AsyncSession, message_id: int, *, attempt: int) -> OutboundReply:
        m, c, ch = message_t.c, conversation_t.c, channel_t.c
        row = (
            await session.execute(
                sa.select(
                    m.id,
                    m.external_id,
                    m.text,
                    m.context,
                    c.thread_key,
                    c.kind.label("conversation_kind"),
                    c.subject,
                    ch.id.label("channel_id"),
                    ch.platform,
                    ch.name.label("channel_name"),
                    ch.secret,
                    ch.outbound_credentials,
                )
                .select_from(
                    message_t.join(conversation_t, c.id == m.conversation_id).join(
                        channel_t, ch.id == m.channel_id
                    )
                )
                .where(m.id == message_id)
            )
        ).one()
        target_id = (row.context or {}).get("reply_to_message_id")
        return OutboundReply(
            message_id=row.id,
            placeholder_id=row.external_id,
            text=row.text,
            platform=row.platform,
            channel_id=row.channel_id,
            channel_name=row.channel_name,
            thread_key=row.thread_key,
            conversation_kind=row.conversation_kind,
            subject=row.subject,
            target=await self._load_target(session, target_id) if target_id else None,
            credentials=outbound_credentials(dict(row._mapping)),
            channel_secret=row.secret,
            attempt=attempt,
        )

    @staticmethod
    async def _load_target(session: AsyncSession, message_id: int) -> ReplyTarget | None:
        m, a = message_t.c, author_t.c
        row = (
            await session.execute(
                sa.select(
                    m.external_id,
                    m.parent_external_id,
                    m.kind,
                    m.direction,
                    m.context,
                    m.raw,
                    a.platform_id,
                    a.handle,
                    a.display_name,
                )
                .select_from(message_t.outerjoin(author_t, a.id == m.author_id))
                .where(m.id == int(message_id))
            )
        ).first()
        if row is None:
            return None
        return ReplyTarget(
            external_id=row.external_id,
            parent_external_id=row.parent_external_id,
            kind=row.kind,
            direction=row.direction,
            author_platform_id=row.platform_id,
            author_handle=row.handle,
            author_name=row.display_name,
            context=row.context or {},
            raw=row.raw or {},
        )

    async def _send_and_record(self, reply: OutboundReply, lease_until: datetime) -> str:
        connector = self.connectors.get(reply.platform)
        try:
            if connector is None:
                raise DeliveryFailed(
                    f"replies cannot be sent on {reply.platform!r} channels", retryable=False
                )
            result = await connector.send(reply, self.transport)
        except DeliveryFailed as failure:
            return await self._record_failure(reply, failure, lease_until)
        except Exception as exc:  # a bug in a connector: do not retry it forever
            log.exception("reply.connector_error", message_id=reply.message_id)
            internal = DeliveryFailed(
                f"internal error while sending ({type(exc).__name__})", retryable=False
            )
            return await self._record_failure(reply, internal, lease_until)
        await self._record_sent(reply, result)
        return DeliveryStatus.sent.value

    async def _record_sent(self, reply: OutboundReply, result: SendResult) -> None:
        m = message_t.c
        external_id = result.external_id
        note = result.note
        if external_id is not None and len(external_id) > MAX_EXTERNAL_ID_CHARS:
            note, external_id = f"platform id too long to key: {external_id[:100]}...", None
        if external_id is None and note is None:
            note = "sent, but the platform returned no id for it"
        now = utcnow()
        async with unit_of_work(self._sessionmaker) as session:
            if external_id is not None:
                await self._absorb_echo(session, reply, external_id)
            await session.execute(
                sa.update(message_t)
                .where(m.id == reply.message_id, m.delivery_status == DeliveryStatus.queued.value)
                .values(
                    delivery_status=DeliveryStatus.sent.value,
                    external_id=external_id or m.external_id,
                    delivery_error=note,
                    delivery_lease_until=None,
                    delivery_next_attempt_at=None,
                    platform_created_at=now,
                    raw=result.response,
                )
            )
            await emit_reply_status(session, reply.message_id)
        log.info(
            "reply.sent",
            message_id=reply.message_id,
            platform=reply.platform,
            attempts=reply.attempt,
            external_id=external_id,
        )

    @staticmethod
    async def _absorb_echo(session: AsyncSession, reply: OutboundReply, external_id: str) -> None:
        """The platform's echo of this reply (Messenger ``is_echo``, the Page's own comment)
        may have been ingested before the platform answered our request: that row is this
        reply, so it goes and the reply takes its id."""
        m, c = message_t.c, conversation_t.c
        echo = (
            await session.execute(
                sa.select(m.id, m.conversation_id, m.direction).where(
                    m.channel_id == reply.channel_id,
                    m.external_id == external_id,
                    m.id != reply.message_id,
                )
            )
        ).first()
        if echo is None:
            return
        if echo.direction != "outbound":
            raise DeliveryFailed(  # pragma: no cover - a platform reusing ids
                f"the platform id {external_id} belongs to an inbound message", retryable=False
            )
        await session.execute(sa.delete(message_t).where(m.id == echo.id))
        await session.execute(
            sa.update(conversation_t)
            .where(c.id == echo.conversation_id)
            .values(message_count=c.message_count - 1)
        )
        log.info("reply.echo_absorbed", message_id=reply.message_id, echo_id=echo.id)

    async def _record_failure(
        self, reply: OutboundReply, failure: DeliveryFailed, lease_until: datetime
    ) -> str:
        m = message_t.c
        now = utcnow()
        retry = failure.retryable and reply.attempt < self.policy.max_attempts
        values: dict[str, Any]
        wait_s: float | None = None
        if retry:
            wait_s = retry_delay_s(
                attempt=reply.attempt,
                retry_after_s=failure.retry_after_s,
                base_s=self.policy.backoff_base_s,
                max_s=self.policy.backoff_max_s,
                retry_after_max_s=self.policy.retry_after_max_s,
            )
            status = DeliveryStatus.queued
            values = {
                "delivery_error": f"{failure.message} (attempt {reply.attempt} of "
                f"{self.policy.max_attempts}; next in {wait_s:.0f} s)",
                "delivery_next_attempt_at": now + timedelta(seconds=wait_s),
            }
        else:
            status = DeliveryStatus.failed
            values = {"delivery_status": status.value, "delivery_error": failure.message}
            if failure.retryable:
                values["delivery_error"] = (
                    f"{failure.message} (gave up after {reply.attempt} attempts)"
                )
        async with unit_of_work(self._sessionmaker) as session:
            # Only the holder of the claim records; a newer claim would have moved the lease.
            changed = await session.execute(
                sa.update(message_t)
                .where(
                    m.id == reply.message_id,
                    m.delivery_status == DeliveryStatus.queued.value,
                    m.delivery_lease_until == lease_until,
                )
                .values(delivery_lease_until=None, **values)
                .returning(m.id)
            )
            if changed.scalar_one_or_none() is not None:
                await emit_reply_status(session, reply.message_id)
        log.warning(
            "reply.retry" if retry else "reply.failed",
            message_id=reply.message_id,
            platform=reply.platform,
            attempts=reply.attempt,
            status_code=failure.status_code,
            error=failure.message,
            retry_in_s=wait_s,
        )
        return status.value
