"""TelegramAdapter: the secret-token header and every update shape we handle.

Expected values were written by reading ``../shared/webhooks/telegram`` (the webhook guide's
examples: old style, ``from`` without ``is_bot``, one chat without ``type``) and SPEC.md §5.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.telegram import TelegramAdapter
from tests.fixtures_shared import shared_path

TELEGRAM = TelegramAdapter()
SECRET_TOKEN = "Leitstand_bot-secret_0123456789"
CREDS = ChannelCredentials(secret=SECRET_TOKEN, verify_token=None)
HEADER = "x-telegram-bot-api-secret-token"


def at(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def parse_json(payload: Any) -> list[NormalizedMessage]:
    return TELEGRAM.parse(json.dumps(payload).encode(), {})


# --- secret token ---------------------------------------------------------------------------


def test_matching_secret_token_verifies() -> None:
    TELEGRAM.verify(CREDS, {HEADER: SECRET_TOKEN}, b"{}", now_s=0)


@pytest.mark.parametrize("token", ["wrong", SECRET_TOKEN + "x", SECRET_TOKEN[:-1], "Ä"])
def test_wrong_secret_token_is_403(token: str) -> None:
    with pytest.raises(SignatureInvalid):
        TELEGRAM.verify(CREDS, {HEADER: token}, b"{}", now_s=0)


def test_missing_secret_token_is_401() -> None:
    with pytest.raises(SignatureMissing):
        TELEGRAM.verify(CREDS, {}, b"{}", now_s=0)


def test_channel_without_secret_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        TELEGRAM.verify(
            ChannelCredentials(secret=None, verify_token=None), {HEADER: "x"}, b"{}", now_s=0
        )


def test_there_is_no_handshake() -> None:
    with pytest.raises(HandshakeRefused):
        TELEGRAM.handshake(CREDS, {})


# --- every fixture in ../shared/webhooks/telegram ---------------------------------------------

TESTER = NormalizedAuthor(
    platform_id="1111111", handle="Testusername", display_name="Test Firstname Test Lastname"
)
PRIVATE_TEXT = NormalizedMessage(
    external_id="1111111:1365",  # message ids are per chat
    thread_key="1111111",
    kind=Kind.dm,
    text="/start",
    author=TESTER,
    platform_created_at=at(2015, 9, 7, 17, 5, 32),
    context={"chat_type": "private"},
)


def as_is(body: bytes) -> bytes:
    return body


BodyBuilder = Callable[[bytes], bytes]
SHARED_TELEGRAM_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    "telegram/guide_callback_query.json": (as_is, []),  # a button press, not content
    "telegram/guide_edited_message.json": (
        as_is,
        [replace(PRIVATE_TEXT, action=Action.edit, text="Edited text")],
    ),
    "telegram/guide_forwarded_message.json": (
        as_is,
        [
            replace(
                PRIVATE_TEXT,
                context={
                    "chat_type": "private",
                    "forwarded_from": {
                        "id": "222222",
                        "name": "Forward Firstname Forward Lastname",
                    },
                },
            )
        ],
    ),
    "telegram/guide_message_document.json": (
        as_is,
        [
            replace(
                PRIVATE_TEXT,
                text="",
                attachments=(
                    {
                        "type": "document",
                        "file_id": "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX",
                        "filename": "Testfile.pdf",
                        "content_type": "application/pdf",
                        "size_bytes": 536392,
                    },
                ),
            )
        ],
    ),
    "telegram/guide_message_reply.json": (
        as_is,
        # The replied-to message names chat 1111112: its id is taken in that chat.
        [replace(PRIVATE_TEXT, parent_external_id="1111112:1334")],
    ),
    "telegram/guide_message_text.json": (as_is, [PRIVATE_TEXT]),
    # No chat.type: a positive chat id is a private chat.
    "telegram/guide_message_text_minimal.json": (
        as_is,
        [
            replace(
                PRIVATE_TEXT,
                author=NormalizedAuthor(
                    platform_id="1111111", handle="Test", display_name="Test Test Lastname"
                ),
            )
        ],
    ),
}


@pytest.mark.parametrize("fixture", sorted(SHARED_TELEGRAM_CASES))
def test_shared_telegram_fixture(fixture: str) -> None:
    body = shared_path("webhooks", *fixture.split("/")).read_bytes()
    build, expected = SHARED_TELEGRAM_CASES[fixture]
    # raw is the whole update (it is small, and names its update_id).
    assert TELEGRAM.parse(build(body), {}) == [
        replace(message, raw=json.loads(body)) for message in expected
    ]


def test_every_telegram_fixture_has_a_case() -> None:
    present = {f"telegram/{path.name}" for path in shared_path("webhooks", "telegram").glob("*")}
    assert present == set(SHARED_TELEGRAM_CASES)


# --- our own updates, written from the Bot API's Update object --------------------------------


def group_message(**fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 77,
        "date": 1795420800,
        "chat": {"id": -1001234567890, "type": "supergroup", "title": "Stadtwerke Community"},
        "from": {"id": 42, "is_bot": False, "first_name": "Erika", "username": "erika_m"},
        "text": "Hat noch jemand keinen Strom?",
    }
    return {"update_id": 900, "message": message | fields}


ERIKA = NormalizedAuthor(platform_id="42", handle="erika_m", display_name="Erika")


def test_own_group_message_is_a_comment() -> None:
    update = group_message()
    [message] = parse_json(update)
    assert message == NormalizedMessage(
        external_id="-1001234567890:77",
        thread_key="-1001234567890",
        kind=Kind.comment,
        text="Hat noch jemand keinen Strom?",
        author=ERIKA,
        platform_created_at=at(2026, 11, 23, 8, 0, 0),
        context={"chat_type": "supergroup", "chat_title": "Stadtwerke Community"},
        raw=update,
    )


def test_own_group_reply_is_a_reply_in_the_same_chat() -> None:
    original = group_message()["message"]
    [message] = parse_json(group_message(message_id=78, reply_to_message=original))
    assert (message.kind, message.parent_external_id, message.thread_key) == (
        Kind.reply,
        "-1001234567890:77",
        "-1001234567890",
    )


def test_own_same_message_id_in_two_chats_are_two_messages() -> None:
    [in_group] = parse_json(group_message())
    [in_private] = parse_json(
        group_message(chat={"id": 42, "type": "private", "first_name": "Erika"})
    )
    assert in_group.external_id != in_private.external_id


def test_own_channel_post_is_written_by_the_channel() -> None:
    post = {
        "message_id": 5,
        "date": 1795420800,
        "chat": {"id": -100999, "type": "channel", "title": "Stadtwerke News", "username": "sw"},
        "sender_chat": {"id": -100999, "type": "channel", "title": "Stadtwerke News"},
        "text": "Störung behoben.",
    }
    [created] = parse_json({"update_id": 1, "channel_post": post})
    [edited] = parse_json({"update_id": 2, "edited_channel_post": post | {"text": "Behoben!"}})
    assert (created.kind, created.action, created.author) == (
        Kind.comment,
        Action.create,
        NormalizedAuthor(platform_id="-100999", display_name="Stadtwerke News"),
    )
    assert (edited.external_id, edited.action, edited.text) == (
        "-100999:5",
        Action.edit,
        "Behoben!",
    )


def test_own_channel_post_without_sender_chat_is_written_by_the_chat() -> None:
    post = {"message_id": 5, "date": 1, "chat": {"id": -100999, "type": "channel", "title": "N"}}
    [message] = parse_json({"update_id": 1, "channel_post": post})
    assert message.author == NormalizedAuthor(platform_id="-100999", display_name="N")


def test_own_photo_with_caption() -> None:
    photo = [
        {"file_id": "small", "file_size": 1000, "width": 90, "height": 60},
        {"file_id": "large", "file_size": 90000, "width": 1280, "height": 853},
    ]
    [message] = parse_json(group_message(text=None, photo=photo, caption="Der Mast ist umgeknickt"))
    assert message.text == "Der Mast ist umgeknickt"
    assert message.attachments == ({"type": "photo", "file_id": "large", "size_bytes": 90000},)


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1},
        {"update_id": 1, "callback_query": {"id": "1"}},
        {"update_id": 1, "poll": {"id": "1"}},
        {"update_id": 1, "my_chat_member": {"chat": {"id": 1}}},
    ],
)
def test_own_updates_without_content_produce_nothing(update: dict[str, Any]) -> None:
    assert parse_json(update) == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"update_id": "x"}', "update_id must be an integer"),
        (b'{"update_id": 1, "message": []}', "message must be a JSON object"),
        (b'{"update_id": 1, "message": {"message_id": 1}}', "chat is missing"),
        (b'{"update_id": 1, "message": {"chat": {"id": 1}}}', "message_id is missing"),
        (
            b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1}, "text": 5}}',
            "text must be a string",
        ),
        (b'{"message": {"message_id": 1, "chat": {"id": 1}, "photo": {}}}', "photo must be a list"),
    ],
)
def test_malformed_updates(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        TELEGRAM.parse(payload, {})
