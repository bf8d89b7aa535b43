"""Reads of the event log: catch-up after a reconnect."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.events import Reader, event_dict, may_see
from realtime.models import Event

event_t = Event.__table__  # type: ignore[attr-defined]


async def latest_event_id(session: AsyncSession) -> int:
    return int(
        (
            await session.execute(sa.select(sa.func.coalesce(sa.func.max(event_t.c.id), 0)))
        ).scalar_one()
    )


async def events_after(
    session: AsyncSession, *, reader: Reader, cursor: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Events after ``cursor`` the reader may see, oldest first, and whether it is complete.

    Incomplete means the cursor is older than the log keeps or more than ``limit`` events
    are missing: the client must reload instead of replaying.
    """
    oldest = (await session.execute(sa.select(sa.func.min(event_t.c.id)))).scalar_one()
    if oldest is not None and cursor < oldest - 1:
        return [], False
    rows = await session.execute(
        sa.select(Event).where(event_t.c.id > cursor).order_by(event_t.c.id).limit(limit + 1)
    )
    events = [event_dict(e) for e in rows.scalars()]
    if len(events) > limit:
        return [], False
    return [e for e in events if may_see(reader, e)], True
