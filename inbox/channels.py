"""Channels: one per platform account; they hold the secrets their webhooks are checked with."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.errors import InvalidInput, NotFound
from inbox.models import Channel
from inbox.platforms.base import ChannelCredentials
from inbox.platforms.registry import ADAPTERS


class ChannelNotFound(NotFound):
    code = "channel_not_found"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the webhook path needs of a channel, cached between deliveries."""

    id: str
    platform: str
    team_id: int | None
    credentials: ChannelCredentials


def new_channel_id() -> str:
    return "ch_" + secrets.token_hex(12)


def webhook_url(base_url: str, channel_id: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{channel_id}"


async def create_channel(
    session: AsyncSession,
    *,
    platform: str,
    name: str,
    secret: str | None = None,
    verify_token: str | None = None,
    team_id: int | None = None,
) -> Channel:
    if platform not in ADAPTERS:
        raise InvalidInput(f"unknown platform {platform!r}; one of: {', '.join(sorted(ADAPTERS))}")
    if not name.strip():
        raise InvalidInput("a channel needs a name")
    if platform == "standard-webhooks" and secret is None:
        secret = "whsec_" + _b64(secrets.token_bytes(32))
    channel = Channel(
        id=new_channel_id(),
        platform=platform,
        name=name.strip(),
        secret=secret,
        verify_token=verify_token,
        team_id=team_id,
    )
    session.add(channel)
    await session.flush()
    return channel


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ChannelCache:
    """Channels by id with a short time to live: a delivery should not cost a lookup."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, ttl_s: float = 5.0):
        self._sessionmaker = sessionmaker
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, ChannelInfo | None]] = {}

    async def get(self, channel_id: str) -> ChannelInfo:
        now = time.monotonic()
        hit = self._entries.get(channel_id)
        if hit is not None and hit[0] > now:
            info = hit[1]
        else:
            info = await self._load(channel_id)
            if len(self._entries) > 10_000:  # unknown ids must not grow this without bound
                self._entries.clear()
            self._entries[channel_id] = (now + self._ttl_s, info)
        if info is None:
            raise ChannelNotFound(f"no channel {channel_id}")
        return info

    def invalidate(self, channel_id: str) -> None:
        self._entries.pop(channel_id, None)

    async def _load(self, channel_id: str) -> ChannelInfo | None:
        if len(channel_id) > 32:
            return None
        async with self._sessionmaker() as session:
            channel = (
                await session.execute(
                    select(Channel).where(col(Channel.id) == channel_id, col(Channel.is_active))
                )
            ).scalar_one_or_none()
        if channel is None:
            return None
        return ChannelInfo(
            id=channel.id,
            platform=channel.platform,
            team_id=channel.team_id,
            credentials=ChannelCredentials(
                secret=channel.secret, verify_token=channel.verify_token
            ),
        )
