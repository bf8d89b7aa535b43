"""What escalation holds in a process: the clock, the rule engine (a processing hook), the
timer scheduler and the notification dispatcher. Made once in ``app.services.Services``.

Tests replace ``clock`` (a :class:`app.clock.ManualClock`) and drive ``scheduler.run_once``
and ``dispatcher.run_once`` themselves.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock, SystemClock
from app.db import after_commit
from app.settings import Settings
from escalation.engine import RuleEngine
from escalation.models import TimerKind
from escalation.notify.dispatcher import NotificationDispatcher
from escalation.notify.senders import Senders
from escalation.policies import on_ack_timeout, on_escalate_timer
from escalation.spike import SpikeDetector
from escalation.timers import TimerHandler, TimerScheduler


class EscalationRuntime:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.engine = RuleEngine(
            self, spike=SpikeDetector(settings) if settings.spike_enabled else None
        )
        handlers: dict[str, TimerHandler] = {
            TimerKind.escalate.value: on_escalate_timer,
            TimerKind.ack_timeout.value: on_ack_timeout,
        }
        self.scheduler = TimerScheduler(
            sessionmaker,
            self,
            handlers,
            lease_s=settings.escalation_timer_lease_s,
            tick_s=settings.escalation_tick_s,
            batch=settings.escalation_timer_batch,
        )
        self.senders = Senders(settings)
        self.dispatcher = NotificationDispatcher(sessionmaker, self, self.senders)

    # --- escalation.env.Env ---

    def now(self) -> datetime:
        return self.clock.now()

    def timer_scheduled(self, session: AsyncSession, due_at: datetime) -> None:
        scheduler = self.scheduler

        async def wake() -> None:
            scheduler.wake(due_at)

        after_commit(session, wake)

    def notifications_queued(self, session: AsyncSession) -> None:
        dispatcher = self.dispatcher

        async def wake() -> None:
            dispatcher.wake()

        after_commit(session, wake)

    # --- lifecycle ---

    def start(self, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
        return [
            asyncio.create_task(self.scheduler.run(stop), name="escalation-scheduler"),
            asyncio.create_task(self.dispatcher.run(stop), name="notification-dispatcher"),
        ]

    async def close(self) -> None:
        await self.senders.close()
