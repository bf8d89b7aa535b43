"""Replies through the X API v2.

- A post thread: ``POST /2/tweets`` with ``{"text": ..., "reply": {"in_reply_to_tweet_id":
  <the post answered>}}``; answers 201 ``{"data": {"id", "text"}}``.
- A DM thread (``thread_key`` is the two user ids, sorted, joined by ``-``):
  ``POST /2/dm_conversations/with/{participant_id}/messages`` with ``{"text": ...}``;
  answers 201 ``{"data": {"dm_conversation_id", "dm_event_id"}}``. The participant is the
  author of the message answered, else the id in the key that is not ours (``user_id``).

Authentication: an OAuth 2.0 user-context access token (``tweet.write`` / ``dm.write``
scopes) as ``Authorization: Bearer``; an app-only bearer token cannot post.

Errors: ``{"title", "detail", "type", "status"}`` (problem details) or ``{"errors":
[{"message"}]}``. Rate limits answer 429 with ``x-rate-limit-reset`` (unix seconds) and
sometimes ``Retry-After``; both are obeyed. X has no idempotency key, but refuses a post
whose text duplicates one just made ("duplicate content"), a second line of defence
against a double post.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from inbox.connectors.base import (
    DeliveryFailed,
    OutboundReply,
    SendResult,
    Transport,
    default_error_text,
    parse_retry_after,
    post_json,
    require,
    text_field,
)

POST_TEXT_LIMIT = 280
DM_TEXT_LIMIT = 10_000


def x_error_text(response: httpx.Response, body: Any) -> str:
    if isinstance(body, Mapping):
        detail = body.get("detail")
        title = body.get("title")
        if isinstance(detail, str) and detail:
            return f"{title}: {detail}" if isinstance(title, str) and title else detail
        errors = body.get("errors")
        if isinstance(errors, list):
            messages = [
                str(e.get("message") or e.get("detail"))
                for e in errors
                if isinstance(e, Mapping) and (e.get("message") or e.get("detail"))
            ]
            if messages:
                return "; ".join(messages)
    return default_error_text(response, body)


def x_retry_after(response: httpx.Response, body: Any) -> float | None:
    given = parse_retry_after(response.headers.get("retry-after"))
    if given is not None:
        return given
    reset = response.headers.get("x-rate-limit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, int(reset) - time.time())
    return None


class XConnector:
    platforms: ClassVar[tuple[str, ...]] = ("x",)
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token", "user_id")

    def text_limit(self, platform: str, conversation_kind: str) -> int:
        return DM_TEXT_LIMIT if conversation_kind == "dm" else POST_TEXT_LIMIT

    def missing_credentials(self, platform: str, credentials: Mapping[str, str]) -> list[str]:
        return [] if credentials.get("access_token") else ["access_token"]

    def account_id(
        self, platform: str, credentials: Mapping[str, str], thread_key: str
    ) -> str | None:
        return credentials.get("user_id")

    async def send(self, reply: OutboundReply, transport: Transport) -> SendResult:
        token = require(reply.credentials, "access_token", reply.platform)
        base = transport.endpoints.x_api.rstrip("/")
        if reply.conversation_kind == "dm":
            participant = self._participant(reply)
            url = f"{base}/2/dm_conversations/with/{participant}/messages"
            payload: dict[str, Any] = {"text": reply.text}
            id_field = "dm_event_id"
        else:
            target = reply.target.external_id if reply.target else reply.thread_key
            url = f"{base}/2/tweets"
            payload = {"text": reply.text, "reply": {"in_reply_to_tweet_id": target}}
            id_field = "id"
        body = await post_json(
            transport,
            url,
            json=payload,
            headers={"authorization": f"Bearer {token}"},
            error_text=x_error_text,
            retry_after=x_retry_after,
            secrets=(token,),
        )
        return SendResult(
            external_id=text_field(body, "data", id_field),
            response=dict(body) if isinstance(body, Mapping) else {},
        )

    @staticmethod
    def _participant(reply: OutboundReply) -> str:
        target = reply.target
        if target is not None and target.direction == "inbound" and target.author_platform_id:
            return target.author_platform_id
        ours = reply.credentials.get("user_id")
        others = [uid for uid in reply.thread_key.split("-") if uid and uid != ours]
        if len(others) == 1:
            return others[0]
        raise DeliveryFailed(
            f"cannot tell the other participant of DM thread {reply.thread_key!r}; "
            "set the channel credential user_id",
            retryable=False,
        )
