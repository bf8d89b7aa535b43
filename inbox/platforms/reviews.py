"""Review platforms: Google Business Profile (via Cloud Pub/Sub push) and Trustpilot.

Both are verified by a URL token (``?token=`` equal to the channel's verify token, compared
in constant time; see :mod:`inbox.platforms._url_token`), and neither has a GET handshake.

Google Business Profile (SPEC.md §4): a Pub/Sub push ``{"message": {"data": <base64>,
"attributes", "messageId", "publishTime"}, "subscription"}``; ``data`` decodes to the
notification JSON, whose names public integrations disagree on, so both spellings are
read: ``notificationType`` or ``type``, ``reviewName`` / ``review_name`` / ``review``,
``locationName`` / ``location_name`` / ``location``. Google can sign the push with an OIDC
JWT (``Authorization: Bearer``) that cannot be verified offline (it needs Google's
rotating public keys): that check is a follow-up; until then the URL token protects the
endpoint. ``NEW_REVIEW`` and ``UPDATED_REVIEW`` become a ``Kind.review`` message with empty
text and context ``{"needs_fetch": true, "review_name", "notification_type", ...}``: the
review (reviewer, stars, comment) is not in the notification: the worker fetches it before
triage (``inbox.content_fetch``, ``inbox.connectors.google``). Every
other notification type produces nothing. external_id = ``messageId`` ("unique within the
topic", so an update is a message of its own that asks for a fresh fetch); thread_key = the
review's resource name, so every notification of one review lands in one conversation.

Trustpilot (SPEC.md §8): ``{"events": [{"eventName", "version", "eventData": {...}}]}``;
``service-review-created`` / ``-updated`` / ``-deleted`` become create / edit / delete of a
``Kind.review`` whose external_id and thread_key are the review id (so a repeat adds
nothing, an update changes the text, a deletion marks it). Text is the title, a blank
line and the text; stars and title go into context; the consumer is the author. Other
event names produce nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from inbox.normalize import Action, Kind, NormalizedMessage
from inbox.platforms._json import Node, fit_key, language_code, load_json, make_author
from inbox.platforms._url_token import verify_url_token
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
)

_GOOGLE_REVIEW_TYPES = frozenset({"NEW_REVIEW", "UPDATED_REVIEW"})
_TRUSTPILOT_ACTIONS = {
    "service-review-created": Action.create,
    "service-review-updated": Action.edit,
    "service-review-deleted": Action.delete,
}


class _UrlTokenAdapter:
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        raise HandshakeRefused("this platform has no verification handshake")

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        verify_url_token(creds, query)


# --- Google Business Profile ----------------------------------------------------------------


class GoogleBusinessAdapter(_UrlTokenAdapter):
    platforms: ClassVar[tuple[str, ...]] = ("google-business",)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        push = Node.of(load_json(body), "body")
        message = push.required_child("message")
        message_id = message.optional_id("messageId") or message.optional_id("message_id")
        if message_id is None:
            raise MalformedPayload("body.message.messageId is missing")
        data = message.text("data")
        if not data:
            return []
        notification = Node.of(load_json(_b64decode(data), "body.message.data"), "data")
        notification_type = notification.text("notificationType") or notification.text("type")
        review_name = _resource_name(notification, "reviewName", "review_name", "review")
        if review_name is None or (
            notification_type is not None and notification_type not in _GOOGLE_REVIEW_TYPES
        ):
            return []
        context: dict[str, Any] = {"needs_fetch": True, "review_name": review_name}
        if notification_type:
            context["notification_type"] = notification_type
        location = _resource_name(notification, "locationName", "location_name", "location")
        if location:
            context["location_name"] = location
        raw = {key: value for key, value in message.data.items() if key != "data"}
        raw["data"] = notification.data
        subscription = push.text("subscription")
        if subscription:
            raw["subscription"] = subscription
        return [
            NormalizedMessage(
                external_id=fit_key(message_id),
                thread_key=fit_key(review_name),
                kind=Kind.review,
                platform_created_at=message.time("publishTime") or message.time("publish_time"),
                context=context,
                raw=raw,
            )
        ]


def _b64decode(data: str) -> bytes:
    # Pub/Sub writes standard base64; accept the URL-safe alphabet and missing padding too.
    padded = data.replace("-", "+").replace("_", "/") + "=" * (-len(data) % 4)
    try:
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedPayload("body.message.data is not base64") from None


def _resource_name(notification: Node, *keys: str) -> str | None:
    for key in keys:
        value = notification.data.get(key)
        if isinstance(value, dict):  # {"name": "accounts/…/reviews/…", ...}
            value = Node.of(value, notification.where(key)).text("name")
        elif value is not None:
            value = notification.text(key)
        if value:
            return str(value)
    return None


# --- Trustpilot -----------------------------------------------------------------------------


class TrustpilotAdapter(_UrlTokenAdapter):
    platforms: ClassVar[tuple[str, ...]] = ("trustpilot",)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        delivery = Node.of(load_json(body), "body")
        return list(_trustpilot_events(delivery.children("events", required=True)))


def _trustpilot_events(events: list[Node]) -> Iterator[NormalizedMessage]:
    for event in events:
        action = _TRUSTPILOT_ACTIONS.get(event.text("eventName") or "")
        if action is None:
            continue
        review = event.required_child("eventData")
        review_id = fit_key(review.id("id"))
        title, text, stars = review.text("title"), review.text("text"), review.integer("stars")
        consumer = review.child("consumer")
        consumer_id = consumer.optional_id("id") if consumer is not None else None
        context: dict[str, Any] = {}
        if stars is not None:
            context["stars"] = stars
        if title:
            context["title"] = title
        yield NormalizedMessage(
            external_id=review_id,
            thread_key=review_id,
            kind=Kind.review,
            action=action,
            text="\n\n".join(part for part in (title, text) if part),
            author=(
                make_author(consumer_id, display_name=consumer.text("name"))
                if consumer is not None and consumer_id is not None
                else None
            ),
            platform_created_at=review.time("createdAt"),
            language=language_code(review.text("language")),
            context=context,
            raw=event.data,
        )
