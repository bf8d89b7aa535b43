"""Fetching the content a platform notified without, in processing, before triage.

Instagram mentions (``field="mentions"``: only ``comment_id`` and ``media_id``) and Google
Business Profile review notifications (only the review's resource name) are stored by
ingest as they arrive, with empty text and ``context.needs_fetch`` (ingest stays pure and
fast: nothing is fetched before the platform gets its 2xx). The worker then asks the
platform's API for the content (:data:`inbox.connectors.FETCHERS`, httpx through the shared
client and the platform base URL settings) before triage, so that triage, escalation and
the full-text search see the text:

- the fetch runs outside any transaction, at most ``concurrency`` at once per batch;
  429, 5xx, timeouts and network errors are tried again up to ``max_attempts`` times
  with the reply connectors' backoff (:func:`inbox.connectors.base.retry_delay_s`: the
  platform's Retry-After, capped, else exponential with jitter); retries are short on
  purpose, they hold up the batch;
- on success, in the transaction that claims the message for processing
  (:meth:`ContentFetch.record`), the message gets the text, the author (upserted by
  platform id), the platform's timestamp and URL, and ``context.needs_fetch`` becomes
  false (the platform's extras, such as review stars, join the context); the conversation
  gets its subject and author when it had none; the search index follows (SQLite's FTS5
  triggers fire on the text update; PostgreSQL's conversation document is rebuilt);
- a permanent failure (any other 4xx, a missing credential, an answer without the
  content, an answer the fetcher could not read) or retries used up leaves the text empty
  and records why in ``message.fetch_error``; processing goes on (triage runs on the
  empty text).

A job delivered twice at once may fetch twice (a read: harmless); only the process whose
claim matched writes what came back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import utcnow
from app.logging import get_logger
from app.settings import Settings
from app.sql import insert_for
from inbox.channels import outbound_credentials
from inbox.connectors import FETCHERS
from inbox.connectors.base import (
    ContentFetcher,
    DeliveryFailed,
    FetchedContent,
    FetchRequest,
    Transport,
    retry_delay_s,
)
from inbox.ingest import SUBJECT_CHARS, reindex_conversations, sanitised
from inbox.models import Author, Channel, Conversation, Message
from inbox.normalize import Kind, NormalizedMessage
from inbox.reply_delivery import make_transport

log = get_logger(__name__)
message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
channel_t = Channel.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]

FETCH_ERROR_CHARS = 1000


def needs_fetch(context: Any) -> bool:
    """Whether a stored message still waits for the content its platform left out."""
    return isinstance(context, Mapping) and context.get("needs_fetch") is True


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 5.0
    retry_after_max_s: float = 10.0
    timeout_s: float = 10.0
    concurrency: int = 8


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one fetch came to: the content (cleaned to fit the columns) or why not."""

    message_id: int
    conversation_id: int
    platform: str
    context: Mapping[str, Any]  # the message's context when it was read
    content: FetchedContent | None = None
    error: str | None = None


