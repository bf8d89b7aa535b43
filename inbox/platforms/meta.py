"""Meta's webhooks: Facebook Page feed, Messenger, Instagram and WhatsApp Cloud.

All four share one handshake (``hub.*`` query), one signature (``X-Hub-Signature-256``,
HMAC-SHA256 of the raw body with the app secret) and one envelope (``object`` +
``entry[]``), so one adapter serves them (SPEC.md §1, §12).

Bad input: the envelope and every shape we read must have the documented types, or the
delivery is a ``MalformedPayload`` naming the offending path. Ids may be strings or
numbers. Timestamps are informational: an unreadable one (docs placeholders such as
``"TIMESTAMP"``) becomes ``None`` instead of rejecting the whole batch. Events that are
not content (receipts, statuses, reactions, ``changed_fields``-only entries, hide/unhide,
fields we do not handle) produce no message.

Thread keys (one conversation per channel and key):

- Page feed comment / reply: ``post_id``.
- Page mention: ``post_id`` of the post that mentions the Page.
- Page review and comments on it: the review's ``open_graph_story_id`` (else ``post_id``).
- Messenger and Instagram DM: ``"<entry id>:<customer id>"``, i.e. ``"<page id>:<PSID>"`` or
  ``"<IG account id>:<IGSID>"``; the same for the customer's messages and the account's
  echoes (the customer is whichever of sender/recipient is not the entry's account).
- Instagram comment / mention: the media id (a comment without one: its own id).
- WhatsApp: ``group_id`` if present, else the sender's ``wa_id`` (``from``) or
  ``from_user_id``.

Content written by the account itself (a comment whose author id is the entry's Page or
IG account id, a Messenger echo) is ``Direction.outbound``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from inbox.normalize import Action, Direction, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms._json import Node, load_json
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)

_SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE_PREFIX = "sha256="
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Above this a unix time must be in milliseconds: as seconds it would be the year 5138.
_MIN_UNIX_MS = 100_000_000_000
_UNIX_TIME = re.compile(r"-?[0-9]+(\.[0-9]+)?")

_VERB_ACTIONS = {
    "add": Action.create,
    "edit": Action.edit,
    "edited": Action.edit,
    "remove": Action.delete,
    "delete": Action.delete,
}
_WHATSAPP_MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})


class MetaAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("facebook", "instagram", "messenger", "whatsapp")
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        if query.get("hub.mode") != "subscribe":
            raise HandshakeRefused("hub.mode must be 'subscribe'")
        challenge = query.get("hub.challenge")
        if not challenge:
            raise HandshakeRefused("hub.challenge is missing")
        if not creds.verify_token:
            raise HandshakeRefused("the channel has no verify token")
        token = query.get("hub.verify_token", "")
        if not hmac.compare_digest(token.encode(), creds.verify_token.encode()):
            raise HandshakeRefused("hub.verify_token does not match")
        return HandshakeReply(body=challenge.encode())

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        signature = headers.get(_SIGNATURE_HEADER)
        if not signature:
            raise SignatureMissing("X-Hub-Signature-256 header is missing")
        if not creds.secret:
            raise SignatureInvalid("the channel has no app secret")
        digest_hex = signature.removeprefix(_SIGNATURE_PREFIX)
        if digest_hex == signature or not _HEX_SHA256.fullmatch(digest_hex):
            raise SignatureInvalid("X-Hub-Signature-256 must be 'sha256=<64 hex digits>'")
        expected_hex = hmac.new(creds.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected_hex.encode(), digest_hex.lower().encode()):
            raise SignatureInvalid("X-Hub-Signature-256 does not match the body")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        delivery = Node.of(load_json(body), "body")
        object_type = delivery.text("object")
        if object_type is None:
            raise MalformedPayload("body.object is missing")
        messages: list[NormalizedMessage] = []
        for entry in delivery.children("entry", required=True):
            for change in entry.children("changes"):
                messages.extend(_parse_change(object_type, entry, change))
            if object_type in ("page", "instagram"):
                for item in entry.children("messaging"):
                    messages.extend(_parse_messaging(entry, item, standby=False))
                for item in entry.children("standby"):
                    messages.extend(_parse_messaging(entry, item, standby=True))
        return messages


# --- JSON access --------------------------------------------------------------------------


def _parse_change(object_type: str, entry: Node, change: Node) -> Iterator[NormalizedMessage]:
    field = change.text("field")
    value = change.child("value")
    parser = _CHANGE_PARSERS.get((object_type, field or ""))
    # A change without a value comes from a subscription without "Include Values".
    if parser is None or value is None:
        return iter(())
    return parser(entry, value)


def _page_author(value: Node) -> NormalizedAuthor | None:
    sender = value.child("from")
    if sender is not None:
        return NormalizedAuthor(platform_id=sender.id("id"), display_name=sender.text("name"))
    sender_id = value.optional_id("sender_id")
    if sender_id is None:
        return None
    return NormalizedAuthor(platform_id=sender_id, display_name=value.text("sender_name"))


def _direction(author: NormalizedAuthor | None, entry: Node) -> Direction:
    account_id = entry.optional_id("id")
    if author is not None and account_id is not None and author.platform_id == account_id:
        return Direction.outbound
    return Direction.inbound


def _verb_action(value: Node) -> Action | None:
    return _VERB_ACTIONS.get(value.text("verb") or "")


def _page_comment(
    entry: Node, value: Node, *, thread_key: str, action: Action
) -> NormalizedMessage:
    post_id = value.optional_id("post_id")
    parent_id = value.optional_id("parent_id")
    # Top-level comments name the post as their parent; only replies name a comment.
    is_reply = parent_id is not None and parent_id != post_id
    author = _page_author(value)
    photo_url = value.text("photo")
    return NormalizedMessage(
        external_id=value.id("comment_id"),
        thread_key=thread_key,
        kind=Kind.reply if is_reply else Kind.comment,
        action=action,
        direction=_direction(author, entry),
        text=value.text("message") or "",
        author=author,
        parent_external_id=parent_id if is_reply else None,
        platform_created_at=value.time("created_time"),
        attachments=({"type": "image", "url": photo_url},) if photo_url else (),
        raw=value.data,
    )


def _page_feed(entry: Node, value: Node) -> Iterator[NormalizedMessage]:
    action = _verb_action(value)
    # hide/unhide change visibility on Facebook, not the content: nothing to store.
    if value.text("item") != "comment" or action is None:
        return
    yield _page_comment(entry, value, thread_key=value.id("post_id"), action=action)


def _page_mention(entry: Node, value: Node) -> Iterator[NormalizedMessage]:
    action = _verb_action(value)
    item = value.text("item")
    if action is None or item not in ("post", "comment"):
        return
    post_id = value.id("post_id")
    author = _page_author(value)
    yield NormalizedMessage(
        external_id=value.id("comment_id") if item == "comment" else post_id,
        thread_key=post_id,
        kind=Kind.mention,
        action=action,
        direction=_direction(author, entry),
        text=value.text("message") or "",
        author=author,
        platform_created_at=value.time("created_time"),
        raw=value.data,
    )


def _page_ratings(entry: Node, value: Node) -> Iterator[NormalizedMessage]:
    action = _verb_action(value)
    item = value.text("item")
    if action is None:
        return
    if item == "comment":
        story_id = value.optional_id("open_graph_story_id") or value.id("post_id")
        yield _page_comment(entry, value, thread_key=story_id, action=action)
    elif item == "rating":
        yield _page_review(entry, value, action)


def _page_review(entry: Node, value: Node, action: Action) -> NormalizedMessage:
    story_id = value.id("open_graph_story_id")
    reviewer_id = value.optional_id("reviewer_id")
    author = (
        NormalizedAuthor(platform_id=reviewer_id, display_name=value.text("reviewer_name"))
        if reviewer_id is not None
        else None
    )
    facts = {
        "rating": value.integer("rating"),
        "recommendation_type": value.text("recommendation_type"),
    }
    return NormalizedMessage(
        external_id=story_id,
        thread_key=story_id,
        kind=Kind.review,
        action=action,
        direction=_direction(author, entry),
        text=value.text("review_text") or "",
        author=author,
        platform_created_at=value.time("created_time"),
        context={name: fact for name, fact in facts.items() if fact is not None},
        raw=value.data,
    )


def _instagram_comment(entry: Node, value: Node) -> Iterator[NormalizedMessage]:
    comment_id = value.id("id")
    media = value.child("media")
    parent_id = value.optional_id("parent_id")
    sender = value.child("from")
    author = (
        NormalizedAuthor(platform_id=sender.id("id"), handle=sender.text("username"))
        if sender is not None
        else None
    )
    media_type = media.text("media_product_type") if media is not None else None
    yield NormalizedMessage(
        external_id=comment_id,
        thread_key=media.id("id") if media is not None else comment_id,
        kind=Kind.reply if parent_id is not None else Kind.comment,
        direction=_direction(author, entry),
        text=value.text("text") or "",
        author=author,
        parent_external_id=parent_id,
        # Comment values carry no time of their own; the entry's is when Meta sent it.
        platform_created_at=entry.time("time"),
        context={"media_product_type": media_type} if media_type else {},
        raw=value.data,
    )


def _instagram_mention(entry: Node, value: Node) -> Iterator[NormalizedMessage]:
    media_id = value.id("media_id")
    # Only ids arrive; the worker fetches the text and author from the Graph API before
    # triage (inbox.content_fetch, inbox.connectors.meta.InstagramMentionFetcher).
    yield NormalizedMessage(
        external_id=value.optional_id("comment_id") or media_id,
        thread_key=media_id,
        kind=Kind.mention,
        platform_created_at=entry.time("time"),
        context={"needs_fetch": True},
        raw=value.data,
    )


def _whatsapp_messages(entry: Node, value: Node) -> Iterator[NormalizedMessage]:
    contacts: dict[str, Node] = {}
    for contact in value.children("contacts"):
        for key in ("wa_id", "user_id"):
            contact_id = contact.optional_id(key)
            if contact_id is not None:
                contacts[contact_id] = contact
    # statuses[] (sent/delivered/read/failed) report on our own messages: not content.
    for message in value.children("messages"):
        message_type = message.text("type")
        if message_type is None:
            raise MalformedPayload(f"{message.path}.type is missing")
        # A reaction is an emoji on an earlier message, not a message to triage.
        if message_type == "reaction":
            continue
        yield _whatsapp_message(message, message_type, contacts, raw=value.data)


def _whatsapp_message(
    message: Node, message_type: str, contacts: dict[str, Node], *, raw: dict[str, Any]
) -> NormalizedMessage:
    sender_id = message.optional_id("from") or message.optional_id("from_user_id")
    if sender_id is None:
        raise MalformedPayload(f"{message.path} has neither 'from' nor 'from_user_id'")
    text = ""
    attachments: tuple[dict[str, Any], ...] = ()
    if message_type == "text":
        text = message.required_child("text").text("body") or ""
    elif message_type in _WHATSAPP_MEDIA_TYPES:
        media = message.required_child(message_type)
        text = media.text("caption") or ""
        # The media id is what the Graph API needs to download the file.
        facts = {"id": media.optional_id("id"), "mime_type": media.text("mime_type")}
        attachments = (
            {"type": message_type} | {name: fact for name, fact in facts.items() if fact},
        )
    reply_context = message.child("context")
    return NormalizedMessage(
        external_id=message.id("id"),
        thread_key=message.optional_id("group_id") or sender_id,
        kind=Kind.dm,
        text=text,
        author=_whatsapp_author(sender_id, contacts.get(sender_id)),
        parent_external_id=reply_context.optional_id("id") if reply_context else None,
        platform_created_at=message.time("timestamp"),
        attachments=attachments,
        context={} if message_type == "text" else {"message_type": message_type},
        raw=raw,
    )


def _whatsapp_author(sender_id: str, contact: Node | None) -> NormalizedAuthor:
    if contact is None:
        return NormalizedAuthor(platform_id=sender_id)
    profile = contact.child("profile")
    name = profile.text("name") if profile is not None else None
    username = (profile.text("username") if profile is not None else None) or contact.text(
        "username"
    )
    return NormalizedAuthor(
        platform_id=sender_id,
        # Usernames arrive as "@name"; handles are stored without the "@" on every platform.
        handle=username.removeprefix("@") if username else None,
        display_name=name,
    )


_ChangeParser = Callable[[Node, Node], Iterator[NormalizedMessage]]
_CHANGE_PARSERS: dict[tuple[str, str], _ChangeParser] = {
    ("page", "feed"): _page_feed,
    ("page", "mention"): _page_mention,
    ("page", "ratings"): _page_ratings,
    ("instagram", "comments"): _instagram_comment,
    ("instagram", "live_comments"): _instagram_comment,
    ("instagram", "mentions"): _instagram_mention,
    ("whatsapp_business_account", "messages"): _whatsapp_messages,
}


# --- messaging[] / standby[]: Messenger and Instagram DMs ---------------------------------


def _parse_messaging(entry: Node, item: Node, *, standby: bool) -> Iterator[NormalizedMessage]:
    message = item.child("message")
    edit = item.child("message_edit")
    # Read/delivery receipts, postbacks, reactions, referrals: not content.
    if message is None and edit is None:
        return
    sender_id = item.required_child("sender").id("id")
    recipient_id = item.required_child("recipient").id("id")
    is_echo = message is not None and message.flag("is_echo")
    # The entry names the Page / IG account, so the key does not depend on who wrote.
    account_id = entry.optional_id("id") or (sender_id if is_echo else recipient_id)
    customer_id = recipient_id if sender_id == account_id else sender_id
    thread_key = f"{account_id}:{customer_id}"
    context = {"standby": True} if standby else {}
    if message is not None:
        yield _messaging_message(
            item, message, thread_key, sender_id=sender_id, is_echo=is_echo, context=context
        )
    elif edit is not None:
        yield NormalizedMessage(
            external_id=edit.id("mid"),
            thread_key=thread_key,
            kind=Kind.dm,
            action=Action.edit,
            text=edit.text("text") or "",
            author=NormalizedAuthor(platform_id=sender_id),
            platform_created_at=item.time("timestamp"),
            context=context,
            raw=item.data,
        )


def _messaging_message(
    item: Node,
    message: Node,
    thread_key: str,
    *,
    sender_id: str,
    is_echo: bool,
    context: dict[str, Any],
) -> NormalizedMessage:
    reply_to = message.child("reply_to")
    return NormalizedMessage(
        external_id=message.id("mid"),
        thread_key=thread_key,
        kind=Kind.dm,
        action=Action.delete if message.flag("is_deleted") else Action.create,
        direction=Direction.outbound if is_echo else Direction.inbound,
        text=message.text("text") or "",
        author=NormalizedAuthor(platform_id=sender_id),
        parent_external_id=reply_to.optional_id("mid") if reply_to is not None else None,
        platform_created_at=item.time("timestamp"),
        attachments=tuple(
            _messaging_attachment(attachment) for attachment in message.children("attachments")
        ),
        context=context,
        raw=item.data,
    )


def _messaging_attachment(attachment: Node) -> dict[str, Any]:
    payload = attachment.child("payload")
    url = payload.text("url") if payload is not None else None
    normalized: dict[str, Any] = {"type": attachment.text("type") or "unknown"}
    if url:
        normalized["url"] = url
    return normalized
