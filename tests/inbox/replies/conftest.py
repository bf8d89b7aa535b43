"""Fixtures for replies: the local platform server and the app pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import unit_of_work
from app.settings import Settings
from inbox.channels import ChannelInfo
from inbox.ingest import store_delivery
from inbox.models import Conversation
from inbox.normalize import NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from people.models import Role
from tests.conftest import Running, make_settings, serve, wait_for
from tests.helpers import add_channel, add_user, bearer
from tests.inbox.replies.platform_server import PlatformServer


def reply_settings(database_url: str, platform_url: str, **overrides: Any) -> Settings:
    """Every platform base URL points at the local server; retries are quick."""
    values: dict[str, Any] = {
        "meta_graph_base_url": f"{platform_url}/v21.0",
        "x_api_base_url": platform_url,
        "telegram_api_base_url": platform_url,
        "youtube_api_base_url": platform_url,
        "reply_backoff_base_s": 0.05,
        "reply_backoff_max_s": 0.2,
        "reply_retry_poll_s": 0.05,
        "reply_retry_after_max_s": 5.0,
        "reply_http_timeout_s": 5.0,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    async with PlatformServer() as server:
        yield server


@pytest.fixture
async def app(database_url: str, platform: PlatformServer) -> AsyncIterator[Running]:
    async with serve(reply_settings(database_url, platform.url)) as running:
        yield running


@pytest.fixture
async def agent(app: Running) -> str:
    _, token = await add_user(app.services, "agent@example.com", Role.agent)
    return token


async def seed(
    running: Running,
    platform: str,
    messages: list[NormalizedMessage],
    *,
    secret: str | None = None,
    credentials: dict[str, str] | None = None,
    team_id: int | None = None,
) -> tuple[str, int, list[int]]:
    """A channel and a conversation holding ``messages``: (channel id, conversation id,
    message ids)."""
    services = running.services
    channel = await add_channel(
        services, platform, secret=secret, outbound_credentials=credentials, team_id=team_id
    )
    info = ChannelInfo(
        id=channel.id,
        platform=platform,
        team_id=team_id,
        credentials=ChannelCredentials(channel.secret, channel.verify_token),
    )
    async with unit_of_work(services.sessionmaker) as session:
        result = await store_delivery(session, channel=info, messages=messages)
        conversation_id = (
            await session.execute(
                sa.select(Conversation.id).where(
                    Conversation.channel_id == channel.id,
                    Conversation.thread_key == messages[0].thread_key,
                )
            )
        ).scalar_one()
    return channel.id, conversation_id, result.created


async def post_reply(
    running: Running,
    token: str,
    conversation_id: int,
    text: str,
    *,
    key: str | None = None,
    reply_to: int | None = None,
) -> Any:
    headers = bearer(token) | ({"idempotency-key": key} if key else {})
    body: dict[str, Any] = {"text": text}
    if reply_to is not None:
        body["reply_to_message_id"] = reply_to
    return await running.client.post(
        f"/api/v1/conversations/{conversation_id}/replies", json=body, headers=headers
    )


async def settled(running: Running, token: str, message_id: int, timeout_s: float = 10) -> Any:
    """The reply once it is sent or failed (as the API shows it)."""

    async def done() -> Any:
        response = await running.client.get(f"/api/v1/messages/{message_id}", headers=bearer(token))
        body = response.json()
        return body if body["delivery_status"] in ("sent", "failed") else None

    return await wait_for(done, timeout_s=timeout_s)
