"""Channels: one per platform account; they hold the secrets their webhooks are checked with."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.errors import InvalidInput, NotFound
from inbox.connectors import credential_keys
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


# Secrets we choose ourselves when the operator gives none (the platform is told ours):
# Meta's handshake token, the URL token of unsigned platforms, Telegram's secret_token,
# the WebSub hub.secret.
_GENERATED_VERIFY_TOKEN = frozenset(
    {"facebook", "instagram", "messenger", "whatsapp", "sendgrid", "google-business", "trustpilot"}
)
_GENERATED_SECRET = frozenset({"telegram", "youtube"})
MAX_CREDENTIAL_CHARS = 4000


async def create_channel(
    session: AsyncSession,
    *,
    platform: str,
    name: str,
    secret: str | None = None,
    verify_token: str | None = None,
    team_id: int | None = None,
    outbound_credentials: Mapping[str, str] | None = None,
) -> Channel:
    if platform not in ADAPTERS:
        raise InvalidInput(f"unknown platform {platform!r}; one of: {', '.join(sorted(ADAPTERS))}")
    if not name.strip():
        raise InvalidInput("a channel needs a name")
    if platform == "standard-webhooks" and secret is None:
        secret = "whsec_" + _b64(secrets.token_bytes(32))
    if platform in _GENERATED_SECRET and secret is None:
        secret = secrets.token_urlsafe(32)
    if platform in _GENERATED_VERIFY_TOKEN and verify_token is None:
        verify_token = secrets.token_urlsafe(24)
    channel = Channel(
        id=new_channel_id(),
        platform=platform,
        name=name.strip(),
        secret=secret,
        verify_token=verify_token,
        team_id=team_id,
        outbound_credentials=checked_outbound_credentials(platform, outbound_credentials),
    )
    session.add(channel)
    await session.flush()
    return channel


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checked_outbound_credentials(
    platform: str, credentials: Mapping[str, str] | None
) -> dict[str, str] | None:
    """The credentials replies on ``platform`` are sent with, refused if a key is unknown."""
    if not credentials:
        return None
    known = credential_keys(platform)
    for key, value in credentials.items():
        if key not in known:
            raise InvalidInput(
                f"{platform} channels take no credential {key!r}"
                + (f"; known: {', '.join(known)}" if known else "; they send no replies")
            )
        if not isinstance(value, str) or not value or len(value) > MAX_CREDENTIAL_CHARS:
            raise InvalidInput(f"credential {key!r} must be 1 to {MAX_CREDENTIAL_CHARS} characters")
        if "\x00" in value:
            raise InvalidInput(f"credential {key!r} cannot contain NUL characters")
    return dict(credentials)


def outbound_credentials(channel: Channel | Mapping[str, Any]) -> dict[str, str]:
    """A channel's outbound credentials as {key: value} (empty when none): a channel row or
    a mapping with its ``outbound_credentials`` column."""
    raw = (
        channel.get("outbound_credentials")
        if isinstance(channel, Mapping)
        else channel.outbound_credentials
    )
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str) and v}


async def set_outbound_credentials(
    session: AsyncSession, *, channel_id: str, credentials: Mapping[str, str]
) -> Channel:
    """Replace a channel's outbound credentials (an empty mapping removes them)."""
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise ChannelNotFound(f"no channel {channel_id}")
    channel.outbound_credentials = checked_outbound_credentials(channel.platform, credentials)
    session.add(channel)
    await session.flush()
    return channel


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
