"""What escalation services need from their process: the clock, the settings, and a way to
wake the scheduler and the dispatcher once a transaction that gave them work commits.

:class:`escalation.runtime.EscalationRuntime` is the real one; it reaches services as an
argument, so tests can hand in one with a :class:`app.clock.ManualClock`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.settings import Settings


class Env(Protocol):
    settings: Settings

    def now(self) -> datetime: ...

    def timer_scheduled(self, session: AsyncSession, due_at: datetime) -> None:
        """Called when a timer was written: wake the scheduler after commit if it is due
        before the next poll."""
        ...

    def notifications_queued(self, session: AsyncSession) -> None:
        """Called when notifications were queued: wake the dispatcher after commit."""
        ...
