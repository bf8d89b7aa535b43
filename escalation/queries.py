"""Escalation reads: the incident list and detail, the delivery log, integrations."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from escalation.models import (
    Incident,
    IncidentConversation,
    IncidentEvent,
    IncidentMessage,
    Integration,
    IntegrationKind,
    Notification,
    Timer,
)
from escalation.schemas import (
    IncidentDetail,
    IncidentPublic,
    IntegrationPublic,
    NotificationPublic,
    TimelineEntry,
    TimerPublic,
)
from inbox.models import Conversation, Message

# The inbox's own renderers, so that an incident shows conversations and messages exactly
# as the inbox API does (with each message's escalation trace).
from inbox.queries import authors_by_id, conversations_public, message_public

incident_t = Incident.__table__  # type: ignore[attr-defined]
event_t = IncidentEvent.__table__  # type: ignore[attr-defined]
link_message_t = IncidentMessage.__table__  # type: ignore[attr-defined]
link_conversation_t = IncidentConversation.__table__  # type: ignore[attr-defined]
timer_t = Timer.__table__  # type: ignore[attr-defined]
notification_t = Notification.__table__  # type: ignore[attr-defined]
integration_t = Integration.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]

MAX_LIMIT = 200
DETAIL_MESSAGES = 500  # the most recent attached messages shown with an incident


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[int]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != size:
            raise ValueError("wrong shape")
        return [int(v) for v in values]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("the cursor is not one this API issued") from exc


def incident_public(row: Any) -> IncidentPublic:
    return IncidentPublic.model_validate({k: row[k] for k in IncidentPublic.model_fields})


async def list_incidents(
    session: AsyncSession,
    *,
    statuses: Sequence[str] = (),
    severities: Sequence[str] = (),
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[IncidentPublic], str | None]:
    """Open first, then acknowledged, then resolved; within each, by severity, newest
    first."""
    limit = max(1, min(limit, MAX_LIMIT))
    i = incident_t.c
    conditions: list[sa.ColumnElement[bool]] = []
    if statuses:
        conditions.append(i.status.in_(list(statuses)))
    if severities:
        conditions.append(i.severity.in_(list(severities)))
    if cursor:
        status_rank, severity_rank, last_id = decode_cursor(cursor, 3)
        conditions.append(
            sa.or_(
                i.status_rank > status_rank,
                sa.and_(i.status_rank == status_rank, i.severity_rank > severity_rank),
                sa.and_(
                    i.status_rank == status_rank,
                    i.severity_rank == severity_rank,
                    i.id < last_id,
                ),
            )
        )
    rows = (
        (
            await session.execute(
                sa.select(incident_t)
                .where(*conditions)
                .order_by(i.status_rank, i.severity_rank, i.id.desc())
                .limit(limit + 1)
            )
        )
        .mappings()
        .all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor([rows[-1]["status_rank"], rows[-1]["severity_rank"], rows[-1]["id"]])
        if more and rows
        else None
    )
    return [incident_public(r) for r in rows], next_cursor


async def incident_detail(session: AsyncSession, incident_id: int) -> IncidentDetail:
    row = (
        (await session.execute(sa.select(incident_t).where(incident_t.c.id == incident_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    conversation_rows = [
        dict(r)
        for r in (
            await session.execute(
                sa.select(conversation_t)
                .join(
                    link_conversation_t,
                    link_conversation_t.c.conversation_id == conversation_t.c.id,
                )
                .where(link_conversation_t.c.incident_id == incident_id)
                .order_by(conversation_t.c.urgency.desc(), conversation_t.c.id)
            )
        ).mappings()
    ]
    message_rows = [
        dict(r)
        for r in (
            await session.execute(
                sa.select(message_t)
                .join(link_message_t, link_message_t.c.message_id == message_t.c.id)
                .where(link_message_t.c.incident_id == incident_id)
                .order_by(message_t.c.received_at.desc(), message_t.c.id.desc())
                .limit(DETAIL_MESSAGES)
            )
        ).mappings()
    ]
    message_rows.reverse()
    authors = await authors_by_id(session, {r["author_id"] for r in message_rows if r["author_id"]})
    timeline = [
        TimelineEntry.model_validate(dict(r))
        for r in (
            await session.execute(
                sa.select(event_t)
                .where(event_t.c.incident_id == incident_id)
                .order_by(event_t.c.id)
            )
        ).mappings()
    ]
    timers = [
        TimerPublic.model_validate(dict(r))
        for r in (
            await session.execute(
                sa.select(timer_t.c.id, timer_t.c.kind, timer_t.c.due_at, timer_t.c.data)
                .where(
                    timer_t.c.incident_id == incident_id,
                    timer_t.c.fired_at.is_(None),
                    timer_t.c.cancelled_at.is_(None),
                )
                .order_by(timer_t.c.due_at)
            )
        ).mappings()
    ]
    return IncidentDetail(
        **incident_public(row).model_dump(),
        conversations=await conversations_public(session, conversation_rows),
        messages=[
            message_public(r, authors.get(r["author_id"]) if r["author_id"] else None)
            for r in message_rows
        ],
        timeline=timeline,
        pending_timers=timers,
    )


async def list_notifications(
    session: AsyncSession,
    *,
    incident_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[NotificationPublic], str | None]:
    """The delivery log, newest first."""
    limit = max(1, min(limit, MAX_LIMIT))
    n = notification_t.c
    conditions: list[sa.ColumnElement[bool]] = []
    if incident_id is not None:
        conditions.append(n.incident_id == incident_id)
    if status is not None:
        conditions.append(n.status == status)
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        conditions.append(n.id < last_id)
    rows = (
        (
            await session.execute(
                sa.select(notification_t).where(*conditions).order_by(n.id.desc()).limit(limit + 1)
            )
        )
        .mappings()
        .all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        NotificationPublic.model_validate({k: r[k] for k in NotificationPublic.model_fields})
        for r in rows
    ]
    return items, (encode_cursor([rows[-1]["id"]]) if more and rows else None)


def integration_public(row: Any) -> IntegrationPublic:
    url = row["url"]
    if url and row["kind"] == IntegrationKind.slack:
        # An incoming-webhook URL is itself a credential: only its origin is shown.
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://{rest.split('/', 1)[0]}/…"
    return IntegrationPublic(
        id=row["id"],
        kind=row["kind"],
        name=row["name"],
        url=url,
        email_address=row["email_address"],
        is_active=row["is_active"],
        has_secret=bool(row["secret"]),
        created_at=row["created_at"],
    )


async def list_integrations(session: AsyncSession) -> list[IntegrationPublic]:
    rows = await session.execute(sa.select(integration_t).order_by(integration_t.c.id))
    return [integration_public(r) for r in rows.mappings()]


async def get_integration(session: AsyncSession, integration_id: int) -> Any:
    row = (
        (
            await session.execute(
                sa.select(integration_t).where(integration_t.c.id == integration_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no integration {integration_id}")
    return row
