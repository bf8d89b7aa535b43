"""Incidents: opening (deduplicated), attaching and detaching messages and conversations,
notes, owner and severity, and the timeline every step lands on.

Services flush, never commit. Every change writes a timeline row and emits a realtime
event to PR and admins (published after commit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.sql import dialect_name, insert_for
from escalation.env import Env
from escalation.models import (
    SEVERITY_RANK,
    Incident,
    IncidentConversation,
    IncidentEvent,
    IncidentMessage,
    IncidentStatus,
    Severity,
)
from inbox.models import Conversation, Message
from people.models import User
from realtime.events import emit
from realtime.models import Audience

incident_t = Incident.__table__  # type: ignore[attr-defined]
event_t = IncidentEvent.__table__  # type: ignore[attr-defined]
link_message_t = IncidentMessage.__table__  # type: ignore[attr-defined]
link_conversation_t = IncidentConversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
user_t = User.__table__  # type: ignore[attr-defined]

INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
INCIDENT_RESOLVED = "incident.resolved"
EXCERPT_CHARS = 280
_OPEN_ATTEMPTS = 5

Row = Mapping[Any, Any]  # a result row mapping


def summary(incident: Row) -> dict[str, Any]:
    return {
        "id": incident["id"],
        "title": incident["title"],
        "severity": incident["severity"],
        "status": incident["status"],
        "owner_id": incident["owner_id"],
        "escalation_level": incident["escalation_level"],
        "escalation_round": incident["escalation_round"],
        "message_count": incident["message_count"],
    }


def user_actor(user_id: int | None) -> str:
    return "system" if user_id is None else f"user:{user_id}"


async def add_event(
    session: AsyncSession,
    *,
    incident_id: int,
    kind: str,
    at: datetime,
    data: dict[str, Any] | None = None,
    actor_id: int | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """One step on the timeline; returns it as the API shows it."""
    entry = {
        "incident_id": incident_id,
        "kind": kind,
        "actor_id": actor_id,
        "actor": actor or user_actor(actor_id),
        "data": data or {},
        "at": at,
    }
    entry_id = (
        await session.execute(sa.insert(event_t).values(entry).returning(event_t.c.id))
    ).scalar_one()
    return {"id": entry_id, **entry, "at": at.isoformat()}


async def emit_incident(
    session: AsyncSession, event_type: str, incident: Row, entries: Sequence[dict[str, Any]]
) -> None:
    await emit(
        session,
        event_type,
        {
            "incident": summary(incident),
            "timeline": [{k: v for k, v in e.items() if k != "incident_id"} for e in entries],
        },
        audience=Audience.staff,
    )


async def load(session: AsyncSession, incident_id: int, *, lock: bool = False) -> Row:
    """The incident row; with ``lock`` it is held until commit (PostgreSQL row lock;
    SQLite serialises writers anyway)."""
    query = sa.select(incident_t).where(incident_t.c.id == incident_id)
    if lock and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row


async def update(session: AsyncSession, incident_id: int, values: dict[str, Any]) -> Row:
    row = (
        (
            await session.execute(
                sa.update(incident_t)
                .where(incident_t.c.id == incident_id)
                .values(values)
                .returning(*incident_t.c)
            )
        )
        .mappings()
        .one()
    )
    return row


async def open_incident(
    session: AsyncSession,
    *,
    env: Env,
    title: str,
    severity: Severity,
    dedup_key: str | None = None,
    window_minutes: int = 60,
    rule_id: int | None = None,
    owner_id: int | None = None,
    actor_id: int | None = None,
    actor: str | None = None,
) -> Row | None:
    """A new incident; None when ``dedup_key`` is already held by another open incident."""
    now = env.now()
    values = {
        "title": title[:300] or "Incident",
        "severity": severity.value,
        "severity_rank": SEVERITY_RANK[severity],
        "status": IncidentStatus.open.value,
        "status_rank": 1,
        "owner_id": owner_id,
        "dedup_key": dedup_key,
        "dedup_slot": dedup_key,
        "dedup_window_minutes": window_minutes,
        "rule_id": rule_id,
        "policy_id": None,
        "escalation_level": 0,
        "escalation_round": 0,
        "escalation_epoch": 0,
        "message_count": 0,
        "opened_at": now,
        "last_attached_at": now,
        "updated_at": now,
    }
    statement = insert_for(session, incident_t).values(values)
    if dedup_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedup_slot"])
    row = (await session.execute(statement.returning(*incident_t.c))).mappings().first()
    if row is None:
        return None
    entry = await add_event(
        session,
        incident_id=row["id"],
        kind="incident.opened",
        at=now,
        data={"title": row["title"], "severity": row["severity"], "dedup_key": dedup_key},
        actor_id=actor_id,
        actor=actor,
    )
    await emit_incident(session, INCIDENT_OPENED, row, [entry])
    return row


async def open_or_join(
    session: AsyncSession,
    *,
    env: Env,
    dedup_key: str,
    window_minutes: int,
    title: str,
    severity: Severity,
    rule_id: int | None,
) -> tuple[Row, bool]:
    """The open incident holding ``dedup_key`` whose last message is at most
    ``window_minutes`` old, else a new one; and whether it was opened now.

    Race-safe through the unique ``dedup_slot``: of two transactions opening the same key
    at once, the second's insert does nothing (on PostgreSQL it waits for the first to
    commit), and it joins the first one's incident.
    """
    now = env.now()
    for _ in range(_OPEN_ATTEMPTS):
        held = (
            (
                await session.execute(
                    sa.select(incident_t).where(incident_t.c.dedup_slot == dedup_key)
                )
            )
            .mappings()
            .first()
        )
        if held is not None:
            fresh = held["last_attached_at"] >= now - timedelta(minutes=window_minutes)
            if held["status"] != IncidentStatus.resolved and fresh:
                return held, False
            # The window lapsed: the old incident stays as it is but takes no more messages.
            await session.execute(
                sa.update(incident_t)
                .where(incident_t.c.id == held["id"], incident_t.c.dedup_slot == dedup_key)
                .values(dedup_slot=None)
            )
        opened = await open_incident(
            session,
            env=env,
            title=title,
            severity=severity,
            dedup_key=dedup_key,
            window_minutes=window_minutes,
            rule_id=rule_id,
            actor=f"rule:{rule_id}" if rule_id is not None else None,
        )
        if opened is not None:
            return opened, True
    raise Conflict(f"could not open or join the incident for {dedup_key!r}")


async def attach_message(
    session: AsyncSession,
    *,
    incident_id: int,
    message_id: int,
    conversation_id: int,
    at: datetime,
    rule_id: int | None = None,
    actor_id: int | None = None,
) -> bool:
    """Link a message (and its conversation); False when it was attached already."""
    inserted = (
        await session.execute(
            insert_for(session, link_message_t)
            .values(
                incident_id=incident_id,
                message_id=message_id,
                rule_id=rule_id,
                attached_at=at,
                attached_by=actor_id,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "message_id"])
            .returning(link_message_t.c.message_id)
        )
    ).first()
    if inserted is None:
        return False
    await session.execute(
        insert_for(session, link_conversation_t)
        .values(
            incident_id=incident_id,
            conversation_id=conversation_id,
            attached_at=at,
            attached_by=actor_id,
        )
        .on_conflict_do_nothing(index_elements=["incident_id", "conversation_id"])
    )
    await session.execute(
        sa.update(incident_t)
        .where(incident_t.c.id == incident_id)
        .values(message_count=incident_t.c.message_count + 1, last_attached_at=at, updated_at=at)
    )
    return True


async def attach_messages(
    session: AsyncSession, *, env: Env, incident_id: int, message_ids: Sequence[int], user_id: int
) -> Row:
    """Attach messages by hand (a PR person adds a related comment)."""
    await load(session, incident_id, lock=True)
    now = env.now()
    rows = (
        await session.execute(
            sa.select(message_t.c.id, message_t.c.conversation_id, message_t.c.text).where(
                message_t.c.id.in_(sorted(set(message_ids)))
            )
        )
    ).all()
    missing = sorted(set(message_ids) - {r.id for r in rows})
    if missing:
        raise InvalidInput(f"no message {missing[0]}", message_ids=missing)
    entries = []
    for row in rows:
        if await attach_message(
            session,
            incident_id=incident_id,
            message_id=row.id,
            conversation_id=row.conversation_id,
            at=now,
            actor_id=user_id,
        ):
            entries.append(
                await add_event(
                    session,
                    incident_id=incident_id,
                    kind="message.attached",
                    at=now,
                    data={
                        "message_id": row.id,
                        "conversation_id": row.conversation_id,
                        "excerpt": row.text[:EXCERPT_CHARS],
                    },
                    actor_id=user_id,
                )
            )
    incident = await load(session, incident_id)
    if entries:
        await emit_incident(session, INCIDENT_UPDATED, incident, entries)
    return incident


async def detach_message(
    session: AsyncSession, *, env: Env, incident_id: int, message_id: int, user_id: int
) -> Row:
    await load(session, incident_id, lock=True)
    now = env.now()
    removed = (
        await session.execute(
            sa.delete(link_message_t)
            .where(
                link_message_t.c.incident_id == incident_id,
                link_message_t.c.message_id == message_id,
            )
            .returning(link_message_t.c.message_id)
        )
    ).first()
    if removed is None:
        raise NotFound(f"message {message_id} is not attached to incident {incident_id}")
    incident = await update(
        session,
        incident_id,
        {"message_count": incident_t.c.message_count - 1, "updated_at": now},
    )
    entry = await add_event(
        session,
        incident_id=incident_id,
        kind="message.detached",
        at=now,
        data={"message_id": message_id},
        actor_id=user_id,
    )
    await emit_incident(session, INCIDENT_UPDATED, incident, [entry])
    return incident


async def attach_conversations(
    session: AsyncSession,
    *,
    env: Env,
    incident_id: int,
    conversation_ids: Sequence[int],
    user_id: int,
) -> Row:
    incident = await load(session, incident_id, lock=True)
    now = env.now()
    wanted = sorted(set(conversation_ids))
    found = {
        cid
        for (cid,) in await session.execute(
            sa.select(conversation_t.c.id).where(conversation_t.c.id.in_(wanted))
        )
    }
    missing = [cid for cid in wanted if cid not in found]
    if missing:
        raise InvalidInput(f"no conversation {missing[0]}", conversation_ids=missing)
    entries = []
    for cid in wanted:
        inserted = (
            await session.execute(
                insert_for(session, link_conversation_t)
                .values(
                    incident_id=incident_id,
                    conversation_id=cid,
                    attached_at=now,
                    attached_by=user_id,
                )
                .on_conflict_do_nothing(index_elements=["incident_id", "conversation_id"])
                .returning(link_conversation_t.c.conversation_id)
            )
        ).first()
        if inserted is not None:
            entries.append(
                await add_event(
                    session,
                    incident_id=incident_id,
                    kind="conversation.attached",
                    at=now,
                    data={"conversation_id": cid},
                    actor_id=user_id,
                )
            )
    if entries:
        incident = await update(session, incident_id, {"updated_at": now})
        await emit_incident(session, INCIDENT_UPDATED, incident, entries)
    return incident


async def detach_conversation(
    session: AsyncSession, *, env: Env, incident_id: int, conversation_id: int, user_id: int
) -> Row:
    """Detach a conversation and the messages of it that were attached."""
    await load(session, incident_id, lock=True)
    now = env.now()
    removed = (
        await session.execute(
            sa.delete(link_conversation_t)
            .where(
                link_conversation_t.c.incident_id == incident_id,
                link_conversation_t.c.conversation_id == conversation_id,
            )
            .returning(link_conversation_t.c.conversation_id)
        )
    ).first()
    if removed is None:
        raise NotFound(f"conversation {conversation_id} is not attached to incident {incident_id}")
    in_conversation = sa.select(message_t.c.id).where(
        message_t.c.conversation_id == conversation_id
    )
    detached = len(
        (
            await session.execute(
                sa.delete(link_message_t)
                .where(
                    link_message_t.c.incident_id == incident_id,
                    link_message_t.c.message_id.in_(in_conversation),
                )
                .returning(link_message_t.c.message_id)
            )
        ).all()
    )
    incident = await update(
        session,
        incident_id,
        {"message_count": incident_t.c.message_count - detached, "updated_at": now},
    )
    entry = await add_event(
        session,
        incident_id=incident_id,
        kind="conversation.detached",
        at=now,
        data={"conversation_id": conversation_id, "messages_detached": detached},
        actor_id=user_id,
    )
    await emit_incident(session, INCIDENT_UPDATED, incident, [entry])
    return incident


async def add_note(
    session: AsyncSession, *, env: Env, incident_id: int, text: str, user_id: int
) -> Row:
    await load(session, incident_id, lock=True)
    now = env.now()
    incident = await update(session, incident_id, {"updated_at": now})
    entry = await add_event(
        session,
        incident_id=incident_id,
        kind="note",
        at=now,
        data={"text": text},
        actor_id=user_id,
    )
    await emit_incident(session, INCIDENT_UPDATED, incident, [entry])
    return incident


async def change(
    session: AsyncSession,
    *,
    env: Env,
    incident_id: int,
    changes: dict[str, Any],
    user_id: int,
) -> Row:
    """Title, severity and owner; ``changes`` holds only the fields the request set."""
    current = await load(session, incident_id, lock=True)
    now = env.now()
    values: dict[str, Any] = {}
    entries = []
    if "owner_id" in changes and changes["owner_id"] != current["owner_id"]:
        owner_id = changes["owner_id"]
        if (
            owner_id is not None
            and (
                await session.execute(sa.select(user_t.c.id).where(user_t.c.id == owner_id))
            ).first()
            is None
        ):
            raise InvalidInput(f"no user {owner_id}", owner_id=owner_id)
        values["owner_id"] = owner_id
        entries.append(("owner.changed", {"from": current["owner_id"], "to": owner_id}))
    if changes.get("severity") is not None and changes["severity"] != current["severity"]:
        severity = Severity(changes["severity"])
        values |= {"severity": severity.value, "severity_rank": SEVERITY_RANK[severity]}
        entries.append(("severity.changed", {"from": current["severity"], "to": severity.value}))
    if changes.get("title") is not None and changes["title"] != current["title"]:
        values["title"] = changes["title"]
        entries.append(("title.changed", {"from": current["title"], "to": changes["title"]}))
    if not values:
        return current
    incident = await update(session, incident_id, values | {"updated_at": now})
    written = [
        await add_event(
            session, incident_id=incident_id, kind=kind, at=now, data=data, actor_id=user_id
        )
        for kind, data in entries
    ]
    await emit_incident(session, INCIDENT_UPDATED, incident, written)
    return incident
