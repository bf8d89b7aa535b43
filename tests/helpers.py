"""Test helpers: signing deliveries the way each platform does, and seeding users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import sqlalchemy as sa

from app.db import unit_of_work
from inbox.channels import create_channel
from people.models import Role, TokenKind
from people.service import create_user, issue_token


def meta_headers(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


def standard_headers(
    secret: str, body: bytes, *, msg_id: str = "msg_1", timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{ts}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": f"v1,{signature}",
    }


async def add_channel(services: Any, platform: str, **kwargs: Any) -> Any:
    async with unit_of_work(services.sessionmaker) as session:
        return await create_channel(session, platform=platform, name=f"{platform} test", **kwargs)


async def add_user(
    services: Any, email: str, role: Role = Role.agent, teams: list[str] | None = None
) -> tuple[int, str]:
    """Create a user and an API token; returns (user id, token)."""
    async with unit_of_work(services.sessionmaker) as session:
        user = await create_user(
            session, email=email, password="correct horse battery", role=role, team_names=teams
        )
        token, _ = await issue_token(session, user=user, kind=TokenKind.api)
        assert user.id is not None
        return user.id, token


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def count_rows(services: Any, *tables: str) -> dict[str, int]:
    async with services.sessionmaker() as session:
        return {
            t: (await session.execute(sa.text(f'SELECT count(*) FROM "{t}"'))).scalar_one()
            for t in tables
        }
