"""Changes agents make to conversations. Services flush; the request commits."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import InvalidInput, NotFound
from inbox.events import emit_conversation_updated
from inbox.models import Conversation, ConversationLabel, ConversationStatus
from inbox.queries import Visibility, visibility_condition
from inbox.schemas import ConversationUpdate
from people.models import Team, User

_LABEL = re.compile(r"^[\w][\w .:/-]{0,63}$", re.UNICODE)
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
label_t = ConversationLabel.__table__  # type: ignore[attr-defined]


async def update_conversation(
    session: AsyncSession,
    *,
    conversation_id: int,
    update: ConversationUpdate,
    visibility: Visibility,
) -> None:
    c = conversation_t.c
    conditions = [c.id == conversation_id]
    if (visible := visibility_condition(visibility)) is not None:
        conditions.append(visible)
    if (await session.execute(sa.select(c.id).where(*conditions))).first() is None:
        raise NotFound(f"no conversation {conversation_id}")

    fields = update.model_fields_set
    values: dict[str, object] = {}
    if "status" in fields:
        if update.status is None:
            raise InvalidInput("status cannot be empty")
        if update.status is ConversationStatus.snoozed and update.snoozed_until is None:
            raise InvalidInput("snoozing needs snoozed_until")
        values["status"] = update.status.value
        values["snoozed_until"] = (
            update.snoozed_until if update.status is ConversationStatus.snoozed else None
        )
    if "assignee_id" in fields:
        if update.assignee_id is not None and await session.get(User, update.assignee_id) is None:
            raise InvalidInput(f"no user {update.assignee_id}")
        values["assignee_id"] = update.assignee_id
    if "team_id" in fields:
        if update.team_id is not None and await session.get(Team, update.team_id) is None:
            raise InvalidInput(f"no team {update.team_id}")
        values["team_id"] = update.team_id
    if update.labels is not None:
        labels = sorted({label.strip() for label in update.labels})
        for label in labels:
            if not _LABEL.match(label):
                raise InvalidInput(f"not a usable label: {label!r}")
        await session.execute(
            sa.delete(label_t).where(label_t.c.conversation_id == conversation_id)
        )
        if labels:
            await session.execute(
                sa.insert(label_t),
                [{"conversation_id": conversation_id, "label": label} for label in labels],
            )
    if values or update.labels is not None:
        values["updated_at"] = utcnow()
        await session.execute(
            sa.update(conversation_t).where(c.id == conversation_id).values(values)
        )
        await emit_conversation_updated(
            session, conversation_id, update.model_dump(mode="json", exclude_unset=True)
        )
