"""``/ws``: one websocket per signed-in user.

The client authenticates with its token (``?token=``, the session cookie, or an
``Authorization`` header), may pass ``?cursor=<last event id>`` to receive what it missed,
then receives every event it may see as ``{"id", "type", "data", "created_at"}``.
``{"type": "heartbeat"}`` arrives every ``heartbeat_s``; ``{"type": "resync"}`` asks the
client to reload its state because events were lost to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from app.db import utcnow
from app.errors import DomainError
from app.services import Services
from people.models import Role
from people.service import team_ids_of, user_for_token
from realtime.events import Reader, may_see, public_view, wire_text
from realtime.queries import events_after, latest_event_id

router = APIRouter()

CATCH_UP_LIMIT = 1000
CLOSE_UNAUTHORIZED = 4401
HEARTBEAT = '{"type": "heartbeat"}'
RESYNC = '{"type": "resync"}'


def _token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token") or websocket.cookies.get("leitstand_token")
    if token:
        return token
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value else None


async def _reader(services: Services, token: str | None) -> tuple[Reader, dict[str, Any]] | None:
    if not token:
        return None
    async with services.sessionmaker() as session:
        try:
            user = await user_for_token(session, token=token, now=utcnow())
        except DomainError:
            return None
        assert user.id is not None
        teams = frozenset(await team_ids_of(session, user_id=user.id))
    reader = Reader(
        user_id=user.id, sees_everything=Role(user.role) in (Role.pr, Role.admin), team_ids=teams
    )
    return reader, {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "team_ids": sorted(teams),
    }


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    authenticated = await _reader(services, _token(websocket))
    if authenticated is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="sign in first")
        return
    reader, user = authenticated
    cursor_text = websocket.query_params.get("cursor")
    await websocket.accept()
    # Subscribe before reading the log, so nothing falls between catch-up and live.
    subscription = services.hub.subscribe()
    try:
        async with services.sessionmaker() as session:
            latest = await latest_event_id(session)
            if cursor_text is not None:
                missed, complete = await events_after(
                    session,
                    reader=reader,
                    cursor=int(cursor_text) if cursor_text.isdigit() else -1,
                    limit=CATCH_UP_LIMIT,
                )
            else:
                missed, complete = [], True
        await websocket.send_json({"type": "hello", "user": user, "cursor": latest})
        if not complete:
            await websocket.send_json({"type": "resync", "cursor": latest})
        # Live events that the catch-up already delivered are skipped by id. Ids are given
        # out at flush and published at commit, so live events may arrive out of id order:
        # nothing else is filtered by id.
        sent_in_catch_up: set[int] = set()
        for event in missed:
            await websocket.send_json(public_view(event))
            sent_in_catch_up.add(event["id"])
        await _stream(websocket, services, subscription, reader, sent_in_catch_up)
    except WebSocketDisconnect:
        pass
    finally:
        services.hub.unsubscribe(subscription)
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


async def _stream(
    websocket: WebSocket,
    services: Services,
    subscription: Any,
    reader: Reader,
    sent_in_catch_up: set[int],
) -> None:
    """Send live events until the client leaves; the client's departure cancels the wait."""
    heartbeat_s = services.settings.ws_heartbeat_s
    stream_task = asyncio.current_task()
    assert stream_task is not None
    receiver = asyncio.create_task(_drain_client(websocket))
    receiver.add_done_callback(lambda _: stream_task.cancel())
    try:
        while True:
            try:
                async with asyncio.timeout(heartbeat_s):
                    event = await subscription.get()
            except TimeoutError:
                await websocket.send_text(HEARTBEAT)
                continue
            if subscription.overflowed or event["type"] == "resync":
                await websocket.send_text(RESYNC)
                if subscription.overflowed:
                    return
                continue
            if event["id"] in sent_in_catch_up or not may_see(reader, event):
                continue  # already sent during catch-up, or not for this reader
            await websocket.send_text(wire_text(event))
    except asyncio.CancelledError:
        if not receiver.done():
            raise
    finally:
        receiver.cancel()


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends; returns when it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
