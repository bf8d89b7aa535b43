"""Replies through the YouTube Data API v3.

- Answering a comment: ``POST /youtube/v3/comments?part=snippet`` with ``{"snippet":
  {"parentId": <top-level comment id>, "textOriginal": ...}}`` (YouTube threads one level
  deep: a reply to a reply goes to its top-level comment). Answers a comment resource
  ``{"kind": "youtube#comment", "id", ...}``.
- Answering a video (what the WebSub push delivers: a conversation per video, context
  ``video_id``): a new top-level comment, ``POST /youtube/v3/commentThreads?part=snippet``
  with ``{"snippet": {"videoId": ..., "topLevelComment": {"snippet": {"textOriginal":
  ...}}}}``; answers a commentThread resource whose ``id`` is the top-level comment's.

Authentication: an OAuth 2.0 access token with the ``youtube.force-ssl`` scope as
``Authorization: Bearer``. (Access tokens expire after an hour; refreshing them is the
operator's job for now.)

Errors: ``{"error": {"code", "message", "errors": [{"reason", "message"}]}}``. Retried:
429, 5xx and the reasons ``rateLimitExceeded``, ``userRateLimitExceeded``,
``backendError``; permanent: everything else, including ``quotaExceeded`` (the daily quota
returns only at midnight Pacific time). No idempotency key exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from inbox.connectors.base import (
    OutboundReply,
    SendResult,
    Transport,
    default_error_text,
    is_retryable_status,
    post_json,
    require,
    text_field,
)

TEXT_LIMIT = 10_000
_RETRYABLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})


def _reasons(body: Any) -> list[str]:
    error = body.get("error") if isinstance(body, Mapping) else None
    errors = error.get("errors") if isinstance(error, Mapping) else None
    if not isinstance(errors, list):
        return []
    return [str(e["reason"]) for e in errors if isinstance(e, Mapping) and e.get("reason")]


def youtube_error_text(response: httpx.Response, body: Any) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and error.get("message"):
        reasons = _reasons(body)
        suffix = f" ({', '.join(reasons)})" if reasons else ""
        return f"{error['message']}{suffix}"
    return default_error_text(response, body)


def youtube_retryable(response: httpx.Response, body: Any) -> bool:
    if "quotaExceeded" in _reasons(body):
        return False
    return is_retryable_status(response.status_code) or bool(
        _RETRYABLE_REASONS & set(_reasons(body))
    )


class YouTubeConnector:
    platforms: ClassVar[tuple[str, ...]] = ("youtube",)
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token", "channel_id")

    def text_limit(self, platform: str, conversation_kind: str) -> int:
        return TEXT_LIMIT

    def missing_credentials(self, platform: str, credentials: Mapping[str, str]) -> list[str]:
        return [] if credentials.get("access_token") else ["access_token"]

    def account_id(
        self, platform: str, credentials: Mapping[str, str], thread_key: str
    ) -> str | None:
        return credentials.get("channel_id")

    async def send(self, reply: OutboundReply, transport: Transport) -> SendResult:
        token = require(reply.credentials, "access_token", reply.platform)
        base = f"{transport.endpoints.youtube_api.rstrip('/')}/youtube/v3"
        target = reply.target
        video_id = target.context.get("video_id") if target is not None else reply.thread_key
        if target is None or video_id:
            url = f"{base}/commentThreads"
            payload: dict[str, Any] = {
                "snippet": {
                    "videoId": str(video_id or reply.thread_key),
                    "topLevelComment": {"snippet": {"textOriginal": reply.text}},
                }
            }
        else:
            parent = target.parent_external_id or target.external_id
            url = f"{base}/comments"
            payload = {"snippet": {"parentId": parent, "textOriginal": reply.text}}
        body = await post_json(
            transport,
            url,
            json=payload,
            params={"part": "snippet"},
            headers={"authorization": f"Bearer {token}"},
            error_text=youtube_error_text,
            retryable=youtube_retryable,
            secrets=(token,),
        )
        return SendResult(
            external_id=text_field(body, "id"),
            response=dict(body) if isinstance(body, Mapping) else {},
        )
