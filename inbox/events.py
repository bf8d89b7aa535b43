"""Realtime events about messages and conversations, scoped to who may see them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.sql import RawConnection, run_raw
from inbox.models import Author, Conversation, Message
from realtime.events import EventSpec, RawEvents, emit
from realtime.models import Audience

MESSAGE_CREATED = "message.created"
MESSAGE_TRIAGED = "message.triaged"
CONVERSATION_UPDATED = "conversation.updated"
EXCERPT_CHARS = 280

message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]


_SELECT_MESSAGES = (
    "SELECT m.id, m.conversation_id, m.channel_id, m.kind, m.direction, m.text, m.language, "
    "m.urgency, m.triage, c.platform, c.team_id, c.assignee_id, c.urgency, c.status, "
    "a.display_name, a.handle, a.reach_followers "
    "FROM message AS m JOIN conversation AS c ON c.id = m.conversation_id "
    "LEFT OUTER JOIN author AS a ON a.id = m.author_id "
    "WHERE m.id {ids} ORDER BY m.id"
)


def record_message_events(
    db: RawConnection, event_type: str, message_ids: Sequence[int]
) -> RawEvents:
    """Reads the messages (ids in ascending order) and records their events, inside
    ``run_raw``; ``publish`` the result on the event loop afterwards."""
    if not message_ids:
        return RawEvents([])
    if db.dialect == "postgresql":
        sql = _SELECT_MESSAGES.format(ids="= ANY(CAST(? AS BIGINT[]))")
        rows = db.execute(sql, [list(message_ids)], returning=True)
    else:
        sql = _SELECT_MESSAGES.format(ids="IN (SELECT value FROM json_each(?))")
        rows = db.execute(sql, [json.dumps(list(message_ids))], returning=True)
    specs = []
    for (
        message_id,
        conversation_id,
        channel_id,
        kind,
        direction,
        text,
        language,
        urgency,
        triage_value,
        platform,
        team_id,
        assignee_id,
        conversation_urgency,
        status,
        display_name,
        handle,
        reach_followers,
    ) in rows:
        triage: dict[str, Any] | None = (
            json.loads(triage_value) if isinstance(triage_value, str) else triage_value
        )
        specs.append(
            EventSpec(
                event_type,
                {
                    "message_id": message_id,
                    "conversation_id": conversation_id,
                    "channel_id": channel_id,
                    "platform": platform,
                    "kind": kind,
                    "direction": direction,
                    "excerpt": text[:EXCERPT_CHARS],
                    "language": language,
                    "urgency": urgency,
                    "conversation_urgency": conversation_urgency,
                    "conversation_status": status,
                    "categories": (triage or {}).get("categories"),
                    "reasons": (triage or {}).get("reasons"),
                    "author": {
                        "display_name": display_name,
                        "handle": handle,
                        "reach_followers": reach_followers,
                    },
                },
                Audience.inbox,
                team_id=team_id,
                assignee_id=assignee_id,
            )
        )
    events = RawEvents(specs)
    events.insert(db)
    return events


async def emit_message_events(
    session: AsyncSession, event_type: str, message_ids: Sequence[int]
) -> None:
    """One event per message, read and recorded in one ``run_raw`` (a batch's hot path)."""
    if not message_ids:
        return
    ids = sorted(message_ids)
    events = await run_raw(session, lambda db: record_message_events(db, event_type, ids))
    events.publish(session)


async def emit_conversation_updated(
    session: AsyncSession, conversation_id: int, changes: dict[str, Any]
) -> None:
    c = conversation_t.c
    row = (
        await session.execute(
            sa.select(c.team_id, c.assignee_id, c.status, c.urgency).where(c.id == conversation_id)
        )
    ).one()
    await emit(
        session,
        CONVERSATION_UPDATED,
        {
            "conversation_id": conversation_id,
            "status": row.status,
            "urgency": row.urgency,
            "assignee_id": row.assignee_id,
            "team_id": row.team_id,
            "changes": changes,
        },
        audience=Audience.inbox,
        team_id=row.team_id,
        assignee_id=row.assignee_id,
    )
