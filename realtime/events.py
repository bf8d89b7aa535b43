"""Emitting events: stored in the caller's transaction, published only after it commits.

Who may see an event follows from its audience and the reader's role and teams; the same
rule serves the live stream and the catch-up after a reconnect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit, utcnow
from app.sql import RawConnection, dialect_name, json_placeholder, json_text
from realtime.models import Audience, Event

PUBLISHER_KEY = "event_publisher"
event_t = Event.__table__  # type: ignore[attr-defined]


class Publisher(Protocol):
    async def publish(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Reader:
    """Who is listening: enough of a principal to decide what they may see."""

    user_id: int
    sees_everything: bool  # PR and admins
    team_ids: frozenset[int]


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "audience": event.audience,
        "team_id": event.team_id,
        "assignee_id": event.assignee_id,
        "user_ids": list(event.user_ids),
        "data": event.data,
        "created_at": event.created_at.isoformat(),
    }


def may_see(reader: Reader, event: dict[str, Any]) -> bool:
    audience = event["audience"]
    if audience == Audience.users:
        return reader.user_id in event["user_ids"]
    if reader.sees_everything:
        return True
    if audience == Audience.inbox:
        team_id = event["team_id"]
        return (
            team_id is None or team_id in reader.team_ids or event["assignee_id"] == reader.user_id
        )
    return False


def public_view(event: dict[str, Any]) -> dict[str, Any]:
    """What a client receives: routing fields stay on the server."""
    return {
        "id": event["id"],
        "type": event["type"],
        "data": event["data"],
        "created_at": event["created_at"],
    }


def wire_text(event: dict[str, Any]) -> str:
    """The event as sent on the websocket, serialised once however many clients get it."""
    text: str | None = event.get("_wire")
    if text is None:
        text = orjson.dumps(public_view(event)).decode()
        event["_wire"] = text
    return text


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event to record: its type, payload and who may see it."""

    type: str
    data: dict[str, Any]
    audience: Audience
    team_id: int | None = None
    assignee_id: int | None = None
    user_ids: tuple[int, ...] = ()


async def _insert_returning_ids_in_order(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[int]:
    """The new ids, in the order of ``rows``, in as few statements as the backend allows.

    PostgreSQL matches RETURNING rows to parameters itself. SQLite cannot promise the order
    of RETURNING rows, so SQLAlchemy would insert row by row; but SQLite gives each inserted
    row the next rowid, in insertion order, under its single-writer lock: sorted, the
    returned ids are the rows' ids in order.
    """
    if dialect_name(session) == "sqlite":
        result = await session.execute(sa.insert(event_t).returning(event_t.c.id), rows)
        return sorted(result.scalars())
    result = await session.execute(
        sa.insert(event_t).returning(event_t.c.id, sort_by_parameter_order=True), rows
    )
    return list(result.scalars())


def _event_rows(specs: Sequence[EventSpec], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "type": spec.type,
            "audience": spec.audience.value,
            "team_id": spec.team_id,
            "assignee_id": spec.assignee_id,
            "user_ids": sorted(set(spec.user_ids)),
            "data": spec.data,
            "created_at": now,
        }
        for spec in specs
    ]


def _published(
    rows: list[dict[str, Any]], ids: Sequence[int], now: datetime
) -> list[dict[str, Any]]:
    """The events as subscribers receive them."""
    created_at = now.isoformat()
    return [
        {**row, "id": event_id, "created_at": created_at}
        for row, event_id in zip(rows, ids, strict=True)
    ]


def _publish_after_commit(
    session: AsyncSession, rows: list[dict[str, Any]], ids: Sequence[int], now: datetime
) -> list[dict[str, Any]]:
    events = _published(rows, ids, now)
    publisher: Publisher | None = session.info.get(PUBLISHER_KEY)
    if publisher is not None:

        async def publish() -> None:
            for event in events:
                await publisher.publish(event)

        after_commit(session, publish)
    return events


async def emit_many(session: AsyncSession, specs: Sequence[EventSpec]) -> list[dict[str, Any]]:
    """Record events in one statement; they reach subscribers once the transaction commits."""
    if not specs:
        return []
    now = utcnow()
    rows = _event_rows(specs, now)
    ids = await _insert_returning_ids_in_order(session, rows)
    return _publish_after_commit(session, rows, ids, now)


_INSERT_EVENT = (
    "INSERT INTO event (type, audience, team_id, assignee_id, user_ids, data, created_at) "
    "VALUES (?, ?, ?, ?, {json}, {json}, ?) RETURNING id"
)


class RawEvents:
    """Events recorded on a raw connection (``app.sql.run_raw``), for hot paths that write
    everything of a batch in one go: ``insert`` inside ``run_raw``, then ``publish`` on the
    event loop, in the same transaction. Same rows and published events as ``emit_many``."""

    def __init__(self, specs: Sequence[EventSpec]) -> None:
        self.now = utcnow()
        self.rows = _event_rows(specs, self.now)
        self.ids: list[int] = []

    def insert(self, db: RawConnection) -> None:
        if not self.rows:
            return
        json = json_placeholder(db.dialect)
        created_at = db.timestamp(self.now)
        params = [
            (
                row["type"],
                row["audience"],
                row["team_id"],
                row["assignee_id"],
                json_text(row["user_ids"]),
                json_text(row["data"]),
                created_at,
            )
            for row in self.rows
        ]
        sql = _INSERT_EVENT.format(json=json)
        if db.dialect == "sqlite":
            # Multi-row statements: SQLite hands out rowids in the order of the rows, so the
            # sorted ids are the rows' ids in order (as _insert_returning_ids_in_order).
            self.ids = sorted(
                event_id for (event_id,) in db.insert_many(sql, params, returning=True)
            )
        else:
            # one row per statement (pipelined): ids come back in the order of the rows
            returned = db.execute_many(sql, params, returning=True)
            self.ids = [event_id for (event_id,) in returned]

    def publish(self, session: AsyncSession) -> list[dict[str, Any]]:
        if not self.rows:
            return []
        return _publish_after_commit(session, self.rows, self.ids, self.now)

    async def publish_committed(self, publisher: Publisher | None) -> None:
        """Publish now: for a transaction committed without a session
        (``app.sql.RawTransactions``)."""
        if publisher is not None:
            for event in _published(self.rows, self.ids, self.now):
                await publisher.publish(event)


async def emit(
    session: AsyncSession,
    type: str,
    data: dict[str, Any],
    *,
    audience: Audience,
    team_id: int | None = None,
    assignee_id: int | None = None,
    user_ids: Iterable[int] = (),
) -> dict[str, Any]:
    """Record one event; it reaches subscribers once the transaction commits."""
    (event,) = await emit_many(
        session,
        [EventSpec(type, data, audience, team_id, assignee_id, tuple(user_ids))],
    )
    return event
