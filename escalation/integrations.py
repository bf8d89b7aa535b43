"""Integrations: where notifications go besides the websocket. Admins manage them; a
webhook's signing secret is shown once, at creation."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from escalation.models import Integration, IntegrationKind
from escalation.queries import get_integration
from escalation.references import policies_referring, rules_referring
from escalation.schemas import IntegrationCreate, IntegrationUpdate

integration_t = Integration.__table__  # type: ignore[attr-defined]


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def create_integration(
    session: AsyncSession, *, body: IntegrationCreate, now: datetime
) -> Any:
    secret = body.secret
    if body.kind is IntegrationKind.webhook and secret is None:
        secret = new_webhook_secret()
    return (
        (
            await session.execute(
                sa.insert(integration_t)
                .values(
                    kind=body.kind.value,
                    name=body.name,
                    url=body.url,
                    secret=secret,
                    email_address=body.email_address,
                    is_active=True,
                    created_at=now,
                )
                .returning(*integration_t.c)
            )
        )
        .mappings()
        .one()
    )


async def update_integration(
    session: AsyncSession, *, integration_id: int, body: IntegrationUpdate
) -> None:
    current = await get_integration(session, integration_id)
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in values and current["kind"] == IntegrationKind.email:
        raise Conflict("an email integration has no url")
    if "email_address" in values and current["kind"] != IntegrationKind.email:
        raise Conflict(f"a {current['kind']} integration has no email_address")
    if values:
        await session.execute(
            sa.update(integration_t).where(integration_t.c.id == integration_id).values(values)
        )


async def delete_integration(session: AsyncSession, *, integration_id: int) -> None:
    """Refused while a rule or policy names it (deactivate it instead, or change them)."""
    await get_integration(session, integration_id)
    rules = await rules_referring(session, "notify", "integration_ids", integration_id)
    policies = await policies_referring(session, "integration_ids", integration_id)
    if rules or policies:
        raise Conflict(
            f"integration {integration_id} is used by rules {rules} and policies {policies}",
            rule_ids=rules,
            policy_ids=policies,
        )
    await session.execute(sa.delete(integration_t).where(integration_t.c.id == integration_id))
