"""Durable timers: rows in the database, claimed with a lease, fired exactly once.

A scheduler claims due timers in a short transaction (``UPDATE ... SET lease_owner,
lease_until WHERE id IN (due, unleased or lease expired ... FOR UPDATE SKIP LOCKED)``),
then fires each in its own transaction: the conditional update that sets ``fired_at``
and the timer's effects commit together. A process that dies mid-fire leaves the timer
unfired; once its lease runs out another scheduler claims it. Several processes can run
schedulers side by side; each timer fires once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.logging import get_logger
from app.sql import claim_leases, dialect_name
from escalation.env import Env
from escalation.models import Incident, Timer, TimerKind

log = get_logger(__name__)
timer_t = Timer.__table__  # type: ignore[attr-defined]
incident_t = Incident.__table__  # type: ignore[attr-defined]

WAKE_HORIZON_S = 3600.0  # timers due sooner get an exact in-process wake-up
MAX_FIRE_ATTEMPTS = 10  # a timer whose handler keeps failing is cancelled after this


@dataclass(frozen=True, slots=True)
class DueTimer:
    id: int
    kind: str
    incident_id: int | None
    data: dict[str, Any]
    due_at: datetime
    attempts: int


TimerHandler = Callable[[AsyncSession, Env, DueTimer], Awaitable[None]]


def owner_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def schedule(
    session: AsyncSession,
    *,
    env: Env,
    kind: TimerKind,
    due_at: datetime,
    incident_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    timer_id: int = (
        await session.execute(
            sa.insert(timer_t)
            .values(
                kind=kind.value,
                incident_id=incident_id,
                data=data or {},
                due_at=due_at,
                attempts=0,
                created_at=env.now(),
            )
            .returning(timer_t.c.id)
        )
    ).scalar_one()
    env.timer_scheduled(session, due_at)
    return timer_id


async def cancel_for_incident(session: AsyncSession, *, incident_id: int, at: datetime) -> int:
    """Cancel every pending timer of an incident; returns how many."""
    result = await session.execute(
        sa.update(timer_t)
        .where(
            timer_t.c.incident_id == incident_id,
            timer_t.c.fired_at.is_(None),
            timer_t.c.cancelled_at.is_(None),
        )
        .values(cancelled_at=at)
        .returning(timer_t.c.id)
    )
    return len(result.all())


class TimerScheduler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        env: Env,
        handlers: dict[str, TimerHandler],
        *,
        owner: str | None = None,
        lease_s: float = 30.0,
        tick_s: float = 1.0,
        batch: int = 50,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.env = env
        self.handlers = handlers
        self.owner = owner or owner_name()
        self.lease_s = lease_s
        self.tick_s = tick_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._wake_handles: list[asyncio.TimerHandle] = []
        self.last_claimed = 0

    async def claim(self) -> list[DueTimer]:
        """Lease up to ``batch`` due timers to this scheduler."""
        t = timer_t.c
        now = self.env.now()
        async with unit_of_work(self._sessionmaker) as session:
            rows = await claim_leases(
                session,
                timer_t,
                due=[t.fired_at.is_(None), t.cancelled_at.is_(None), t.due_at <= now],
                order_by=[t.due_at, t.id],
                limit=self.batch,
                owner=self.owner,
                now=now,
                lease_s=self.lease_s,
                returning=[t.id, t.kind, t.incident_id, t.data, t.due_at, t.attempts],
            )
            claimed = [DueTimer(**row._mapping) for row in rows]
        return sorted(claimed, key=lambda d: (d.due_at, d.id))

    async def fire(self, timer: DueTimer) -> bool:
        """Fire one claimed timer: its effects and ``fired_at`` in one transaction.
        False when it was cancelled, fired, or re-leased to someone else meanwhile."""
        t = timer_t.c
        handler = self.handlers.get(timer.kind)
        async with unit_of_work(self._sessionmaker) as session:
            now = self.env.now()
            if timer.incident_id is not None:
                # The incident's lock first, as acknowledging and resolving take it: their
                # timer cancellations and this firing are serialised.
                query = sa.select(incident_t.c.id).where(incident_t.c.id == timer.incident_id)
                if dialect_name(session) == "postgresql":
                    query = query.with_for_update()
                await session.execute(query)
            give_up = handler is None or timer.attempts > MAX_FIRE_ATTEMPTS
            marked = (
                await session.execute(
                    sa.update(timer_t)
                    .where(
                        t.id == timer.id,
                        t.lease_owner == self.owner,
                        t.fired_at.is_(None),
                        t.cancelled_at.is_(None),
                    )
                    .values({"cancelled_at" if give_up else "fired_at": now, "lease_until": None})
                    .returning(t.id)
                )
            ).first()
            if marked is None:
                return False
            if give_up:
                log.error(
                    "timer.given_up", timer_id=timer.id, kind=timer.kind, attempts=timer.attempts
                )
                return False
            assert handler is not None
            await handler(session, self.env, timer)
        log.info("timer.fired", timer_id=timer.id, kind=timer.kind, incident_id=timer.incident_id)
        return True

    async def run_once(self) -> int:
        """Claim what is due and fire it; returns how many timers fired."""
        fired = 0
        claimed = await self.claim()
        self.last_claimed = len(claimed)
        for timer in claimed:
            try:
                fired += await self.fire(timer)
            except Exception:
                # Left unfired: claimed again once the lease runs out.
                log.exception("timer.fire_failed", timer_id=timer.id, kind=timer.kind)
        return fired

    def wake(self, due_at: datetime | None = None) -> None:
        """Look again now, or exactly at ``due_at`` (a timer this process wrote), rather
        than up to a poll interval late. Far-off timers are left to the polling."""
        delay_s = 0.0 if due_at is None else (due_at - self.env.now()).total_seconds()
        if delay_s > WAKE_HORIZON_S:
            return
        if delay_s <= 0:
            self._wake.set()
            return
        loop = asyncio.get_running_loop()
        self._wake_handles = [h for h in self._wake_handles if h.when() > loop.time()]
        self._wake_handles.append(loop.call_later(delay_s, self._wake.set))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer.claim_failed")
                self.last_claimed = 0
            if self.last_claimed >= self.batch:
                continue  # more may be due
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._wake.wait()
        for handle in self._wake_handles:
            handle.cancel()
