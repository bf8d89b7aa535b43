"""The inbox API under ``/api/v1``: conversations, messages, channels."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from app.deps import SessionDep, SettingsDep
from inbox.channels import create_channel, webhook_url
from inbox.console import console_instructions
from inbox.models import Channel, ConversationStatus
from inbox.notes import add_note, add_triage_feedback, list_notes, list_triage_feedback
from inbox.queries import (
    InboxFilter,
    Sort,
    Visibility,
    get_conversation,
    get_message,
    list_conversations,
)
from inbox.schemas import (
    Category,
    ChannelCreate,
    ChannelCreated,
    ChannelPublic,
    ConversationDetail,
    ConversationUpdate,
    MessageWithRaw,
    NoteCreate,
    NotePublic,
    TriageFeedbackCreate,
    TriageFeedbackPublic,
)
from inbox.service import update_conversation
from people.deps import AdminPrincipal, CurrentPrincipal, Principal

router = APIRouter(prefix="/api/v1", tags=["inbox"])


def visibility_of(principal: Principal) -> Visibility:
    return Visibility(
        everything=principal.sees_everything, user_id=principal.id, team_ids=principal.team_ids
    )


@router.get("/conversations")
async def conversations(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[list[ConversationStatus] | None, Query()] = None,
    channel_id: Annotated[str | None, Query(max_length=32)] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    label: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
    min_urgency: Annotated[int | None, Query(ge=0, le=100)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    category: Category | None = None,
    sort: Sort = Sort.urgency,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    items, next_cursor = await list_conversations(
        session,
        visibility=visibility_of(principal),
        filters=InboxFilter(
            status=tuple(s.value for s in status or ()),
            channel_id=channel_id,
            platform=platform,
            assignee_id=assignee_id,
            unassigned=unassigned,
            team_id=team_id,
            label=label,
            language=language,
            min_urgency=min_urgency,
            q=q,
            category=category,
        ),
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation_detail(
    conversation_id: int, principal: CurrentPrincipal, session: SessionDep
) -> ConversationDetail:
    return await get_conversation(
        session, conversation_id=conversation_id, visibility=visibility_of(principal)
    )


@router.patch("/conversations/{conversation_id}", response_model=ConversationDetail)
async def change_conversation(
    conversation_id: int,
    body: ConversationUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> ConversationDetail:
    visibility = visibility_of(principal)
    await update_conversation(
        session, conversation_id=conversation_id, update=body, visibility=visibility
    )
    return await get_conversation(session, conversation_id=conversation_id, visibility=visibility)


@router.get("/messages/{message_id}", response_model=MessageWithRaw)
async def message_detail(
    message_id: int, principal: CurrentPrincipal, session: SessionDep
) -> MessageWithRaw:
    message, raw = await get_message(
        session, message_id=message_id, visibility=visibility_of(principal)
    )
    return MessageWithRaw(**message.model_dump(), raw=raw)


@router.get("/conversations/{conversation_id}/notes")
async def conversation_notes(
    conversation_id: int, principal: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    items = await list_notes(
        session, conversation_id=conversation_id, visibility=visibility_of(principal)
    )
    return {"items": items, "next_cursor": None}


@router.post("/conversations/{conversation_id}/notes", response_model=NotePublic, status_code=201)
async def add_conversation_note(
    conversation_id: int, body: NoteCreate, principal: CurrentPrincipal, session: SessionDep
) -> NotePublic:
    return await add_note(
        session,
        conversation_id=conversation_id,
        user_id=principal.id,
        text=body.text,
        visibility=visibility_of(principal),
    )


@router.get("/conversations/{conversation_id}/triage-feedback")
async def conversation_triage_feedback(
    conversation_id: int, principal: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    items = await list_triage_feedback(
        session, conversation_id=conversation_id, visibility=visibility_of(principal)
    )
    return {"items": items, "next_cursor": None}


@router.post(
    "/messages/{message_id}/triage-feedback",
    response_model=TriageFeedbackPublic,
    status_code=201,
)
async def correct_triage(
    message_id: int,
    body: TriageFeedbackCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> TriageFeedbackPublic:
    return await add_triage_feedback(
        session,
        message_id=message_id,
        user_id=principal.id,
        body=body,
        visibility=visibility_of(principal),
    )


def _channel_public(channel: Channel, base_url: str) -> dict[str, Any]:
    return {
        "id": channel.id,
        "platform": channel.platform,
        "name": channel.name,
        "team_id": channel.team_id,
        "is_active": channel.is_active,
        "webhook_url": webhook_url(base_url, channel.id),
        "has_secret": bool(channel.secret),
        "has_verify_token": bool(channel.verify_token),
        "created_at": channel.created_at,
    }


@router.get("/channels")
async def channels(
    _: CurrentPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    rows = (
        (await session.execute(select(Channel).order_by(col(Channel.created_at)))).scalars().all()
    )
    items = [ChannelPublic(**_channel_public(c, settings.base_url)) for c in rows]
    return {"items": items, "next_cursor": None}


@router.post("/channels", response_model=ChannelCreated, status_code=201)
async def add_channel(
    body: ChannelCreate, _: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> ChannelCreated:
    channel = await create_channel(
        session,
        platform=body.platform,
        name=body.name,
        secret=body.secret,
        verify_token=body.verify_token,
        team_id=body.team_id,
    )
    public = _channel_public(channel, settings.base_url)
    return ChannelCreated(
        **public,
        secret=channel.secret,
        verify_token=channel.verify_token,
        console=console_instructions(
            channel.platform,
            webhook_url=public["webhook_url"],
            secret=channel.secret,
            verify_token=channel.verify_token,
        ),
    )
