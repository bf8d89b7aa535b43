"""The overview's figures: message volume and urgency by channel over time, open incidents,
and critical conversations nobody has answered. All SQL for them is here.

Volume is counted per UTC hour in the database (one pass over the
``ix_message_received_channel`` index); hours are then folded into the reader's local days
for the 7-day view, so a day starts at midnight where the reader is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.sql import dialect_name
from inbox.models import Channel, Conversation, ConversationStatus, Message
from inbox.queries import Visibility, conversations_public, visibility_condition
from inbox.schemas import ConversationPublic

#: The urgency from which a message counts as critical (the dashboard's red band).
CRITICAL_URGENCY = 80
UNANSWERED_ITEMS = 10

message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
channel_t = Channel.__table__  # type: ignore[attr-defined]


class StatsRange(StrEnum):
    day = "24h"  # 24 hourly buckets
    week = "7d"  # 7 daily buckets, local days


@dataclass(frozen=True, slots=True)
class _Cell:
    messages: int
    triaged: int
    urgency_sum: int
    urgency_max: int | None
    critical: int


def _hour_bucket(session: AsyncSession) -> sa.ColumnElement[Any]:
    received = message_t.c.received_at
    if dialect_name(session) == "postgresql":
        return sa.func.date_trunc("hour", sa.func.timezone("UTC", received))
    return sa.func.strftime("%Y-%m-%d %H:00:00", received)


def _as_utc_hour(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bucket_starts(range_: StatsRange, *, now: datetime, tz: ZoneInfo) -> list[datetime]:
    """The start of every bucket in the range, oldest first, as UTC datetimes."""
    if range_ is StatsRange.day:
        top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return [top - timedelta(hours=23 - i) for i in range(24)]
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=6 - i) for i in range(7)]
    return [datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC) for d in days]


def _bucket_index(hour: datetime, starts: list[datetime]) -> int | None:
    """The bucket an hour belongs to (the last start not after it)."""
    if hour < starts[0]:
        return None
    index = 0
    for i, start in enumerate(starts):
        if start <= hour:
            index = i
    return index


async def volume_by_channel(
    session: AsyncSession, *, range_: StatsRange, tz: ZoneInfo, now: datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    starts = bucket_starts(range_, now=now, tz=tz)
    m = message_t.c
    bucket = _hour_bucket(session).label("bucket")
    critical = sa.func.sum(sa.case((m.urgency >= CRITICAL_URGENCY, 1), else_=0))
    rows = await session.execute(
        sa.select(
            m.channel_id,
            bucket,
            sa.func.count().label("messages"),
            sa.func.count(m.urgency).label("triaged"),
            sa.func.coalesce(sa.func.sum(m.urgency), 0).label("urgency_sum"),
            sa.func.max(m.urgency).label("urgency_max"),
            critical.label("critical"),
        )
        .where(m.received_at >= starts[0], m.direction == "inbound")
        .group_by(m.channel_id, bucket)
    )
    cells: dict[str, list[_Cell | None]] = {}
    for row in rows:
        index = _bucket_index(_as_utc_hour(row.bucket), starts)
        if index is None:
            continue
        series = cells.setdefault(row.channel_id, [None] * len(starts))
        cell = _Cell(
            messages=int(row.messages),
            triaged=int(row.triaged),
            urgency_sum=int(row.urgency_sum or 0),
            urgency_max=row.urgency_max,
            critical=int(row.critical or 0),
        )
        series[index] = _merge(series[index], cell)

    channel_rows = (
        await session.execute(
            sa.select(channel_t.c.id, channel_t.c.name, channel_t.c.platform).order_by(
                channel_t.c.created_at
            )
        )
    ).all()
    channels = []
    total = _Cell(0, 0, 0, None, 0)
    for channel in channel_rows:
        series = cells.get(channel.id, [None] * len(starts))
        channel_total = _Cell(0, 0, 0, None, 0)
        for slot in series:
            channel_total = _merge(channel_total, slot)
        total = _merge(total, channel_total)
        channels.append(
            {
                "id": channel.id,
                "name": channel.name,
                "platform": channel.platform,
                "messages": [c.messages if c else 0 for c in series],
                "avg_urgency": [_average(c) for c in series],
                "max_urgency": [c.urgency_max if c else None for c in series],
                "total": channel_total.messages,
                "critical": channel_total.critical,
                "avg_urgency_total": _average(channel_total),
                "max_urgency_total": channel_total.urgency_max,
            }
        )
    return {
        "range": range_.value,
        "bucket": "hour" if range_ is StatsRange.day else "day",
        "tz": tz.key,
        "since": starts[0],
        "until": now,
        "buckets": starts,
        "channels": channels,
        "totals": {
            "messages": total.messages,
            "critical": total.critical,
            "avg_urgency": _average(total),
            "max_urgency": total.urgency_max,
        },
    }


def _merge(a: _Cell | None, b: _Cell | None) -> _Cell:
    if a is None or b is None:
        cell = a or b
        return cell if cell is not None else _Cell(0, 0, 0, None, 0)
    highest = [u for u in (a.urgency_max, b.urgency_max) if u is not None]
    return _Cell(
        messages=a.messages + b.messages,
        triaged=a.triaged + b.triaged,
        urgency_sum=a.urgency_sum + b.urgency_sum,
        urgency_max=max(highest) if highest else None,
        critical=a.critical + b.critical,
    )


def _average(cell: _Cell | None) -> float | None:
    if cell is None or cell.triaged == 0:
        return None
    return round(cell.urgency_sum / cell.triaged, 1)


async def open_incidents(session: AsyncSession) -> dict[str, Any]:
    """Open and acknowledged incidents by severity; ``available`` is false while the
    escalation tables are not migrated in."""
    by_severity = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    try:
        async with session.begin_nested():
            rows = await session.execute(
                sa.text(
                    "SELECT severity, count(*) FROM incident "
                    "WHERE status <> 'resolved' GROUP BY severity"
                )
            )
            for severity, count in rows:
                by_severity[str(severity)] = int(count)
    except DBAPIError:
        return {"available": False, "total": 0, "by_severity": by_severity}
    return {"available": True, "total": sum(by_severity.values()), "by_severity": by_severity}


def _unanswered_critical_condition(visibility: Visibility) -> list[sa.ColumnElement[bool]]:
    c, m = conversation_t.c, message_t.c
    answered = sa.exists().where(
        m.conversation_id == c.id, m.direction == "outbound", m.received_at >= c.waiting_since
    )
    conditions = [
        c.status.in_([ConversationStatus.open.value, ConversationStatus.pending.value]),
        c.urgency >= CRITICAL_URGENCY,
        ~answered,
    ]
    if (visible := visibility_condition(visibility)) is not None:
        conditions.append(visible)
    return conditions


async def unanswered_critical(
    session: AsyncSession, *, visibility: Visibility
) -> tuple[int, list[ConversationPublic]]:
    c = conversation_t.c
    conditions = _unanswered_critical_condition(visibility)
    total = (
        await session.execute(
            sa.select(sa.func.count()).select_from(conversation_t).where(*conditions)
        )
    ).scalar_one()
    rows = await session.execute(
        sa.select(conversation_t)
        .where(*conditions)
        .order_by(c.urgency.desc(), c.waiting_since.asc(), c.id.asc())
        .limit(UNANSWERED_ITEMS)
    )
    items = await conversations_public(session, [dict(r._mapping) for r in rows])
    return int(total), items


async def overview(
    session: AsyncSession,
    *,
    range_: StatsRange,
    tz: ZoneInfo,
    visibility: Visibility,
    now: datetime | None = None,
) -> dict[str, Any]:
    volume = await volume_by_channel(session, range_=range_, tz=tz, now=now)
    total, items = await unanswered_critical(session, visibility=visibility)
    return {
        **volume,
        "critical_urgency": CRITICAL_URGENCY,
        "open_incidents": await open_incidents(session),
        "unanswered_critical": {"total": total, "items": items},
    }
