"""Pure ASGI middleware (no BaseHTTPMiddleware, which breaks context variables)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import correlation_id, new_correlation_id

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's ``X-Request-ID`` when it is sane (the first one), else a new id."""
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_ID.match(candidate) else new_correlation_id()
    return new_correlation_id()


class CorrelationIdMiddleware:
    """Takes ``X-Request-ID`` when it is sane, else makes one; echoes it on the response.
    (``inbox.webhooks.WebhookFastPath`` does the same for the deliveries it answers.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cid = request_id(scope.get("headers", ()))
        token = correlation_id.set(cid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id.reset(token)
