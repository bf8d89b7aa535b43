"""The dispatcher: sends queued notifications after the transaction that queued them
committed, with leases (several processes), retries with capped exponential backoff, and
each outcome on the notification row, the incident's timeline and the realtime stream.

A claim leases due rows in a short transaction; sending happens outside any transaction;
the outcome is recorded only while the lease is still this dispatcher's. A process that
dies after sending but before recording lets the lease run out and the notification is
sent again with the same delivery id (``webhook-id``): delivery is at least once, and
receivers deduplicate on that id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.logging import get_logger
from app.sql import claim_leases
from escalation import incidents
from escalation.env import Env
from escalation.models import Integration, Notification, NotificationStatus
from escalation.notify.senders import Outcome, Senders
from escalation.timers import owner_name

log = get_logger(__name__)
notification_t = Notification.__table__  # type: ignore[attr-defined]
integration_t = Integration.__table__  # type: ignore[attr-defined]

Row = Mapping[Any, Any]  # a result row mapping


def backoff_s(attempts: int, *, base_s: float, max_s: float) -> float:
    """Wait before attempt ``attempts + 1``: base, 2 x base, 4 x base, ... capped."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


class NotificationDispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        env: Env,
        senders: Senders,
        *,
        owner: str | None = None,
        batch: int = 20,
    ) -> None:
        settings = env.settings
        self._sessionmaker = sessionmaker
        self.env = env
        self.senders = senders
        self.owner = owner or owner_name()
        self.batch = batch
        self.lease_s = settings.notify_lease_s
        self.tick_s = settings.notify_tick_s
        self.max_attempts = settings.notify_max_attempts
        self.backoff_base_s = settings.notify_backoff_base_s
        self.backoff_max_s = settings.notify_backoff_max_s
        self._wake = asyncio.Event()
        self.last_claimed = 0

    async def claim(self) -> list[dict[str, Any]]:
        n = notification_t.c
        now = self.env.now()
        async with unit_of_work(self._sessionmaker) as session:
            rows = await claim_leases(
                session,
                notification_t,
                due=[n.status == NotificationStatus.queued.value, n.next_attempt_at <= now],
                order_by=[n.next_attempt_at, n.id],
                limit=self.batch,
                owner=self.owner,
                now=now,
                lease_s=self.lease_s,
                returning=[
                    n.id,
                    n.incident_id,
                    n.channel,
                    n.target,
                    n.integration_id,
                    n.payload,
                    n.delivery_id,
                    n.attempts,
                ],
            )
            claimed = [dict(r._mapping) for r in rows]
            integration_ids = sorted({c["integration_id"] for c in claimed if c["integration_id"]})
            integrations: dict[int, Row] = {}
            if integration_ids:
                found = await session.execute(
                    sa.select(integration_t).where(integration_t.c.id.in_(integration_ids))
                )
                integrations = {r["id"]: r for r in found.mappings()}
        for item in claimed:
            item["integration"] = integrations.get(item["integration_id"])
        return sorted(claimed, key=lambda c: c["id"])

    async def deliver(self, notification: dict[str, Any]) -> Outcome:
        outcome = await self.senders.send(
            notification["channel"],
            notification,
            notification["integration"],
            now=self.env.now(),
        )
        await self.record(notification, outcome)
        return outcome

    async def record(self, notification: Row, outcome: Outcome) -> None:
        n = notification_t.c
        now = self.env.now()
        attempts = notification["attempts"]
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "response_code": outcome.response_code,
            "last_error": outcome.error,
        }
        kind: str
        data: dict[str, Any] = {
            "notification_id": notification["id"],
            "channel": notification["channel"],
            "target": notification["target"],
            "attempt": attempts,
        }
        if outcome.verdict == "delivered":
            values |= {
                "status": NotificationStatus.delivered.value,
                "delivered_at": now,
                "sent_at": now,
            }
            kind = "notification.delivered"
        elif outcome.verdict == "sent":
            values |= {"status": NotificationStatus.sent.value, "sent_at": now}
            kind = "notification.sent"
        elif outcome.verdict == "retry" and attempts < self.max_attempts:
            wait_s = backoff_s(attempts, base_s=self.backoff_base_s, max_s=self.backoff_max_s)
            if outcome.retry_after_s is not None:
                wait_s = min(self.backoff_max_s, max(wait_s, outcome.retry_after_s))
            retry_at = now + timedelta(seconds=wait_s)
            values |= {"next_attempt_at": retry_at}
            kind = "notification.retrying"
            if wait_s < self.tick_s:  # sooner than the next poll
                asyncio.get_running_loop().call_later(wait_s, self._wake.set)
            data |= {"error": outcome.error, "retry_at": retry_at.isoformat()}
        else:
            values |= {"status": NotificationStatus.failed.value, "failed_at": now}
            kind = "notification.failed"
            data["error"] = outcome.error
        data["response_code"] = outcome.response_code
        async with unit_of_work(self._sessionmaker) as session:
            incident_id = notification["incident_id"]
            if incident_id is not None:
                await incidents.load(session, incident_id, lock=True)
            updated = (
                await session.execute(
                    sa.update(notification_t)
                    .where(n.id == notification["id"], n.lease_owner == self.owner)
                    .values(values)
                    .returning(n.id)
                )
            ).first()
            if updated is None:
                log.warning("notification.lease_lost", notification_id=notification["id"])
                return
            if incident_id is not None:
                entry = await incidents.add_event(
                    session, incident_id=incident_id, kind=kind, at=now, data=data
                )
                incident = await incidents.load(session, incident_id)
                await incidents.emit_incident(
                    session, incidents.INCIDENT_UPDATED, incident, [entry]
                )
        log.info(
            kind,
            notification_id=notification["id"],
            channel=notification["channel"],
            attempt=attempts,
            response_code=outcome.response_code,
        )

    async def run_once(self) -> int:
        claimed = await self.claim()
        self.last_claimed = len(claimed)
        if claimed:
            results = await asyncio.gather(
                *(self.deliver(c) for c in claimed), return_exceptions=True
            )
            for item, result in zip(claimed, results, strict=True):
                if isinstance(result, BaseException):
                    log.error(
                        "notification.dispatch_failed",
                        notification_id=item["id"],
                        error=repr(result),
                    )
        return len(claimed)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification.claim_failed")
                self.last_claimed = 0
            if self.last_claimed >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._wake.wait()
