"""``/webhooks/{channel_id}``: the platforms' door into the inbox.

Order of checks: the channel exists (404), the content type is one the platform sends (415),
the body fits the limit (413), the signature holds over the raw bytes (401/403), the payload
parses (400). Only then is anything written, in one transaction, before the 2xx.

Deliveries (``POST``) are answered by :class:`WebhookFastPath`, a raw ASGI layer in front of
the whole FastAPI app (``app.main.create_app``): the platforms' traffic skips Starlette's
routing, the middleware stack, ``Request`` objects and dependency resolution, which cost
more CPU on the event loop than verifying, parsing and storing a delivery. It keeps what the
stack would do for these requests: ``X-Request-ID`` (``app.middleware.request_id``), domain
errors rendered by ``app.errors.error_response``, a plain 500 for anything else. Everything
else, the handshake (``GET``) included, goes through FastAPI. The ``POST`` route below
documents the endpoint in the OpenAPI schema and serves an app that mounts ``router``
without the fast path; both run :func:`deliver`.
"""

from __future__ import annotations

import functools
import time

from fastapi import APIRouter, Request, Response
from prometheus_client.metrics import Counter
from starlette._utils import get_route_path  # the path Starlette's router matches
from starlette.datastructures import Headers, QueryParams, State
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.deps import ServicesDep
from app.errors import DomainError, PayloadTooLarge, UnsupportedMediaType, error_response
from app.logging import correlation_id, get_logger
from app.metrics import MESSAGES_STORED, WEBHOOK_DELIVERIES
from app.middleware import request_id
from app.services import Services
from inbox.ingest import Delivery
from inbox.platforms.registry import adapter_for

router = APIRouter(tags=["webhooks"])
log = get_logger(__name__)

PREFIX = "/webhooks/"
_EMPTY_QUERY = QueryParams()


async def _read_body(headers: Headers, receive: Receive, limit_bytes: int) -> bytes:
    """The whole body, refused as soon as it is known to pass ``limit_bytes`` (declared or,
    for a chunked body, while it arrives). A client gone away is ``ClientDisconnect``."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLarge(f"the body is larger than {limit_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit_bytes:
                raise PayloadTooLarge(f"the body is larger than {limit_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


@functools.cache
def _deliveries_counter(platform: str, outcome: str) -> Counter:
    """The metric's child for these labels (``labels()`` costs a lock and a lookup)."""
    return WEBHOOK_DELIVERIES.labels(platform=platform, outcome=outcome)


@functools.cache
def _stored_counter(platform: str) -> Counter:
    return MESSAGES_STORED.labels(platform=platform)


async def deliver(
    services: Services,
    channel_id: str,
    headers: Headers,
    query_string: bytes,
    receive: Receive,
) -> bytes:
    """Check, parse and durably store one delivery; the success body (JSON). Refusals are
    ``DomainError``s, counted and logged here."""
    channel = await services.channels.get(channel_id)
    adapter = adapter_for(channel.platform)
    try:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in adapter.content_types:
            raise UnsupportedMediaType(
                f"{channel.platform} deliveries are {' or '.join(adapter.content_types)}"
            )
        body = await _read_body(headers, receive, services.settings.webhook_max_body_bytes)
        adapter.verify(
            channel.credentials,
            headers,
            body,
            now_s=time.time(),
            query=QueryParams(query_string) if query_string else _EMPTY_QUERY,
        )
        messages = adapter.parse(body, headers)
    except DomainError as exc:
        _deliveries_counter(channel.platform, exc.code).inc()
        log.info("webhook.refused", channel_id=channel.id, reason=exc.code, status=exc.status_code)
        raise

    result = await services.ingest.store(
        Delivery(channel=channel, messages=messages, correlation_id=correlation_id.get())
    )
    created, updated, deleted = len(result.created), len(result.updated), len(result.deleted)
    _deliveries_counter(channel.platform, "stored").inc()
    if created:
        _stored_counter(channel.platform).inc(created)
    log.info(
        "webhook.stored",
        channel_id=channel.id,
        created=created,
        updated=updated,
        deleted=deleted,
        duplicates=result.duplicates,
    )
    # What JSONResponse would render for these four integers.
    return b'{"created":%d,"updated":%d,"deleted":%d,"duplicates":%d}' % (
        created,
        updated,
        deleted,
        result.duplicates,
    )


_JSON_TYPE = (b"content-type", b"application/json")
_SERVER_ERROR = b"Internal Server Error"


def _delivery_channel_id(scope: Scope) -> str | None:
    """The channel id when this is ``POST /webhooks/{channel_id}`` (Starlette's ``[^/]+``)."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = get_route_path(scope) if scope.get("root_path") else scope["path"]
    if not path.startswith(PREFIX):
        return None
    channel_id = path[len(PREFIX) :]
    return channel_id if channel_id and "/" not in channel_id else None


class WebhookFastPath:
    """Raw ASGI in front of the FastAPI app: answers ``POST /webhooks/{channel_id}`` itself
    and hands every other request (and websocket, lifespan) to ``app`` untouched.

    ``state`` is the app's state, whose ``services`` the lifespan sets."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel_id = _delivery_channel_id(scope)
        if channel_id is None:
            await self.app(scope, receive, send)
            return
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        cid = request_id(raw_headers)
        token = correlation_id.set(cid)
        started = False

        async def respond(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            nonlocal started
            started = True
            headers.append((b"x-request-id", cid.encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        try:
            services: Services = self.state.services
            body = await deliver(
                services,
                channel_id,
                Headers(raw=raw_headers),
                scope["query_string"],
                receive,
            )
            await respond(200, [(b"content-length", b"%d" % len(body)), _JSON_TYPE], body)
        except DomainError as exc:
            error = error_response(exc)
            await respond(error.status_code, list(error.raw_headers), bytes(error.body))
        except ClientDisconnect:
            pass  # nobody is left to answer
        except Exception:
            # As Starlette's ServerErrorMiddleware: a plain 500 if nothing was sent yet (here
            # with the X-Request-ID, which the stack's 500 lacked), and the exception on to
            # the server, which logs it.
            if not started:
                text = (b"content-type", b"text/plain; charset=utf-8")
                length = (b"content-length", b"%d" % len(_SERVER_ERROR))
                await respond(500, [length, text], _SERVER_ERROR)
            raise
        finally:
            correlation_id.reset(token)


@router.get("/webhooks/{channel_id}", include_in_schema=True)
async def webhook_handshake(channel_id: str, request: Request, services: ServicesDep) -> Response:
    channel = await services.channels.get(channel_id)
    adapter = adapter_for(channel.platform)
    reply = adapter.handshake(channel.credentials, request.query_params)
    return Response(content=reply.body, media_type=reply.media_type, headers=reply.headers)


@router.post("/webhooks/{channel_id}")
async def webhook_delivery(channel_id: str, request: Request, services: ServicesDep) -> Response:
    """Answered by :class:`WebhookFastPath` in the service; here for the OpenAPI schema and
    for an app without the fast path."""
    body = await deliver(
        services, channel_id, request.headers, request.scope["query_string"], request.receive
    )
    return Response(content=body, media_type="application/json")
