"""Realtime events about messages and conversations, scoped to who may see them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Author, Conversation, Message
from realtime.events import EventSpec, emit, emit_many
from realtime.models import Audience

MESSAGE_CREATED = "message.created"
MESSAGE_TRIAGED = "message.triaged"
CONVERSATION_UPDATED = "conversation.updated"
EXCERPT_CHARS = 280

message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
author_t = Author.__table__  # type: ignore[attr-defined]


async def emit_message_events(
    session: AsyncSession, event_type: str, message_ids: Sequence[int]
) -> None:
    if not message_ids:
        return
    m, c, a = message_t.c, conversation_t.c, author_t.c
    rows = await session.execute(
        sa.select(
            m.id,
            m.conversation_id,
            m.channel_id,
            m.kind,
            m.direction,
            m.text,
            m.language,
            m.urgency,
            m.triage,
            c.platform,
            c.team_id,
            c.assignee_id,
            c.urgency.label("conversation_urgency"),
            c.status,
            a.display_name,
            a.handle,
            a.reach_followers,
        )
        .select_from(
            message_t.join(conversation_t, c.id == m.conversation_id).outerjoin(
                author_t, a.id == m.author_id
            )
        )
        .where(m.id.in_(sorted(message_ids)))
        .order_by(m.id)
    )
    specs = []
    for row in rows:
        triage: dict[str, Any] | None = row.triage
        specs.append(
            EventSpec(
                event_type,
                {
                    "message_id": row.id,
                    "conversation_id": row.conversation_id,
                    "channel_id": row.channel_id,
                    "platform": row.platform,
                    "kind": row.kind,
                    "direction": row.direction,
                    "excerpt": row.text[:EXCERPT_CHARS],
                    "language": row.language,
                    "urgency": row.urgency,
                    "conversation_urgency": row.conversation_urgency,
                    "conversation_status": row.status,
                    "categories": (triage or {}).get("categories"),
                    "reasons": (triage or {}).get("reasons"),
                    "author": {
                        "display_name": row.display_name,
                        "handle": row.handle,
                        "reach_followers": row.reach_followers,
                    },
                },
                Audience.inbox,
                team_id=row.team_id,
                assignee_id=row.assignee_id,
            )
        )
    await emit_many(session, specs)


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
