"""Sending one notification over its channel: SMTP e-mail, a Slack-compatible incoming
webhook, or a signed outgoing webhook (Standard Webhooks). Each send returns an
:class:`Outcome`; retrying is the dispatcher's business.

Transient failures (timeouts, connection errors, HTTP 429 and 5xx, SMTP 4xx) say
``retry``, honouring ``Retry-After``; everything else that is not a success is permanent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid, parsedate_to_datetime
from typing import Any, Literal

import httpx
import orjson

from app.settings import Settings

Verdict = Literal["delivered", "sent", "retry", "failed"]
ERROR_CHARS = 500
USER_AGENT = "Leitstand-Notifications/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    response_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value: ``v1,<base64 HMAC-SHA256>``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def retry_after_s(value: str | None, *, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _http_outcome(response: httpx.Response, *, now: datetime) -> Outcome:
    code = response.status_code
    if 200 <= code < 300:
        return Outcome("delivered", code)
    error = f"HTTP {code}: {response.text[:ERROR_CHARS]}"
    if code == 429 or code >= 500 or code == 408:
        return Outcome(
            "retry", code, error, retry_after_s(response.headers.get("retry-after"), now=now)
        )
    return Outcome("failed", code, error)


class Senders:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.notify_timeout_s),
                follow_redirects=False,
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self,
        channel: str,
        notification: Mapping[Any, Any],
        integration: Mapping[Any, Any] | None,
        *,
        now: datetime,
    ) -> Outcome:
        if integration is not None and not integration["is_active"]:
            return Outcome("failed", error="the integration was deactivated")
        try:
            if channel == "email":
                return await self.email(notification)
            if integration is None or not integration["url"]:
                return Outcome("failed", error="the integration is gone or has no url")
            if channel == "slack":
                return await self.slack(integration["url"], notification["payload"], now=now)
            if channel == "webhook":
                return await self.webhook(
                    integration["url"],
                    integration["secret"],
                    notification["delivery_id"],
                    notification["payload"],
                    now=now,
                )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            return Outcome("retry", error=f"{type(exc).__name__}: {exc}"[:ERROR_CHARS])
        return Outcome("failed", error=f"no sender for channel {channel!r}")

    async def slack(self, url: str, payload: Mapping[str, Any], *, now: datetime) -> Outcome:
        response = await self.client.post(url, json={"text": payload["text"]})
        return _http_outcome(response, now=now)

    async def webhook(
        self,
        url: str,
        secret: str | None,
        delivery_id: str,
        payload: Mapping[str, Any],
        *,
        now: datetime,
    ) -> Outcome:
        if not secret:
            return Outcome("failed", error="the webhook integration has no secret")
        body = orjson.dumps(
            {
                "type": payload.get("type", "incident.alert"),
                "timestamp": now.isoformat(),
                "data": {k: v for k, v in payload.items() if k != "type"},
            }
        )
        timestamp = int(now.timestamp())
        response = await self.client.post(
            url,
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": delivery_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, delivery_id, timestamp, body),
            },
        )
        return _http_outcome(response, now=now)

    async def email(self, notification: Mapping[Any, Any]) -> Outcome:
        settings = self.settings
        if not settings.smtp_host:
            return Outcome("failed", error="SMTP is not configured (LEITSTAND_SMTP_HOST)")
        payload = notification["payload"]
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = notification["target"]
        message["Subject"] = payload["subject"]
        message["Message-ID"] = make_msgid(idstring=notification["delivery_id"], domain="leitstand")
        message["X-Leitstand-Delivery"] = notification["delivery_id"]
        message.set_content(payload["text"])
        return await asyncio.to_thread(self._smtp_send, message)

    def _smtp_send(self, message: EmailMessage) -> Outcome:
        settings = self.settings
        assert settings.smtp_host is not None
        try:
            with smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.notify_timeout_s
            ) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username and settings.smtp_password is not None:
                    smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            transient = all(400 <= code < 500 for code in codes)
            return Outcome(
                "retry" if transient else "failed",
                codes[0] if codes else None,
                str(exc)[:ERROR_CHARS],
            )
        except smtplib.SMTPResponseException as exc:
            verdict: Verdict = "retry" if 400 <= exc.smtp_code < 500 else "failed"
            detail = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return Outcome(verdict, exc.smtp_code, f"SMTP {exc.smtp_code}: {detail}"[:ERROR_CHARS])
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return Outcome("retry", error=f"{type(exc).__name__}: {exc}"[:ERROR_CHARS])
        if refused:
            return Outcome("failed", error=f"refused: {refused}"[:ERROR_CHARS])
        return Outcome("sent", 250)
