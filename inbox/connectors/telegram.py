"""Replies through the Telegram Bot API.

``POST /bot<token>/sendMessage`` with ``{"chat_id": <the chat>, "text": ..., "reply_parameters":
{"message_id": <the message answered>, "allow_sending_without_reply": true}}`` (the chat is
the conversation's thread key; message ids as :mod:`inbox.platforms.telegram` keys them,
``"<chat id>:<message id>"``). Answers ``{"ok": true, "result": <Message>}``; the reply is
recorded as ``"<chat id>:<result.message_id>"``, the key an update about it would get.

The token is part of the URL by Telegram's design, so every error text is scrubbed of it.
Errors are ``{"ok": false, "error_code", "description", "parameters": {"retry_after"}}``:
429 (with ``retry_after`` seconds) and 5xx are retried; others ("bot was blocked by the
user", "chat not found") are permanent. The Bot API has no idempotency key.
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
    default_retry_after,
    post_json,
    require,
    text_field,
)

TEXT_LIMIT = 4096


def telegram_error_text(response: httpx.Response, body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("description"), str):
        return str(body["description"])
    return default_error_text(response, body)


def telegram_retry_after(response: httpx.Response, body: Any) -> float | None:
    if isinstance(body, Mapping):
        parameters = body.get("parameters")
        if isinstance(parameters, Mapping):
            value = parameters.get("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return default_retry_after(response, body)


def _chat_id(key: str) -> int | str:
    """Numeric chat ids as integers, ``@channelusername`` as given."""
    try:
        return int(key)
    except ValueError:
        return key


class TelegramConnector:
    platforms: ClassVar[tuple[str, ...]] = ("telegram",)
    credential_keys: ClassVar[tuple[str, ...]] = ("bot_token",)

    def text_limit(self, platform: str, conversation_kind: str) -> int:
        return TEXT_LIMIT

    def missing_credentials(self, platform: str, credentials: Mapping[str, str]) -> list[str]:
        return [] if credentials.get("bot_token") else ["bot_token"]

    def account_id(
        self, platform: str, credentials: Mapping[str, str], thread_key: str
    ) -> str | None:
        # A bot token is "<bot id>:<secret>": the bot's user id is public, the rest is not.
        bot_id, sep, _ = credentials.get("bot_token", "").partition(":")
        return bot_id if sep and bot_id.isdigit() else None

    async def send(self, reply: OutboundReply, transport: Transport) -> SendResult:
        token = require(reply.credentials, "bot_token", reply.platform)
        chat_key = reply.thread_key
        payload: dict[str, Any] = {"chat_id": _chat_id(chat_key), "text": reply.text}
        target = reply.target
        if target is not None:
            target_chat, _, target_message = target.external_id.rpartition(":")
            if target_chat == chat_key and target_message.isdigit():
                payload["reply_parameters"] = {
                    "message_id": int(target_message),
                    "allow_sending_without_reply": True,
                }
        body = await post_json(
            transport,
            f"{transport.endpoints.telegram_api.rstrip('/')}/bot{token}/sendMessage",
            json=payload,
            error_text=telegram_error_text,
            retry_after=telegram_retry_after,
            secrets=(token,),
        )
        message_id = text_field(body, "result", "message_id")
        return SendResult(
            external_id=f"{chat_key}:{message_id}" if message_id else None,
            response=dict(body) if isinstance(body, Mapping) else {},
        )
