"""Replies through Meta's Graph API: Facebook comments, Messenger, Instagram, WhatsApp Cloud.

Which request a reply becomes (``thread_key`` as :mod:`inbox.platforms.meta` sets it):

- a DM thread on facebook / messenger / instagram (``"<account id>:<customer id>"``): the
  Send API, ``POST /{account id}/messages`` with ``{"recipient": {"id": <PSID or IGSID>},
  "messaging_type": "RESPONSE", "message": {"text": ...}}`` (Instagram with Facebook
  Login: the credential ``page_id`` names the Page instead of the IG account); answers
  ``{"recipient_id", "message_id"}``;
- a Facebook comment, post, mention or review: ``POST /{object id}/comments`` with
  ``{"message": ...}``, where the object is the comment answered (for a reply to a reply,
  its top-level comment: Facebook threads one level deep), else the post; answers ``{"id"}``;
- an Instagram comment: ``POST /{ig-comment-id}/replies`` with ``{"message": ...}`` (the
  top-level comment: "replies to a reply will be added to the top-level comment"); a
  mention of our account in someone else's media: ``POST /{ig-user-id}/mentions`` with
  ``media_id``, ``comment_id`` and ``message``; no target: ``POST /{media id}/comments``;
- WhatsApp: ``POST /{phone-number-id}/messages`` with ``{"messaging_product": "whatsapp",
  "recipient_type": "individual", "to": <wa_id>, "type": "text", "text": {"preview_url":
  false, "body": ...}, "context": {"message_id": <wamid answered>}}`` (a group thread:
  ``"recipient_type": "group"``, ``"to": <group id>``); answers ``{"messages": [{"id"}]}``.

Authentication: the access token in an ``Authorization: Bearer`` header (never in the URL),
and ``appsecret_proof`` (HMAC-SHA256 of the token with the app secret, the channel's
webhook secret) when the channel has one, as "Require App Secret" demands.

Errors are ``{"error": {"message", "type", "code", "error_subcode", "error_user_msg",
"is_transient", "fbtrace_id"}}``. Meta reports throttling mostly as HTTP 400/403 with
codes 4, 17, 32, 613, 80001-80014 (and WhatsApp 130429, 131056): those, ``is_transient``,
429 and 5xx are retried; other errors are permanent. The Graph API has no idempotency key;
the platform ids recorded on success are what later echoes (Messenger ``is_echo``, the
Page's own comment) are deduplicated against.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from inbox.connectors.base import (
    DeliveryFailed,
    FetchedContent,
    FetchRequest,
    OutboundReply,
    ReplyTarget,
    SendResult,
    Transport,
    default_error_text,
    get_json,
    is_retryable_status,
    post_json,
    require,
    text_field,
)
from inbox.platforms._json import make_author, to_utc

_THROTTLING_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 130429, 131056})
_BUSINESS_USE_CASE_THROTTLING = range(80001, 80015)

_TEXT_LIMITS = {"dm": 2000, "whatsapp": 4096}
_COMMENT_TEXT_LIMIT = 8000


def _meta_error(body: Any) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error: Mapping[str, Any] = body["error"]
        return error
    return None


def meta_error_text(response: httpx.Response, body: Any) -> str:
    error = _meta_error(body)
    if error is None:
        return default_error_text(response, body)
    message = error.get("error_user_msg") or error.get("message") or "unknown error"
    code = error.get("code")
    subcode = error.get("error_subcode")
    where = f"code {code}" + (f"/{subcode}" if subcode else "") if code is not None else ""
    title = error.get("error_user_title")
    text = f"{title}: {message}" if title and title not in str(message) else str(message)
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else None
    if isinstance(details, str) and details and details not in text:
        text = f"{text}: {details}"  # WhatsApp explains its errors here
    return f"{text} ({where}, HTTP {response.status_code})" if where else text


def meta_retryable(response: httpx.Response, body: Any) -> bool:
    if is_retryable_status(response.status_code):
        return True
    error = _meta_error(body)
    if error is None:
        return False
    code = error.get("code")
    return (
        error.get("is_transient") is True
        or code in _THROTTLING_CODES
        or (isinstance(code, int) and code in _BUSINESS_USE_CASE_THROTTLING)
    )


def appsecret_proof(app_secret: str, access_token: str) -> str:
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _top_level_comment(target: ReplyTarget) -> str:
    if target.kind == "reply" and target.parent_external_id:
        return target.parent_external_id
    return target.external_id


class MetaConnector:
    platforms: ClassVar[tuple[str, ...]] = ("facebook", "instagram", "messenger", "whatsapp")
    credential_keys: ClassVar[tuple[str, ...]] = (
        "page_access_token",
        "page_id",
        "ig_user_id",
        "access_token",
        "phone_number_id",
    )

    def text_limit(self, platform: str, conversation_kind: str) -> int:
        if platform == "whatsapp":
            return _TEXT_LIMITS["whatsapp"]
        return _TEXT_LIMITS["dm"] if conversation_kind == "dm" else _COMMENT_TEXT_LIMIT

    def missing_credentials(self, platform: str, credentials: Mapping[str, str]) -> list[str]:
        needed = (
            ("access_token", "phone_number_id")
            if platform == "whatsapp"
            else ("page_access_token",)
        )
        return [key for key in needed if not credentials.get(key)]

    def account_id(
        self, platform: str, credentials: Mapping[str, str], thread_key: str
    ) -> str | None:
        if platform == "whatsapp":
            return credentials.get("phone_number_id")
        account, sep, _ = thread_key.partition(":")
        if sep and account:
            return account
        if platform == "instagram":
            return credentials.get("ig_user_id")
        return credentials.get("page_id")

    async def send(self, reply: OutboundReply, transport: Transport) -> SendResult:
        if reply.platform == "whatsapp":
            return await self._whatsapp(reply, transport)
        token = require(reply.credentials, "page_access_token", reply.platform)
        if reply.conversation_kind == "dm":
            return await self._send_api(reply, transport, token)
        if reply.platform == "instagram":
            return await self._instagram_comment(reply, transport, token)
        return await self._facebook_comment(reply, transport, token)

    # --- requests ---------------------------------------------------------------------

    async def _post(
        self,
        reply: OutboundReply,
        transport: Transport,
        path: str,
        body: Mapping[str, Any],
        token: str,
    ) -> Any:
        params = (
            {"appsecret_proof": appsecret_proof(reply.channel_secret, token)}
            if reply.channel_secret
            else None
        )
        return await post_json(
            transport,
            f"{transport.endpoints.meta_graph.rstrip('/')}{path}",
            json=body,
            headers={"authorization": f"Bearer {token}"},
            params=params,
            error_text=meta_error_text,
            retryable=meta_retryable,
            secrets=(token, reply.channel_secret),
        )

    async def _send_api(self, reply: OutboundReply, transport: Transport, token: str) -> SendResult:
        account, _, customer = reply.thread_key.partition(":")
        if not account or not customer:
            raise DeliveryFailed(
                f"cannot tell the recipient of DM thread {reply.thread_key!r}", retryable=False
            )
        sender = account
        if reply.platform == "instagram" and reply.credentials.get("page_id"):
            sender = reply.credentials["page_id"]
        body = await self._post(
            reply,
            transport,
            f"/{sender}/messages",
            {
                "recipient": {"id": customer},
                "messaging_type": "RESPONSE",
                "message": {"text": reply.text},
            },
            token,
        )
        return SendResult(external_id=text_field(body, "message_id"), response=_dict(body))

    async def _facebook_comment(
        self, reply: OutboundReply, transport: Transport, token: str
    ) -> SendResult:
        object_id = _top_level_comment(reply.target) if reply.target else reply.thread_key
        body = await self._post(
            reply, transport, f"/{object_id}/comments", {"message": reply.text}, token
        )
        return SendResult(external_id=text_field(body, "id"), response=_dict(body))

    async def _instagram_comment(
        self, reply: OutboundReply, transport: Transport, token: str
    ) -> SendResult:
        target = reply.target
        if target is None:
            path, payload = f"/{reply.thread_key}/comments", {"message": reply.text}
        elif target.kind == "mention":
            ig_user_id = require(reply.credentials, "ig_user_id", reply.platform)
            payload = {"media_id": str(target.raw.get("media_id") or reply.thread_key)}
            if target.raw.get("comment_id"):
                payload["comment_id"] = str(target.raw["comment_id"])
            payload["message"] = reply.text
            path = f"/{ig_user_id}/mentions"
        else:
            path, payload = f"/{_top_level_comment(target)}/replies", {"message": reply.text}
        body = await self._post(reply, transport, path, payload, token)
        return SendResult(external_id=text_field(body, "id"), response=_dict(body))

    async def _whatsapp(self, reply: OutboundReply, transport: Transport) -> SendResult:
        token = require(reply.credentials, "access_token", reply.platform)
        phone_number_id = require(reply.credentials, "phone_number_id", reply.platform)
        target = reply.target
        customer = target.author_platform_id if target and target.direction == "inbound" else None
        payload: dict[str, Any] = {"messaging_product": "whatsapp"}
        if customer and customer != reply.thread_key:
            # The thread is a group (its key is the group id, not the sender's wa_id).
            payload |= {"recipient_type": "group", "to": reply.thread_key}
        else:
            payload |= {"recipient_type": "individual", "to": customer or reply.thread_key}
        payload |= {"type": "text", "text": {"preview_url": False, "body": reply.text}}
        if target is not None and target.direction == "inbound":
            payload["context"] = {"message_id": target.external_id}
        body = await self._post(reply, transport, f"/{phone_number_id}/messages", payload, token)
        messages = body.get("messages") if isinstance(body, Mapping) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        return SendResult(external_id=text_field(first, "id"), response=_dict(body))


# --- Instagram mentions: the content, fetched --------------------------------------------

_MENTIONED_COMMENT_FIELDS = "{id,text,timestamp,username,like_count}"
_MENTIONED_MEDIA_FIELDS = "{caption,timestamp,username,permalink}"


class InstagramMentionFetcher:
    """The text of an Instagram mention, which the ``mentions`` webhook leaves out.

    ``GET /{ig-user-id}?fields=mentioned_comment.comment_id({comment_id}){id,text,
    timestamp,username,like_count}`` when our account was mentioned in a comment, else
    ``fields=mentioned_media.media_id({media_id}){caption,timestamp,username,permalink}``
    (a caption mention); the ig-user-id is the channel credential ``ig_user_id``, sent with
    the ``page_access_token`` and ``appsecret_proof`` as replies are. Only a username comes
    back, no account id: the author is ``@<username>``.
    """

    platforms: ClassVar[tuple[str, ...]] = ("instagram",)
    credential_keys: ClassVar[tuple[str, ...]] = ("page_access_token", "ig_user_id")

    async def fetch(
        self, request: FetchRequest, transport: Transport, *, timeout_s: float | None = None
    ) -> FetchedContent:
        token = require(request.credentials, "page_access_token", request.platform)
        ig_user_id = require(request.credentials, "ig_user_id", request.platform)
        comment_id = text_field(request.raw, "comment_id")
        media_id = text_field(request.raw, "media_id") or request.thread_key
        if comment_id:
            edge = "mentioned_comment"
            fields = f"{edge}.comment_id({comment_id}){_MENTIONED_COMMENT_FIELDS}"
        else:
            edge = "mentioned_media"
            fields = f"{edge}.media_id({media_id}){_MENTIONED_MEDIA_FIELDS}"
        params = {"fields": fields}
        if request.channel_secret:
            params["appsecret_proof"] = appsecret_proof(request.channel_secret, token)
        body = await get_json(
            transport,
            f"{transport.endpoints.meta_graph.rstrip('/')}/{ig_user_id}",
            headers={"authorization": f"Bearer {token}"},
            params=params,
            error_text=meta_error_text,
            retryable=meta_retryable,
            secrets=(token, request.channel_secret),
            timeout_s=timeout_s,
        )
        found = body.get(edge) if isinstance(body, Mapping) else None
        if not isinstance(found, Mapping):
            raise DeliveryFailed(f"the Graph API answered without {edge!r}", retryable=False)
        text = found.get("text" if comment_id else "caption")
        username = text_field(found, "username")
        timestamp = text_field(found, "timestamp")
        like_count = found.get("like_count")
        return FetchedContent(
            text=text if isinstance(text, str) else "",
            author=make_author(f"@{username}", handle=username) if username else None,
            platform_created_at=to_utc(timestamp) if timestamp else None,
            url=text_field(found, "permalink"),
            context={"like_count": like_count}
            if isinstance(like_count, int) and not isinstance(like_count, bool)
            else {},
        )


def _dict(body: Any) -> dict[str, Any]:
    return dict(body) if isinstance(body, Mapping) else {}
