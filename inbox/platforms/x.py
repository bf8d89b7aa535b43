"""X (Twitter): the Account Activity API (AAA) and the X Activity API (XAA).

Handshake (SPEC.md §2): the CRC ``GET ?crc_token=…`` is answered with JSON
``{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}``.
Deliveries carry ``x-twitter-webhooks-signature: sha256=<base64>``, the same HMAC over the
raw body. The scheme has no timestamp, so there is no replay window (repeats are
deduplicated on content ids instead).

Payloads:

- AAA ``{"for_user_id", "tweet_create_events": [<v1.1 Tweet>], "direct_message_events":
  [...], "users": {id: {...}}, "tweet_delete_events": [...]}``. Ids are always read from
  the ``*_str`` fields (the numeric ones lose precision in the senders' JSON); a long
  post's text is ``extended_tweet.full_text``; ``user.followers_count`` is the reach.
  Retweets carry no text of their own and produce nothing; so do read receipts
  (``direct_message_mark_read_events``), typing indicators, favourites and follows.
- XAA ``{"data": {"event_uuid", "filter": {"user_id"}, "event_type", "payload",
  "includes": {"users": [...]}}}``: ``post.mention.create`` / ``post.reply.create`` /
  ``post.quote.create`` (a v2 post in ``payload``) and ``dm.received`` / ``dm.sent``
  (``payload.direct_message_events`` with ``payload.users[id].data``). Other event types
  produce nothing.

Keys:

- external_id: the post id, or the DM event id. These are content ids, so the same post
  delivered through AAA and XAA, through a replay job, or once per subscribed user (X sends
  one event per ``for_user_id``) is stored once. XAA's ``event_uuid`` identifies the
  delivery, not the content: it is kept in ``context`` for tracing only.
- thread_key of a post: XAA gives ``conversation_id`` (the thread's root post). An AAA
  event carries no conversation id, and the ``in_reply_to_status_id_str`` chain cannot be
  followed from one event, so the thread is the post it replies to, else the post itself:
  all direct replies to one of our posts share a conversation, a mention starts its own,
  and our answer to a mention (a reply to it) lands in the mention's conversation.
- thread_key of a DM: the two user ids, sorted, joined by ``-``.

Kinds: a reply is ``Kind.reply``; mentions and quotes are ``Kind.mention`` (a quote records
``quoted_status_id`` in context); DMs are ``Kind.dm``. Content written by the subscribed
account itself (``for_user_id`` / ``filter.user_id``) is ``Direction.outbound``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar

from inbox.normalize import Action, Direction, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms._json import Node, language_code, load_json, make_author
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    SignatureInvalid,
    SignatureMissing,
)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
_SIGNATURE_PREFIX = "sha256="
_POST_EVENTS = {
    "post.mention.create": Kind.mention,
    "post.reply.create": Kind.reply,
    "post.quote.create": Kind.mention,
}
_DM_EVENTS = frozenset({"dm.received", "dm.sent"})
# v1.1 "created_at": "Wed Aug 19 16:26:16 +0000 2020" (English names whatever the locale).
_V1_TIME = re.compile(
    r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) "
    r"([+-][0-9]{4}) ([0-9]{4})"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
# v1.1 text escapes exactly these three characters as HTML entities.
_V1_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def crc_response_token(secret: str, crc_token: str) -> str:
    digest = hmac.new(secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return _SIGNATURE_PREFIX + base64.b64encode(digest).decode()


class XAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("x",)
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        crc_token = query.get("crc_token")
        if not crc_token:
            raise HandshakeRefused("crc_token is missing")
        if not creds.secret:
            raise HandshakeRefused("the channel has no consumer secret")
        body = json.dumps({"response_token": crc_response_token(creds.secret, crc_token)})
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
            raise SignatureMissing("x-twitter-webhooks-signature header is missing")
        if not creds.secret:
            raise SignatureInvalid("the channel has no consumer secret")
        encoded = signature.removeprefix(_SIGNATURE_PREFIX)
        try:
            digest = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if encoded == signature or not digest:
            raise SignatureInvalid("x-twitter-webhooks-signature must be 'sha256=<base64>'")
        expected = hmac.new(creds.secret.encode(), body, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, digest):
            raise SignatureInvalid("x-twitter-webhooks-signature does not match the body")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        delivery = Node.of(load_json(body), "body")
        if delivery.has("data"):
            return list(_xaa(delivery.required_child("data")))
        return list(_aaa(delivery))


# --- Account Activity API -------------------------------------------------------------------


def _aaa(delivery: Node) -> Iterator[NormalizedMessage]:
    account_id = delivery.optional_id("for_user_id")
    users = delivery.mapping("users")
    for tweet in delivery.children("tweet_create_events"):
        message = _v1_tweet(tweet, account_id)
        if message is not None:
            yield message
    for event in delivery.children("direct_message_events"):
        message = _dm_event(event, users, account_id)
        if message is not None:
            yield message
    for deletion in delivery.children("tweet_delete_events"):
        status = deletion.required_child("status")
        tweet_id = status.id("id")
        user_id = status.optional_id("user_id")
        yield NormalizedMessage(
            external_id=tweet_id,
            thread_key=tweet_id,
            kind=Kind.mention,
            action=Action.delete,
            author=make_author(user_id) if user_id else None,
            platform_created_at=deletion.time("timestamp_ms"),
            raw=deletion.data,
        )


def _v1_tweet(tweet: Node, account_id: str | None) -> NormalizedMessage | None:
    # A retweet repeats someone's post without adding text: nothing to answer.
    if tweet.has("retweeted_status"):
        return None
    tweet_id = tweet.optional_id("id_str") or tweet.id("id")
    user = tweet.required_child("user")
    author = make_author(
        user.optional_id("id_str") or user.id("id"),
        handle=user.text("screen_name"),
        display_name=user.text("name"),
        followers=user.integer("followers_count"),
    )
    parent_id = tweet.optional_id("in_reply_to_status_id_str") or tweet.optional_id(
        "in_reply_to_status_id"
    )
    extended = tweet.child("extended_tweet")
    text = (
        (extended.text("full_text") if extended is not None else None)
        or tweet.text("full_text")
        or tweet.text("text")
        or ""
    )
    for entity, character in _V1_ENTITIES:
        text = text.replace(entity, character)
    context: dict[str, object] = {}
    if tweet.flag("is_quote_status"):
        quoted = tweet.optional_id("quoted_status_id_str") or tweet.optional_id("quoted_status_id")
        if quoted is not None:
            context["quoted_status_id"] = quoted
    media_holder = extended if extended is not None and extended.has("extended_entities") else tweet
    return NormalizedMessage(
        external_id=tweet_id,
        thread_key=parent_id or tweet_id,
        kind=Kind.reply if parent_id else Kind.mention,
        direction=_direction(author.platform_id, account_id),
        text=text,
        author=author,
        parent_external_id=parent_id,
        platform_created_at=_v1_time(tweet),
        language=language_code(tweet.text("lang")),
        url=_post_url(author.handle, tweet_id),
        attachments=_v1_media(media_holder),
        context=context,
        raw=tweet.data,
    )


def _v1_time(tweet: Node) -> datetime | None:
    created = tweet.text("created_at")
    match = _V1_TIME.fullmatch(created or "")
    if match is not None and match.group(1) in _MONTHS:
        month, day, hour, minute, second, offset, year = match.groups()
        try:
            parsed = datetime.strptime(
                f"{year}-{_MONTHS[month]:02d}-{day} {hour}:{minute}:{second} {offset}",
                "%Y-%m-%d %H:%M:%S %z",
            )
        except ValueError:
            return tweet.time("timestamp_ms")
        return parsed.astimezone(UTC)
    # Not the v1.1 format: unix time or ISO 8601 (unreadable values become None).
    return tweet.time("timestamp_ms") or tweet.time("created_at")


def _v1_media(holder: Node) -> tuple[dict[str, object], ...]:
    entities = holder.child("extended_entities")
    if entities is None:
        return ()
    attachments: list[dict[str, object]] = []
    for media in entities.children("media"):
        item: dict[str, object] = {"type": media.text("type") or "media"}
        url = media.text("media_url_https")
        if url:
            item["url"] = url
        attachments.append(item)
    return tuple(attachments)


def _dm_event(
    event: Node, users: Mapping[str, Node], account_id: str | None
) -> NormalizedMessage | None:
    if event.text("type") != "message_create":
        return None
    create = event.required_child("message_create")
    sender_id = create.id("sender_id")
    recipient_id = create.required_child("target").id("recipient_id")
    data = create.child("message_data")
    attachments: tuple[dict[str, object], ...] = ()
    attachment = data.child("attachment") if data is not None else None
    if attachment is not None:
        media = attachment.child("media")
        item: dict[str, object] = {
            "type": (media.text("type") if media else None) or attachment.text("type") or "media"
        }
        url = media.text("media_url_https") if media is not None else None
        if url:
            item["url"] = url
        attachments = (item,)
    return NormalizedMessage(
        external_id=event.id("id"),
        thread_key="-".join(sorted((sender_id, recipient_id))),
        kind=Kind.dm,
        direction=_direction(sender_id, account_id),
        text=(data.text("text") if data is not None else None) or "",
        author=_user_author(sender_id, users.get(sender_id)),
        platform_created_at=event.time("created_timestamp"),
        attachments=attachments,
        raw=event.data,
    )


def _user_author(user_id: str, user: Node | None) -> NormalizedAuthor:
    """An author from a v1.1 user, or a v2 user (possibly wrapped in ``{"data": ...}``)."""
    if user is None:
        return make_author(user_id)
    user = user.child("data") or user
    metrics = user.child("public_metrics")
    followers = metrics.integer("followers_count") if metrics is not None else None
    if followers is None and metrics is not None:
        followers = metrics.integer("followers_count_str")
    if followers is None:
        followers = user.integer("followers_count")
    return make_author(
        user_id,
        handle=user.text("username") or user.text("screen_name"),
        display_name=user.text("name"),
        followers=followers,
    )


# --- X Activity API -------------------------------------------------------------------------


def _xaa(envelope: Node) -> Iterator[NormalizedMessage]:
    event_type = envelope.required_text("event_type")
    event_filter = envelope.child("filter")
    account_id = event_filter.optional_id("user_id") if event_filter is not None else None
    event_uuid = envelope.optional_id("event_uuid")
    context: dict[str, object] = {"event_uuid": event_uuid} if event_uuid else {}
    if event_type in _POST_EVENTS:
        payload = envelope.required_child("payload")
        includes = envelope.child("includes")
        users = {user.id("id"): user for user in (includes.children("users") if includes else [])}
        yield _v2_post(payload, _POST_EVENTS[event_type], users, account_id, context)
    elif event_type in _DM_EVENTS:
        payload = envelope.required_child("payload")
        users = payload.mapping("users")
        for event in payload.children("direct_message_events"):
            message = _dm_event(event, users, account_id)
            if message is not None:
                yield replace(message, context=context)


def _v2_post(
    post: Node,
    kind: Kind,
    users: Mapping[str, Node],
    account_id: str | None,
    context: dict[str, object],
) -> NormalizedMessage:
    post_id = post.id("id")
    author_id = post.id("author_id")
    author = _user_author(author_id, users.get(author_id))
    parent_id = post.optional_id("in_reply_to_tweet_id")
    quoted_id: str | None = None
    for reference in post.children("referenced_tweets"):
        reference_type = reference.text("type")
        if reference_type == "replied_to" and parent_id is None:
            parent_id = reference.id("id")
        elif reference_type == "quoted":
            quoted_id = reference.id("id")
    if quoted_id is not None:
        context = {**context, "quoted_status_id": quoted_id}
    return NormalizedMessage(
        external_id=post_id,
        thread_key=post.optional_id("conversation_id") or parent_id or post_id,
        kind=kind,
        direction=_direction(author_id, account_id),
        text=post.text("text") or "",
        author=author,
        parent_external_id=parent_id,
        platform_created_at=post.time("created_at"),
        language=language_code(post.text("lang")),
        url=_post_url(author.handle, post_id),
        context=context,
        raw=post.data,
    )


# --- shared ---------------------------------------------------------------------------------


def _direction(author_id: str, account_id: str | None) -> Direction:
    if account_id is not None and author_id == account_id:
        return Direction.outbound
    return Direction.inbound


def _post_url(handle: str | None, post_id: str) -> str | None:
    if not (post_id.isascii() and post_id.isdigit()):
        return None
    if handle and handle.isascii() and handle.replace("_", "").isalnum():
        return f"https://x.com/{handle}/status/{post_id}"
    return f"https://x.com/i/web/status/{post_id}"
