"""Replies under ``/api/v1``: send one, retry a failed one; a channel's outbound credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from app.deps import ServicesDep, SessionDep
from app.logging import correlation_id
from inbox.channels import ChannelNotFound, outbound_credentials, set_outbound_credentials
from inbox.connectors import CONNECTORS
from inbox.models import Channel
from inbox.queries import Visibility, get_message
from inbox.replies import create_reply, retry_reply
from inbox.schemas import (
    MessagePublic,
    OutboundCredentialsPublic,
    OutboundCredentialsUpdate,
    ReplyCreate,
)
from people.deps import AdminPrincipal, CurrentPrincipal, Principal

router = APIRouter(prefix="/api/v1", tags=["replies"])

RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="The same key again returns the same reply and sends nothing more.",
    ),
]


def _visibility(principal: Principal) -> Visibility:
    return Visibility(
        everything=principal.sees_everything, user_id=principal.id, team_ids=principal.team_ids
    )


@router.post(
    "/conversations/{conversation_id}/replies",
    response_model=MessagePublic,
    status_code=202,
    responses={
        200: {"description": "An earlier request with this Idempotency-Key made the reply"},
        404: {"description": "No such conversation, or not one you can see"},
        409: {"description": "The Idempotency-Key was used for a different reply"},
        422: {"description": "The platform takes no replies, or the channel lacks credentials"},
    },
)
async def send_reply(
    conversation_id: RowId,
    body: ReplyCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MessagePublic:
    """Store the reply (queued, visible in the thread at once) and send it through the
    platform's connector after the commit; its ``delivery_status`` becomes sent or failed."""
    visibility = _visibility(principal)
    created = await create_reply(
        session,
        conversation_id=conversation_id,
        text=body.text,
        reply_to_message_id=body.reply_to_message_id,
        user_id=principal.id,
        visibility=visibility,
        queue=services.queue,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id.get(),
    )
    if created.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    message, _ = await get_message(session, message_id=created.message_id, visibility=visibility)
    return message


@router.post("/messages/{message_id}/retry", response_model=MessagePublic, status_code=202)
async def retry_failed_reply(
    message_id: RowId, principal: CurrentPrincipal, session: SessionDep, services: ServicesDep
) -> MessagePublic:
    """Queue a failed reply again."""
    visibility = _visibility(principal)
    await retry_reply(session, message_id=message_id, visibility=visibility, queue=services.queue)
    message, _ = await get_message(session, message_id=message_id, visibility=visibility)
    return message


def _credentials_public(channel: Channel) -> OutboundCredentialsPublic:
    credentials = outbound_credentials(channel)
    connector = CONNECTORS.get(channel.platform)
    return OutboundCredentialsPublic(
        channel_id=channel.id,
        keys=sorted(credentials),
        missing_for_replies=connector.missing_credentials(channel.platform, credentials)
        if connector
        else [],
    )


@router.get("/channels/{channel_id}/credentials", response_model=OutboundCredentialsPublic)
async def channel_credentials(
    channel_id: Annotated[str, Path(max_length=32)], _: AdminPrincipal, session: SessionDep
) -> OutboundCredentialsPublic:
    """Which outbound credentials the channel holds (names only, never values)."""
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise ChannelNotFound(f"no channel {channel_id}")
    return _credentials_public(channel)


@router.put("/channels/{channel_id}/credentials", response_model=OutboundCredentialsPublic)
async def replace_channel_credentials(
    channel_id: Annotated[str, Path(max_length=32)],
    body: OutboundCredentialsUpdate,
    _: AdminPrincipal,
    session: SessionDep,
) -> OutboundCredentialsPublic:
    """Replace the channel's outbound credentials (``{}`` removes them)."""
    channel = await set_outbound_credentials(
        session, channel_id=channel_id, credentials=body.credentials
    )
    return _credentials_public(channel)
