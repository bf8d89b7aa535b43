"""The generic channel: Standard Webhooks deliveries carrying our own message events.

Verification follows the Standard Webhooks spec (SPEC.md §11): HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{raw body}`` with the decoded ``whsec_`` secret, any
matching ``v1`` signature accepted (key rotation), timestamps within five minutes.

The body is the public interface of PRODUCT.md::

    {"type": "message.created" | "message.updated" | "message.deleted",
     "timestamp": ISO-8601,
     "data": {"id", "text", "author": {"id", "name", "handle"?, "followers"?},
              "thread_id"?, "parent_id"?, "kind"?, "url"?, "language"?, "created_at"}}

Other event types are accepted and ignored. Thread key: ``thread_id``, else ``parent_id``,
else the message's own id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)

TOLERANCE_S = 5 * 60
_SECRET_PREFIX = "whsec_"
_UNIX_SECONDS = re.compile(r"[0-9]{1,15}")
_ACTIONS = {
    "message.created": Action.create,
    "message.updated": Action.edit,
    "message.deleted": Action.delete,
}

# Senders often serialise their ids as numbers; ours are strings.
_Id = Annotated[str, Field(min_length=1, coerce_numbers_to_str=True)]


class _Author(BaseModel):
    id: _Id
    name: str
    handle: str | None = None
    followers: Annotated[int, Field(ge=0, strict=True)] | None = None


class _MessageData(BaseModel):
    id: _Id
    text: str | None = None
    author: _Author | None = None
    thread_id: _Id | None = None
    parent_id: _Id | None = None
    kind: Kind | None = None
    url: str | None = None
    language: Annotated[str, Field(min_length=2, max_length=35)] | None = None
    created_at: datetime | None = None

    @field_validator("url")
    @classmethod
    def _web_url(cls, url: str | None) -> str | None:
        # The dashboard renders it as a link: no javascript: or data: URLs.
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return url


class _MessageEvent(BaseModel):
    type: Literal["message.created", "message.updated", "message.deleted"]
    timestamp: datetime | None = None
    data: _MessageData

    @model_validator(mode="after")
    def _content_unless_deleted(self) -> _MessageEvent:
        if self.type != "message.deleted" and (self.data.text is None or self.data.author is None):
            raise ValueError(f"{self.type} needs data.text and data.author")
        return self


class StandardWebhooksAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("standard-webhooks",)
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        raise HandshakeRefused("Standard Webhooks has no verification handshake")

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        names = ("webhook-id", "webhook-timestamp", "webhook-signature")
        msg_id, timestamp, signatures = (headers.get(name) for name in names)
        if not msg_id or not timestamp or not signatures:
            missing = ", ".join(name for name in names if not headers.get(name))
            raise SignatureMissing(f"missing header(s): {missing}")
        key = _signing_key(creds.secret)
        if not _UNIX_SECONDS.fullmatch(timestamp):
            raise SignatureInvalid("webhook-timestamp must be unix seconds")
        if abs(now_s - int(timestamp)) > TOLERANCE_S:
            raise SignatureInvalid(
                f"webhook-timestamp is outside the tolerance of {TOLERANCE_S} s from now"
            )
        signed_content = f"{msg_id}.{timestamp}.".encode() + body
        expected = hmac.new(key, signed_content, hashlib.sha256).digest()
        for signature in signatures.split(" "):
            version, _, encoded = signature.partition(",")
            if version == "v1" and hmac.compare_digest(_b64_or_empty(encoded), expected):
                return
        raise SignatureInvalid("no v1 signature in webhook-signature matches the body")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        try:
            payload: Any = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MalformedPayload("body is not valid JSON") from exc
        if not isinstance(payload, dict):
            raise MalformedPayload("body must be a JSON object")
        event_type = payload.get("type")
        if event_type is not None and not isinstance(event_type, str):
            raise MalformedPayload("type must be a string")
        if event_type not in _ACTIONS:
            return []
        try:
            event = _MessageEvent.model_validate(payload)
        except ValidationError as exc:
            raise MalformedPayload(f"invalid {event_type} event: {_describe(exc)}") from exc
        return [_normalize(event, raw=payload)]


def _signing_key(secret: str | None) -> bytes:
    try:
        key = base64.b64decode((secret or "").removeprefix(_SECRET_PREFIX), validate=True)
    except ValueError:  # binascii.Error, or non-ASCII characters
        key = b""
    if not key:
        raise SignatureInvalid("the channel's secret is not a whsec_<base64> signing secret")
    return key


def _b64_or_empty(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return b""


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _normalize(event: _MessageEvent, *, raw: dict[str, Any]) -> NormalizedMessage:
    data = event.data
    author = data.author
    return NormalizedMessage(
        external_id=data.id,
        thread_key=data.thread_id or data.parent_id or data.id,
        kind=data.kind or (Kind.reply if data.parent_id else Kind.comment),
        action=_ACTIONS[event.type],
        text=data.text or "",
        author=(
            NormalizedAuthor(
                platform_id=author.id,
                handle=author.handle,
                display_name=author.name,
                reach_followers=author.followers,
            )
            if author is not None
            else None
        ),
        parent_external_id=data.parent_id,
        platform_created_at=_as_utc(data.created_at or event.timestamp),
        language=data.language,
        url=data.url,
        raw=raw,
    )
