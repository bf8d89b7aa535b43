"""Telegram Bot API webhooks.

Verification (SPEC.md §5): ``setWebhook(secret_token=…)`` makes Telegram send the header
``X-Telegram-Bot-Api-Secret-Token`` with every update: a shared secret (not an HMAC),
compared in constant time with the channel's secret. There is no timestamp, so no replay
window; repeats are deduplicated on the message ids. There is no GET handshake.

One update carries one of ``message``, ``edited_message`` (``Action.edit``),
``channel_post``, ``edited_channel_post``; everything else (``callback_query``, polls,
member updates, ...) produces nothing. The guide's examples are old-style (``from`` without
``is_bot``, a ``chat`` without ``type``), so the parser is defensive: a chat without a type
counts as private when its id is positive (groups and channels have negative ids).

Keys: message ids are unique only within a chat, so external_id is
``"<chat id>:<message_id>"``; the thread is the chat (``str(chat.id)``). A reply names its
parent as ``"<chat id>:<reply_to_message.message_id>"``, with the chat the replied-to
message says it is in. Kind: ``dm`` in private chats; ``comment`` in groups and channels,
``reply`` there when it answers another message. A channel post has no ``from``: the
channel (``sender_chat``) is the author. Telegram shows no follower counts.

Text is ``text`` or a media ``caption``; media are recorded as attachments by their
``file_id`` (the connector downloads them through ``getFile`` if needed).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms._json import Node, load_json, make_author
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    SignatureInvalid,
    SignatureMissing,
)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
_UPDATES = {
    "message": Action.create,
    "edited_message": Action.edit,
    "channel_post": Action.create,
    "edited_channel_post": Action.edit,
}
_MEDIA = ("document", "video", "audio", "voice", "animation", "sticker", "video_note")


class TelegramAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("telegram",)
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        raise HandshakeRefused("Telegram has no verification handshake")

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        token = headers.get(SECRET_HEADER)
        if not token:
            raise SignatureMissing("X-Telegram-Bot-Api-Secret-Token header is missing")
        if not creds.secret:
            raise SignatureInvalid("the channel has no secret token")
        if not hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), creds.secret.encode("utf-8", "surrogatepass")
        ):
            raise SignatureInvalid("X-Telegram-Bot-Api-Secret-Token does not match")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        update = Node.of(load_json(body), "body")
        update.integer("update_id")  # type-checked, not needed: ids below are the dedup keys
        for field, action in _UPDATES.items():
            message = update.child(field)
            if message is not None:
                return [_message(message, action, raw=update.data)]
        return []


def _message(message: Node, action: Action, *, raw: dict[str, Any]) -> NormalizedMessage:
    chat = message.required_child("chat")
    chat_id = chat.id("id")
    chat_type = chat.text("type") or _guess_chat_type(chat_id)
    reply_to = message.child("reply_to_message")
    parent_id: str | None = None
    if reply_to is not None:
        reply_chat = reply_to.child("chat")
        parent_chat = reply_chat.id("id") if reply_chat is not None else chat_id
        parent_id = f"{parent_chat}:{reply_to.id('message_id')}"
    if chat_type == "private":
        kind = Kind.dm
    else:
        kind = Kind.reply if parent_id is not None else Kind.comment
    context: dict[str, Any] = {"chat_type": chat_type}
    title = chat.text("title")
    if title:
        context["chat_title"] = title
    forward = _forward_origin(message)
    if forward:
        context["forwarded_from"] = forward
    return NormalizedMessage(
        external_id=f"{chat_id}:{message.id('message_id')}",
        thread_key=chat_id,
        kind=kind,
        action=action,
        text=message.text("text") or message.text("caption") or "",
        author=_author(message, chat, chat_type),
        parent_external_id=parent_id,
        platform_created_at=message.time("date"),
        attachments=_attachments(message),
        context=context,
        raw=raw,
    )


def _guess_chat_type(chat_id: str) -> str:
    return "group" if chat_id.startswith("-") else "private"


def _author(message: Node, chat: Node, chat_type: str) -> NormalizedAuthor | None:
    sender = message.child("from")
    if sender is not None:
        return make_author(
            sender.id("id"),
            handle=sender.text("username"),
            display_name=_full_name(sender),
        )
    # Channel posts (and anonymous group admins) are written in the name of a chat.
    sender_chat = message.child("sender_chat") or (chat if chat_type == "channel" else None)
    if sender_chat is None:
        return None
    return make_author(
        sender_chat.id("id"),
        handle=sender_chat.text("username"),
        display_name=sender_chat.text("title") or _full_name(sender_chat),
    )


def _full_name(user: Node) -> str | None:
    name = " ".join(part for part in (user.text("first_name"), user.text("last_name")) if part)
    return name or None


def _forward_origin(message: Node) -> dict[str, Any] | None:
    origin = message.child("forward_from") or message.child("forward_from_chat")
    if origin is None:
        return None
    forwarded: dict[str, Any] = {"id": origin.id("id")}
    name = origin.text("title") or _full_name(origin)
    if name:
        forwarded["name"] = name
    return forwarded


def _attachments(message: Node) -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []
    photos = message.children("photo")
    if photos:
        # Telegram sends each photo in several sizes; the last is the largest.
        found.append(_file("photo", photos[-1]))
    for media_type in _MEDIA:
        media = message.child(media_type)
        if media is not None:
            found.append(_file(media_type, media))
    return tuple(found)


def _file(media_type: str, media: Node) -> dict[str, Any]:
    facts = {
        "file_id": media.optional_id("file_id"),
        "filename": media.text("file_name"),
        "content_type": media.text("mime_type"),
        "size_bytes": media.integer("file_size"),
    }
    return {"type": media_type} | {name: fact for name, fact in facts.items() if fact is not None}
