"""``/webhooks/{channel_id}``: the platforms' door into the inbox.

Order of checks: the channel exists (404), the content type is one the platform sends (415),
the body fits the limit (413), the signature holds over the raw bytes (401/403), the payload
parses (400). Only then is anything written, in one transaction, before the 2xx.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.deps import ServicesDep
from app.errors import DomainError, PayloadTooLarge, UnsupportedMediaType
from app.logging import correlation_id, get_logger
from app.metrics import MESSAGES_STORED, WEBHOOK_DELIVERIES
from inbox.ingest import Delivery
from inbox.platforms.registry import adapter_for

router = APIRouter(tags=["webhooks"])
log = get_logger(__name__)


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLarge(f"the body is larger than {limit_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(f"the body is larger than {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/webhooks/{channel_id}", include_in_schema=True)
async def webhook_handshake(channel_id: str, request: Request, services: ServicesDep) -> Response:
    channel = await services.channels.get(channel_id)
    adapter = adapter_for(channel.platform)
    reply = adapter.handshake(channel.credentials, request.query_params)
    return Response(content=reply.body, media_type=reply.media_type, headers=reply.headers)


@router.post("/webhooks/{channel_id}")
async def webhook_delivery(channel_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    channel = await services.channels.get(channel_id)
    adapter = adapter_for(channel.platform)
    try:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in adapter.content_types:
            raise UnsupportedMediaType(
                f"{channel.platform} deliveries are {' or '.join(adapter.content_types)}"
            )
        body = await _read_body(request, settings.webhook_max_body_bytes)
        adapter.verify(
            channel.credentials,
            request.headers,
            body,
            now_s=time.time(),
            query=request.query_params,
        )
        messages = adapter.parse(body, request.headers)
    except DomainError as exc:
        WEBHOOK_DELIVERIES.labels(platform=channel.platform, outcome=exc.code).inc()
        log.info("webhook.refused", channel_id=channel.id, reason=exc.code, status=exc.status_code)
        raise

    result = await services.ingest.store(
        Delivery(channel=channel, messages=messages, correlation_id=correlation_id.get())
    )
    WEBHOOK_DELIVERIES.labels(platform=channel.platform, outcome="stored").inc()
    MESSAGES_STORED.labels(platform=channel.platform).inc(len(result.created))
    log.info(
        "webhook.stored",
        channel_id=channel.id,
        created=len(result.created),
        updated=len(result.updated),
        deleted=len(result.deleted),
        duplicates=result.duplicates,
    )
    return JSONResponse(
        {
            "created": len(result.created),
            "updated": len(result.updated),
            "deleted": len(result.deleted),
            "duplicates": result.duplicates,
        }
    )