class ContentFetch:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        transport: Transport,
        policy: FetchPolicy = FetchPolicy(),
        fetchers: Mapping[str, ContentFetcher] = FETCHERS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.transport = transport
        self.policy = policy
        self.fetchers = fetchers

    needs_fetch = staticmethod(needs_fetch)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
    ) -> ContentFetch:
        return cls(
            sessionmaker,
            transport=make_transport(settings, http),
            policy=FetchPolicy(
                max_attempts=settings.fetch_max_attempts,
                backoff_base_s=settings.fetch_backoff_base_s,
                backoff_max_s=settings.fetch_backoff_max_s,
                retry_after_max_s=settings.fetch_retry_after_max_s,
                timeout_s=settings.fetch_http_timeout_s,
                concurrency=settings.fetch_concurrency,
            ),
        )

    # --- before the transaction: ask the platforms ----------------------------------------

    async def fetch(self, message_ids: Collection[int]) -> dict[int, FetchOutcome]:
        """Fetch the content of those of these messages that still need it, by message id."""
        requests = await self._requests(message_ids)
        if not requests:
            return {}
        semaphore = asyncio.Semaphore(self.policy.concurrency)

        async def one(request: FetchRequest, conversation_id: int) -> FetchOutcome:
            async with semaphore:
                return await self._fetch_one(request, conversation_id)

        outcomes = await asyncio.gather(*(one(r, cid) for r, cid in requests))
        return {o.message_id: o for o in outcomes}

    async def _requests(self, message_ids: Collection[int]) -> list[tuple[FetchRequest, int]]:
        m, c, ch = message_t.c, conversation_t.c, channel_t.c
        async with self._sessionmaker() as session:
            rows = await session.execute(
                sa.select(
                    m.id,
                    m.conversation_id,
                    m.external_id,
                    m.context,
                    m.raw,
                    c.thread_key,
                    ch.platform,
                    ch.secret,
                    ch.outbound_credentials,
                )
                .select_from(
                    message_t.join(conversation_t, c.id == m.conversation_id).join(
                        channel_t, ch.id == m.channel_id
                    )
                )
                .where(
                    m.id.in_(sorted(message_ids)),
                    m.processed_at.is_(None),
                    ch.platform.in_(sorted(self.fetchers)),
                )
                .order_by(m.id)
            )
            return [
                (
                    FetchRequest(
                        message_id=row.id,
                        platform=row.platform,
                        external_id=row.external_id,
                        thread_key=row.thread_key,
                        context=row.context,
                        raw=row.raw if isinstance(row.raw, Mapping) else {},
                        credentials=outbound_credentials(dict(row._mapping)),
                        channel_secret=row.secret,
                    ),
                    row.conversation_id,
                )
                for row in rows
                if needs_fetch(row.context)
            ]

    async def _fetch_one(self, request: FetchRequest, conversation_id: int) -> FetchOutcome:
        fetcher = self.fetchers[request.platform]
        outcome = FetchOutcome(
            message_id=request.message_id,
            conversation_id=conversation_id,
            platform=request.platform,
            context=request.context,
        )
        policy = self.policy
        attempt = 1
        while True:
            try:
                content = await fetcher.fetch(request, self.transport, timeout_s=policy.timeout_s)
            except DeliveryFailed as exc:
                if not exc.retryable or attempt >= policy.max_attempts:
                    why = exc.message
                    if exc.retryable:
                        why = f"gave up after {attempt} attempts: {why}"
                    log.warning(
                        "message.fetch_failed",
                        message_id=request.message_id,
                        platform=request.platform,
                        status_code=exc.status_code,
                        attempts=attempt,
                        error=why,
                    )
                    return replace(outcome, error=why[:FETCH_ERROR_CHARS])
                await asyncio.sleep(
                    retry_delay_s(
                        attempt=attempt,
                        retry_after_s=exc.retry_after_s,
                        base_s=policy.backoff_base_s,
                        max_s=policy.backoff_max_s,
                        retry_after_max_s=policy.retry_after_max_s,
                    )
                )
                attempt += 1
                continue
            except Exception as exc:  # a surprise in an answer must not stall processing
                log.exception(
                    "message.fetch_crashed",
                    message_id=request.message_id,
                    platform=request.platform,
                )
                why = f"unexpected error while fetching: {type(exc).__name__}"
                return replace(outcome, error=why)
            log.info(
                "message.fetched",
                message_id=request.message_id,
                platform=request.platform,
                attempts=attempt,
            )
            return replace(outcome, content=_cleaned(content))

    # --- in the processing transaction: write what came back -----------------------------

    async def record(self, session: AsyncSession, outcomes: Sequence[FetchOutcome]) -> None:
        """Write these outcomes (of messages this transaction claimed for processing)."""
        m, c = message_t.c, conversation_t.c
        fetched: set[int] = set()
        for outcome in outcomes:
            content = outcome.content
            if content is None:
                await session.execute(
                    sa.update(message_t)
                    .where(m.id == outcome.message_id)
                    .values(fetch_error=outcome.error or "the content could not be fetched")
                )
                continue
            author_id = await _upsert_author(session, outcome.platform, content)
            values: dict[str, Any] = {
                "text": content.text,
                "context": {**outcome.context, **content.context, "needs_fetch": False},
                "fetch_error": None,
            }
            if author_id is not None:
                values["author_id"] = author_id
            if content.platform_created_at is not None:
                values["platform_created_at"] = content.platform_created_at
            if content.url:
                values["url"] = content.url
            await session.execute(
                sa.update(message_t).where(m.id == outcome.message_id).values(values)
            )
            await session.execute(
                sa.update(conversation_t)
                .where(c.id == outcome.conversation_id)
                .values(
                    subject=sa.func.coalesce(c.subject, content.text[:SUBJECT_CHARS] or None),
                    author_id=sa.func.coalesce(c.author_id, author_id),
                )
            )
            if content.text:
                fetched.add(outcome.conversation_id)
        # SQLite's FTS5 triggers saw the text change; PostgreSQL's documents are rebuilt.
        await reindex_conversations(session, fetched)


def _cleaned(content: FetchedContent) -> FetchedContent:
    """The content fitted to the columns by ingest's own rules (NUL, lengths, ids)."""
    fitted = sanitised(
        NormalizedMessage(
            external_id="-",
            thread_key="-",
            kind=Kind.comment,
            text=content.text,
            author=content.author,
            url=content.url,
            context=dict(content.context),
        )
    )
    return FetchedContent(
        text=fitted.text,
        author=fitted.author,
        platform_created_at=content.platform_created_at,
        url=fitted.url,
        context=fitted.context,
    )


async def _upsert_author(
    session: AsyncSession, platform: str, content: FetchedContent
) -> int | None:
    author = content.author
    if author is None or not author.platform_id:
        return None
    a = author_t.c
    now = utcnow()
    statement = insert_for(session, author_t).values(
        platform=platform,
        platform_id=author.platform_id,
        handle=author.handle,
        display_name=author.display_name,
        reach_followers=author.reach_followers,
        first_seen_at=now,
        updated_at=now,
    )
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["platform", "platform_id"],
        set_={
            "handle": sa.func.coalesce(excluded.handle, a.handle),
            "display_name": sa.func.coalesce(excluded.display_name, a.display_name),
            "updated_at": excluded.updated_at,
        },
    ).returning(a.id)
    return int((await session.execute(statement)).scalar_one())
