"""Queueing notifications in the caller's transaction.

A websocket alert is an ``escalation.alert`` event addressed to the users themselves; it is
stored in the event log with the notification (marked delivered: the log is what the
websocket serves, live after commit or on reconnect). E-mail, Slack and signed webhooks
are queued rows that the dispatcher sends after commit, with retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from escalation.env import Env
from escalation.incidents import EXCERPT_CHARS, add_event, summary
from escalation.models import (
    Integration,
    IntegrationKind,
    Notification,
    NotificationChannel,
    NotificationStatus,
)
from people.models import User
from realtime.events import emit
from realtime.models import Audience

ESCALATION_ALERT = "escalation.alert"
notification_t = Notification.__table__  # type: ignore[attr-defined]
integration_t = Integration.__table__  # type: ignore[attr-defined]
user_t = User.__table__  # type: ignore[attr-defined]

Row = Mapping[Any, Any]  # a result row mapping
_CHANNEL_OF_KIND = {
    IntegrationKind.email.value: NotificationChannel.email,
    IntegrationKind.slack.value: NotificationChannel.slack,
    IntegrationKind.webhook.value: NotificationChannel.webhook,
}


def new_delivery_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def compose(
    *,
    env: Env,
    incident: Row | None,
    reason: str,
    message: Row | None = None,
) -> dict[str, Any]:
    """What every channel renders: a subject, a text, and the facts as data."""
    base_url = env.settings.base_url
    excerpt = (message or {}).get("text", "")[:EXCERPT_CHARS] if message else None
    if incident is not None:
        subject = (
            f"[Leitstand] {incident['severity'].upper()} incident #{incident['id']}: "
            f"{incident['title']}"
        )
        url = f"{base_url}/incidents/{incident['id']}"
    else:
        subject = f"[Leitstand] {reason}"
        url = f"{base_url}/messages/{message['id']}" if message else base_url
    lines = [subject, "", f"Why you get this: {reason}"]
    if incident is not None:
        lines.append(
            f"Status: {incident['status']}; messages attached: {incident['message_count']}"
        )
    if excerpt:
        lines += ["", f"Message: {excerpt}"]
    lines += ["", f"Open it: {url}"]
    if incident is not None:
        lines.append("Acknowledge it there to stop the escalation.")
    return {
        "type": "incident.alert" if incident is not None else "message.alert",
        "subject": subject[:300],
        "text": "\n".join(lines),
        "reason": reason,
        "url": url,
        "incident": summary(incident) if incident is not None else None,
        "message": {"id": message["id"], "excerpt": excerpt} if message else None,
    }


async def active_users(session: AsyncSession, user_ids: Sequence[int]) -> list[Row]:
    if not user_ids:
        return []
    rows = await session.execute(
        sa.select(user_t.c.id, user_t.c.email, user_t.c.display_name)
        .where(user_t.c.id.in_(sorted(set(user_ids))), user_t.c.is_active.is_(True))
        .order_by(user_t.c.id)
    )
    return list(rows.mappings().all())


async def notify(
    session: AsyncSession,
    *,
    env: Env,
    incident: Row | None,
    user_ids: Sequence[int],
    integration_ids: Sequence[int],
    reason: str,
    message: Row | None = None,
    context: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Alert users and integrations; returns the timeline entries written (with an
    incident) so that the caller can publish them with its own incident event.
    ``context`` (e.g. the policy level) travels with the alert and the payload."""
    now = env.now()
    payload = compose(env=env, incident=incident, reason=reason, message=message)
    payload["context"] = context or {}
    incident_id = incident["id"] if incident is not None else None
    message_id = message["id"] if message is not None else None
    rows: list[dict[str, Any]] = []

    def row(channel: NotificationChannel, target: str, **extra: Any) -> dict[str, Any]:
        delivered = channel is NotificationChannel.websocket
        return {
            "incident_id": incident_id,
            "message_id": message_id,
            "channel": channel.value,
            "target": target[:2000],
            "user_id": None,
            "integration_id": None,
            "reason": reason[:100],
            "payload": payload,
            "delivery_id": new_delivery_id(),
            "status": (
                NotificationStatus.delivered if delivered else NotificationStatus.queued
            ).value,
            "attempts": 1 if delivered else 0,
            "next_attempt_at": now,
            "created_at": now,
            "sent_at": now if delivered else None,
            "delivered_at": now if delivered else None,
        } | extra

    users = await active_users(session, user_ids)
    if users:
        await emit(
            session,
            ESCALATION_ALERT,
            {
                "incident_id": incident_id,
                "message_id": message_id,
                "title": payload["subject"],
                "severity": incident["severity"] if incident is not None else None,
                "status": incident["status"] if incident is not None else None,
                "reason": reason,
                "url": payload["url"],
                "excerpt": (payload["message"] or {}).get("excerpt"),
                **(context or {}),
            },
            audience=Audience.users,
            user_ids=[u["id"] for u in users],
        )
        email_users = bool(env.settings.smtp_host) and env.settings.escalation_email_users
        for user in users:
            rows.append(
                row(NotificationChannel.websocket, f"user:{user['id']}", user_id=user["id"])
            )
            if email_users:
                rows.append(row(NotificationChannel.email, user["email"], user_id=user["id"]))
    if integration_ids:
        integrations = await session.execute(
            sa.select(integration_t.c.id, integration_t.c.kind, integration_t.c.email_address)
            .where(
                integration_t.c.id.in_(sorted(set(integration_ids))),
                integration_t.c.is_active.is_(True),
            )
            .order_by(integration_t.c.id)
        )
        for integration in integrations:
            channel = _CHANNEL_OF_KIND[integration.kind]
            target = (
                integration.email_address
                if channel is NotificationChannel.email
                else f"integration:{integration.id}"
            )
            rows.append(row(channel, target, integration_id=integration.id))
    if not rows:
        return []
    written = (
        (
            await session.execute(
                sa.insert(notification_t).returning(
                    notification_t.c.id,
                    notification_t.c.channel,
                    notification_t.c.target,
                    notification_t.c.status,
                    sort_by_parameter_order=True,
                ),
                rows,
            )
        )
        .mappings()
        .all()
    )
    if any(r["status"] == NotificationStatus.queued for r in written):
        env.notifications_queued(session)
    if incident_id is None:
        return []
    return [
        await add_event(
            session,
            incident_id=incident_id,
            kind=f"notification.{r['status']}",
            at=now,
            data={
                "notification_id": r["id"],
                "channel": r["channel"],
                "target": r["target"],
                "reason": reason,
            },
        )
        for r in written
    ]
