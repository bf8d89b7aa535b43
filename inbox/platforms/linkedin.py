"""LinkedIn webhooks (organization social action notifications).

Handshake (SPEC.md §7): ``GET ?challengeCode=<uuid>`` (+ ``applicationId``) is answered
within 3 s with JSON ``{"challengeCode": …, "challengeResponse": hex(HMAC-SHA256(key =
clientSecret, msg = challengeCode))}``.

Signature: header ``X-LI-Signature``. LinkedIn's text ("the HMACSHA256 hash of the
JSON-encoded string representation of the POST body prefixed by hmacsha256=") is read two
ways by public implementations, so both are accepted (SPEC.md recommends it): the header is
``hex(HMAC(clientSecret, body))`` with or without a ``hmacsha256=`` prefix, and the HMAC is
taken over the raw body or over ``"hmacsha256=" + body``. There is no timestamp, so no
replay window.

Payload: no official notification body was found (SPEC.md §7), so the parser is
defensive. It reads either one notification object or ``{"notifications": [...]}`` and
produces a comment only where a comment text is present, looked up where LinkedIn's
social-actions API puts it (``decoratedGeneratedActivity.comment.text``, ``comment.text``
or ``comment.message.text``). Likes, shares, mentions without text, admin events and any
unknown shape produce nothing. Keys: external_id = the comment's URN
(``generatedActivity`` / ``comment.entity``), else ``notificationId``; thread_key = the
post commented on (``sourcePost``), else the external id; author = the comment's ``actor``
/ ``owner`` URN (LinkedIn sends URNs, not names: the connector can resolve them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from typing import ClassVar

from inbox.normalize import Kind, NormalizedMessage
from inbox.platforms._json import Node, fit_key, load_json, make_author
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    SignatureInvalid,
    SignatureMissing,
)

SIGNATURE_HEADER = "x-li-signature"
SIGNATURE_PREFIX = "hmacsha256="
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_COMMENT_ACTIONS = frozenset({"COMMENT", "COMMENT_CREATE", "COMMENTED"})


def challenge_response(secret: str, challenge_code: str) -> str:
    return hmac.new(secret.encode(), challenge_code.encode(), hashlib.sha256).hexdigest()


class LinkedInAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("linkedin",)
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        code = query.get("challengeCode")
        if not code:
            raise HandshakeRefused("challengeCode is missing")
        if not creds.secret:
            raise HandshakeRefused("the channel has no client secret")
        body = json.dumps(
            {"challengeCode": code, "challengeResponse": challenge_response(creds.secret, code)}
        )
        return HandshakeReply(body=body.encode(), media_type="application/json")

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            raise SignatureMissing("X-LI-Signature header is missing")
        if not creds.secret:
            raise SignatureInvalid("the channel has no client secret")
        digest_hex = signature.strip().removeprefix(SIGNATURE_PREFIX)
        if not _HEX_SHA256.fullmatch(digest_hex):
            raise SignatureInvalid("X-LI-Signature must be a hex HMAC-SHA256")
        key = creds.secret.encode()
        given = digest_hex.lower().encode()
        matches = [
            hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).hexdigest().encode(), given)
            for signed in (body, SIGNATURE_PREFIX.encode() + body)
        ]
        if not any(matches):
            raise SignatureInvalid("X-LI-Signature does not match the body")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        delivery = Node.of(load_json(body), "body")
        notifications = (
            delivery.children("notifications") if delivery.has("notifications") else [delivery]
        )
        return list(_comments(notifications))


def _comments(notifications: list[Node]) -> Iterator[NormalizedMessage]:
    for notification in notifications:
        action = notification.text("action")
        if action is not None and action.upper() not in _COMMENT_ACTIONS:
            continue
        decorated = notification.child("decoratedGeneratedActivity")
        comment = (decorated.child("comment") if decorated is not None else None) or (
            notification.child("comment")
        )
        if comment is None:
            continue
        message = comment.child("message")
        text = comment.text("text") or (message.text("text") if message is not None else None)
        if not text:
            continue
        comment_id = (
            notification.optional_id("generatedActivity")
            or comment.optional_id("entity")
            or comment.optional_id("id")
            or notification.optional_id("notificationId")
        )
        if comment_id is None:
            continue
        # The social-actions API writes {"created": {"actor": URN, "time": ms}}.
        created = comment.data.get("created")
        created_node = comment.child("created") if isinstance(created, dict) else None
        author_id = (
            comment.optional_id("actor")
            or (created_node.optional_id("actor") if created_node is not None else None)
            or comment.optional_id("owner")
            or notification.optional_id("actor")
        )
        external_id = fit_key(comment_id)
        post = notification.optional_id("sourcePost") or comment.optional_id("object")
        yield NormalizedMessage(
            external_id=external_id,
            thread_key=fit_key(post) if post else external_id,
            kind=Kind.comment,
            text=text,
            author=make_author(author_id) if author_id else None,
            # lastModifiedAt is when the notification changed: only a fallback.
            platform_created_at=(
                created_node.time("time") if created_node is not None else comment.time("created")
            )
            or notification.time("lastModifiedAt"),
            raw=notification.data,
        )
