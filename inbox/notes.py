"""Internal notes on conversations and agents' triage corrections: writes and reads.

Both are visible to whoever may see the conversation. Services flush; the request commits.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import InvalidInput, NotFound
from inbox.events import emit_conversation_updated
from inbox.models import Conversation, ConversationNote, Message, TriageFeedback
from inbox.queries import Visibility, visibility_condition
from inbox.schemas import NotePublic, TriageFeedbackCreate, TriageFeedbackPublic
from people.models import User

conversation_t = Conversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]
note_t = ConversationNote.__table__  # type: ignore[attr-defined]
feedback_t = TriageFeedback.__table__  # type: ignore[attr-defined]
user_t = User.__table__  # type: ignore[attr-defined]
MAX_NOTES = 500


async def _check_conversation(
    session: AsyncSession, conversation_id: int, visibility: Visibility
) -> None:
    conditions = [conversation_t.c.id == conversation_id]
    if (visible := visibility_condition(visibility)) is not None:
        conditions.append(visible)
    if (await session.execute(sa.select(conversation_t.c.id).where(*conditions))).first() is None:
        raise NotFound(f"no conversation {conversation_id}")


async def add_note(
    session: AsyncSession,
    *,
    conversation_id: int,
    user_id: int,
    text: str,
    visibility: Visibility,
) -> NotePublic:
    await _check_conversation(session, conversation_id, visibility)
    text = text.strip()
    if not text:
        raise InvalidInput("a note needs some text")
    note = ConversationNote(
        conversation_id=conversation_id, user_id=user_id, text=text, created_at=utcnow()
    )
    session.add(note)
    await session.flush()
    assert note.id is not None
    await emit_conversation_updated(session, conversation_id, {"note_added": note.id})
    (public,) = await _notes(session, note_t.c.id == note.id)
    return public


async def list_notes(
    session: AsyncSession, *, conversation_id: int, visibility: Visibility
) -> list[NotePublic]:
    await _check_conversation(session, conversation_id, visibility)
    return await _notes(session, note_t.c.conversation_id == conversation_id)


async def _notes(session: AsyncSession, condition: sa.ColumnElement[bool]) -> list[NotePublic]:
    n, u = note_t.c, user_t.c
    rows = await session.execute(
        sa.select(n.id, n.conversation_id, n.user_id, n.text, n.created_at, u.display_name)
        .select_from(note_t.outerjoin(user_t, u.id == n.user_id))
        .where(condition)
        .order_by(n.id)
        .limit(MAX_NOTES)
    )
    return [
        NotePublic(
            id=r.id,
            conversation_id=r.conversation_id,
            user_id=r.user_id,
            author_name=r.display_name,
            text=r.text,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def add_triage_feedback(
    session: AsyncSession,
    *,
    message_id: int,
    user_id: int,
    body: TriageFeedbackCreate,
    visibility: Visibility,
) -> TriageFeedbackPublic:
    if body.urgency is None and body.categories is None:
        raise InvalidInput("a correction needs an urgency, categories, or both")
    m = message_t.c
    query = sa.select(m.id, m.conversation_id).where(m.id == message_id)
    if (visible := visibility_condition(visibility)) is not None:
        query = query.join(conversation_t, conversation_t.c.id == m.conversation_id).where(visible)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no message {message_id}")
    feedback = TriageFeedback(
        message_id=message_id,
        user_id=user_id,
        urgency=body.urgency,
        categories=sorted(set(body.categories)) if body.categories is not None else None,
        created_at=utcnow(),
    )
    session.add(feedback)
    await session.flush()
    assert feedback.id is not None
    await emit_conversation_updated(
        session, row.conversation_id, {"triage_feedback": {"message_id": message_id}}
    )
    (public,) = await _feedback(session, feedback_t.c.id == feedback.id)
    return public


async def list_triage_feedback(
    session: AsyncSession, *, conversation_id: int, visibility: Visibility
) -> list[TriageFeedbackPublic]:
    """Every correction on the conversation's messages, oldest first."""
    await _check_conversation(session, conversation_id, visibility)
    return await _feedback(
        session,
        feedback_t.c.message_id.in_(
            sa.select(message_t.c.id).where(message_t.c.conversation_id == conversation_id)
        ),
    )


async def _feedback(
    session: AsyncSession, condition: sa.ColumnElement[bool]
) -> list[TriageFeedbackPublic]:
    f, u = feedback_t.c, user_t.c
    rows = await session.execute(
        sa.select(f.id, f.message_id, f.user_id, f.urgency, f.categories, f.created_at)
        .add_columns(u.display_name)
        .select_from(feedback_t.outerjoin(user_t, u.id == f.user_id))
        .where(condition)
        .order_by(f.id)
    )
    return [
        TriageFeedbackPublic(
            id=r.id,
            message_id=r.message_id,
            user_id=r.user_id,
            author_name=r.display_name,
            urgency=r.urgency,
            categories=r.categories,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def triage_corrections(session: AsyncSession) -> list[dict[str, Any]]:
    """The latest correction per message, in the shape ``leitstand triage train`` reads
    (``{"text", "urgency"?, "categories"?}``)."""
    f, m = feedback_t.c, message_t.c
    latest = sa.select(sa.func.max(f.id)).group_by(f.message_id).scalar_subquery()
    rows = await session.execute(
        sa.select(m.text, f.urgency, f.categories)
        .select_from(feedback_t.join(message_t, m.id == f.message_id))
        .where(f.id.in_(latest))
        .order_by(f.id)
    )
    out: list[dict[str, Any]] = []
    for text, urgency, categories in rows:
        item: dict[str, Any] = {"text": text}
        if urgency is not None:
            item["urgency"] = urgency
        if categories is not None:
            item["categories"] = categories
        out.append(item)
    return out
