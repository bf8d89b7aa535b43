"""TikTok webhooks (developers.tiktok.com) and TikTok Business Messaging DMs.

Verification (SPEC.md §6): header ``TikTok-Signature: t=<unix s>,s=<hex>``, where ``s`` is
HMAC-SHA256(key = client_secret, msg = ``t + "." + raw body``). TikTok names no tolerance;
we refuse timestamps more than five minutes away from now (Chatwoot uses 5 s, which a
retry queue on our side could not honour). There is no GET handshake.

Envelope: ``{"client_key", "event", "create_time" (unix s), "user_openid", "content"}``
where ``content`` is a JSON *string*. The developer-platform events are about the account
and its uploads (``authorization.removed``, ``video.upload.failed``, ...): they produce
nothing. Business Messaging DMs (``im_receive_msg``, our own ``im_send_msg``) have no
official sample; the content shape read here is the one open-source handlers use
(``{"conversation_id", "message_id", "timestamp" (ms), "type", "text": {"body"},
"from", "from_user": {"id"}, "to_user": {"id"}}``) and a DM is produced only when the
content carries text. ``im_mark_read_msg`` and everything else produce nothing.

Keys: external_id = ``content.message_id``; without one (the envelope has no id of its
own, SPEC.md §13) the SHA-256 of event, user_openid, create_time and content. thread_key =
``content.conversation_id``, else ``"<user_openid>:<sender id>"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from inbox.normalize import Direction, Kind, NormalizedMessage
from inbox.platforms._json import Node, fit_key, load_json, make_author
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)

SIGNATURE_HEADER = "tiktok-signature"
TOLERANCE_S = 5 * 60
_UNIX_SECONDS = re.compile(r"[0-9]{1,15}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_DM_EVENTS = {"im_receive_msg": Direction.inbound, "im_send_msg": Direction.outbound}


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},s={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


class TikTokAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("tiktok",)
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        raise HandshakeRefused("TikTok has no verification handshake")

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise SignatureMissing("TikTok-Signature header is missing")
        if not creds.secret:
            raise SignatureInvalid("the channel has no client secret")
        fields: dict[str, str] = {}
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            fields.setdefault(name, value)
        timestamp, digest_hex = fields.get("t", ""), fields.get("s", "")
        if not _UNIX_SECONDS.fullmatch(timestamp) or not _HEX_SHA256.fullmatch(digest_hex):
            raise SignatureInvalid("TikTok-Signature must be 't=<unix seconds>,s=<hex>'")
        expected = signature_header(creds.secret, body, int(timestamp)).rpartition("s=")[2]
        if not hmac.compare_digest(expected.encode(), digest_hex.lower().encode()):
            raise SignatureInvalid("TikTok-Signature does not match the body")
        if abs(now_s - int(timestamp)) > TOLERANCE_S:
            raise SignatureInvalid(f"TikTok-Signature is older than {TOLERANCE_S} s")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        envelope = Node.of(load_json(body), "body")
        event = envelope.required_text("event")
        direction = _DM_EVENTS.get(event)
        if direction is None:
            return []
        content = _content(envelope)
        message = _dm(envelope, content, event, direction)
        return [] if message is None else [message]


def _content(envelope: Node) -> Node:
    content: Any = envelope.data.get("content")
    if isinstance(content, str):
        content = load_json(content, "body.content")
    return Node.of(content, "body.content")


def _dm(
    envelope: Node, content: Node, event: str, direction: Direction
) -> NormalizedMessage | None:
    text_value = content.data.get("text")
    if isinstance(text_value, dict):
        text = Node.of(text_value, content.where("text")).text("body")
    else:
        text = content.text("text")
    if not text:
        return None
    account_id = envelope.optional_id("user_openid")
    sender = content.child("from_user")
    sender_id = sender.optional_id("id") if sender is not None else None
    handle = content.text("from") if not isinstance(content.data.get("from"), dict) else None
    if sender_id is None and direction is Direction.outbound:
        sender_id = account_id
    author = (
        make_author(
            sender_id,
            handle=handle or (sender.text("username") if sender is not None else None),
        )
        if sender_id
        else None
    )
    message_id = content.optional_id("message_id")
    if message_id is None:
        identity = json.dumps(
            [event, account_id, envelope.data.get("create_time"), content.data],
            sort_keys=True,
            default=str,
        )
        message_id = "sha256:" + hashlib.sha256(identity.encode()).hexdigest()
    conversation_id = content.optional_id("conversation_id")
    if conversation_id is None:
        if account_id is None or author is None:
            raise MalformedPayload("body.content.conversation_id is missing")
        conversation_id = f"{account_id}:{author.platform_id}"
    return NormalizedMessage(
        external_id=fit_key(message_id),
        thread_key=fit_key(conversation_id),
        kind=Kind.dm,
        direction=direction,
        text=text,
        author=author,
        platform_created_at=content.time("timestamp") or envelope.time("create_time"),
        raw={key: value for key, value in envelope.data.items() if key != "content"}
        | {"content": content.data},
    )
