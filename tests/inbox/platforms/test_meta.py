"""MetaAdapter: handshake, X-Hub-Signature-256, and every Meta payload shape.

The expected values below were written by reading the fixtures in
``../shared/webhooks/{facebook,instagram,messenger,whatsapp}`` and SPEC.md §1/§12.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.normalize import Action, Direction, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.meta import MetaAdapter
from tests.fixtures_shared import shared_path

META = MetaAdapter()
APP_SECRET = "3b1f0c9e5d7a4e2f8a6b0c1d2e3f4a5b"
CREDS = ChannelCredentials(secret=APP_SECRET, verify_token="meatyhamhock")
META_PLATFORMS = ("facebook", "instagram", "messenger", "whatsapp")


def at(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def load(*parts: str) -> tuple[bytes, Any]:
    raw = shared_path("webhooks", *parts).read_bytes()
    return raw, json.loads(raw)


def parse_json(payload: Any) -> list[NormalizedMessage]:
    return META.parse(json.dumps(payload).encode(), {})


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def change_value(delivery: Any) -> dict[str, Any]:
    value: dict[str, Any] = delivery["entry"][0]["changes"][0]["value"]
    return value


def page_delivery(field: str, value: dict[str, Any], page_id: str = "111") -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {"id": page_id, "time": 1700000000, "changes": [{"field": field, "value": value}]}
        ],
    }


def messaging_delivery(item: dict[str, Any], account_id: str = "111") -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": account_id, "time": 1, "messaging": [item]}]}


# --- handshake ------------------------------------------------------------------------------


def test_handshake_echoes_the_challenge_as_text() -> None:
    reply = META.handshake(
        CREDS,
        {
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "meatyhamhock",
        },
    )
    assert reply.body == b"1158201444"
    assert reply.media_type == "text/plain"


@pytest.mark.parametrize(
    ("query", "creds"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"}, CREDS),
        (
            {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": "meatyhamhock"},
            CREDS,
        ),
        ({"hub.mode": "subscribe", "hub.verify_token": "meatyhamhock"}, CREDS),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, CREDS),
        ({}, CREDS),
        (
            {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""},
            ChannelCredentials(secret=APP_SECRET, verify_token=None),
        ),
    ],
)
def test_handshake_refused(query: dict[str, str], creds: ChannelCredentials) -> None:
    with pytest.raises(HandshakeRefused):
        META.handshake(creds, query)


# --- signature --------------------------------------------------------------------------------


def test_signature_over_raw_bytes_verifies() -> None:
    body = json.dumps(page_delivery("feed", {"item": "comment"})).encode()
    META.verify(CREDS, {"x-hub-signature-256": sign(body)}, body, now_s=0)


def test_signature_hex_case_does_not_matter() -> None:
    body = b'{"object": "page", "entry": []}'
    upper = "sha256=" + sign(body).removeprefix("sha256=").upper()
    META.verify(CREDS, {"x-hub-signature-256": upper}, body, now_s=0)


def test_forged_body_is_rejected() -> None:
    body = b'{"object": "page", "entry": []}'
    with pytest.raises(SignatureInvalid):
        META.verify(CREDS, {"x-hub-signature-256": sign(body)}, body + b" ", now_s=0)


def test_signature_with_another_secret_is_rejected() -> None:
    body = b'{"object": "page", "entry": []}'
    with pytest.raises(SignatureInvalid):
        META.verify(CREDS, {"x-hub-signature-256": sign(body, "not-the-app-secret")}, body, now_s=0)


def test_missing_signature_is_401() -> None:
    with pytest.raises(SignatureMissing) as caught:
        META.verify(CREDS, {}, b"{}", now_s=0)
    assert caught.value.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "sha1=" + "0" * 40,
        hmac.new(APP_SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),  # no prefix
        "sha256=",
        "sha256=xyz",
        "sha256=" + "0" * 63,
        "SHA256=" + hmac.new(APP_SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),
    ],
)
def test_malformed_signature_is_403(header: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        META.verify(CREDS, {"x-hub-signature-256": header}, b"{}", now_s=0)
    assert caught.value.status_code == 403


def test_channel_without_app_secret_accepts_nothing() -> None:
    creds = ChannelCredentials(secret=None, verify_token="t")
    with pytest.raises(SignatureInvalid):
        META.verify(creds, {"x-hub-signature-256": sign(b"{}")}, b"{}", now_s=0)


def test_signature_of_escaped_unicode_body_covers_the_raw_bytes() -> None:
    raw, delivery = load("whatsapp", "message_reaction_emoji_escaped.json")
    assert b"\\ud83d\\udc4d" in raw  # the emoji travels as \u escapes
    META.verify(CREDS, {"x-hub-signature-256": sign(raw)}, raw, now_s=0)

    reencoded = json.dumps(delivery, ensure_ascii=False).encode()
    assert json.loads(reencoded) == delivery  # same JSON, different bytes
    assert sign(reencoded) != sign(raw)
    with pytest.raises(SignatureInvalid):
        META.verify(CREDS, {"x-hub-signature-256": sign(raw)}, reencoded, now_s=0)


# --- every Meta fixture in ../shared/webhooks ---------------------------------------------------
# Expected messages without ``raw``; each case names where in the delivery ``raw`` comes from.


def change_values(delivery: Any) -> list[dict[str, Any]]:
    return [change["value"] for entry in delivery["entry"] for change in entry["changes"]]


def messaging_items(delivery: Any) -> list[dict[str, Any]]:
    return [item for entry in delivery["entry"] for item in entry.get("messaging", [])]


def standby_items(delivery: Any) -> list[dict[str, Any]]:
    return [item for entry in delivery["entry"] for item in entry["standby"]]


def the_fragment(fragment: Any) -> list[dict[str, Any]]:
    return [fragment]


def nothing(_: Any) -> list[dict[str, Any]]:
    return []


def wrap_fragment(fragment: Any) -> Any:
    return messaging_delivery(fragment, account_id="<PAGE_ID>")


TESTER = NormalizedAuthor(platform_id="1234567890321", display_name="Tester")
FEED_COMMENT = NormalizedMessage(
    external_id="901097836652708_903438993085259",
    thread_key="1234567890321_901097836652708",
    kind=Kind.comment,
    action=Action.create,
    # from.id / sender_id is the Page's own id in these anonymised fixtures.
    direction=Direction.outbound,
    text="and the next one",
    author=TESTER,
    platform_created_at=at(2015, 12, 3, 9, 30, 3),
)
PSID = NormalizedAuthor(platform_id="987654321432")
MESSENGER_TEXT = NormalizedMessage(
    external_id="mid.1457764197618:41d102a3e1ae206a38",
    thread_key="12345654332:987654321432",
    kind=Kind.dm,
    text="hello, world!",
    author=PSID,
    platform_created_at=at(2016, 3, 12, 6, 29, 57, 627000),
)
DOCS_FRAGMENT = NormalizedMessage(
    external_id="mid.1457764197618:41d102a3e1ae206a38",
    thread_key="<PAGE_ID>:<PSID>",
    kind=Kind.dm,
    text="hello, world!",
    author=NormalizedAuthor(platform_id="<PSID>"),
    platform_created_at=at(2016, 3, 23, 0, 25, 52, 478000),
)
IG_COMMENT = NormalizedMessage(
    external_id="123456789",
    thread_key="123456789",  # no media: the comment is its own thread
    kind=Kind.comment,
    text="This is an example.",
    platform_created_at=at(2018, 2, 23, 15, 21, 47),
)
WHATSAPP_TEXT = NormalizedMessage(
    external_id="wamid.HBgNNDkxNTIwOTgzMzM5OBUCABIYHGDEHJVFHJEVCFHJEVBCMTkyODk1OEIyAA==",
    thread_key="491234567890",
    kind=Kind.dm,
    text="Test",
    author=NormalizedAuthor(platform_id="491234567890", display_name="TestUser"),
    platform_created_at=at(2022, 5, 22, 21, 1, 53),
)
WHATSAPP_DOCS = NormalizedMessage(
    external_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    thread_key="16505551234",
    kind=Kind.dm,
    text="Does it come in another color?",
    author=NormalizedAuthor(platform_id="16505551234", display_name="Sheena Nelson"),
    platform_created_at=at(2025, 6, 8, 20, 59, 43),
)
FB_PHOTO_URL = (
    "https://scontent-fra3-1.xx.fbcdn.net/v/t31.0-8/"
    "16715996_472849323104563_2289972788116415727_o.jpg"
    "?oh=7e0959913ff772d51e17b6d2bdebf44f&oe=593B77BB"
)
IG_DM_MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDUyNjkxNjAwMDk4OjM0MDI4MjM2Njg0MTcx"
    "MDMwMDk0OTEyODUyNTYwOTEwODQ0ODU4MjozMDc2OTU4MTA5OTY0OTI5MzAzMjAwODc1MDUxMTE2MT"
    "M0NAZDZD"
)
IG_DM_ATTACHMENT_URL = (
    "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17997515821557846"
    "&signature=AbyoRMtwJfAwfS_JCQkUSk4cdnDbIxMpTQXNWXt1D5Y9DEBSrgaz6PUk279coBx"
    "pvYHihuOmA1dxxabr6j0XitFYd21z2PaGBG82_AH9WFAbok5IY3cDhSTWb8LRadklr0IOm8UP0"
    "O8RZnWI4IiUfDuD19-CdVWih_byfkU5WUJTUGJi6PkuOA0rzdyG4O9fOPAshk8gx631mtlydnq"
    "63ILMPzyM8sc"
)

Fragments = Callable[[Any], list[dict[str, Any]]]
# fixture -> (where raw comes from, expected messages without raw)
SHARED_META_CASES: dict[str, tuple[Fragments, list[NormalizedMessage]]] = {
    "facebook/batched_two_entries.json": (nothing, []),
    "facebook/docs_getting_started_user_photos.json": (nothing, []),
    "facebook/feed_comment_add.json": (change_values, [FEED_COMMENT]),
    # sender_id is a JSON number there.
    "facebook/feed_comment_add_legacy_sender_fields.json": (change_values, [FEED_COMMENT]),
    "facebook/feed_comment_add_with_photo.json": (
        change_values,
        [replace(FEED_COMMENT, attachments=({"type": "image", "url": FB_PHOTO_URL},))],
    ),
    "facebook/feed_comment_edited.json": (
        change_values,
        [
            replace(
                FEED_COMMENT,
                external_id="900728623356296_900744590021366",
                thread_key="1234567890321_900728623356296",
                action=Action.edit,
                text="Let's see the Webhooks in action :D",
                platform_created_at=at(2015, 11, 26, 16, 35, 37),
            )
        ],
    ),
    "facebook/feed_comment_remove.json": (
        change_values,
        [
            replace(
                FEED_COMMENT,
                external_id="905578656204626_905579239537901",
                thread_key="1234567890321_905578656204626",
                action=Action.delete,
                text="",
                author=NormalizedAuthor(platform_id="1234567890321", display_name="John Doe"),
                platform_created_at=None,
            )
        ],
    ),
    "facebook/mention_post_add.json": (
        change_values,
        [
            NormalizedMessage(
                external_id="1234567890321_98722536423179",
                thread_key="1234567890321_98722536423179",
                kind=Kind.mention,
                text="A test post message",
                platform_created_at=at(2021, 2, 26, 11, 56, 2),
            )
        ],
    ),
    "facebook/ratings_review_add.json": (
        change_values,
        [
            NormalizedMessage(
                external_id="904801129604590",  # open_graph_story_id, a JSON number
                thread_key="904801129604590",
                kind=Kind.review,
                text="Ja ziemlich coole Sache",
                author=NormalizedAuthor(platform_id="705955836155788", display_name="Tester"),
                platform_created_at=at(2018, 9, 19, 15, 5, 12),
                context={"rating": 3, "recommendation_type": "POSITIVE"},
            )
        ],
    ),
    "facebook/ratings_comment_on_review_add.json": (
        change_values,
        [
            NormalizedMessage(
                external_id="904801129604590_904802532937783",
                thread_key="6767676767",  # the review story
                kind=Kind.comment,
                text="",
                author=NormalizedAuthor(platform_id="705955836155788", display_name="Tester"),
                platform_created_at=at(2015, 11, 29, 11, 9, 46),
            )
        ],
    ),
    "messenger/message_text.json": (messaging_items, [MESSENGER_TEXT]),
    "messenger/message_reply.json": (
        messaging_items,
        [
            replace(
                MESSENGER_TEXT,
                parent_external_id="very_long_id_representing_the_original_message",
            )
        ],
    ),
    "messenger/message_deleted.json": (
        messaging_items,
        [replace(MESSENGER_TEXT, external_id="message_id", action=Action.delete, text="")],
    ),
    "messenger/message_image_attachment.json": (
        messaging_items,
        [
            replace(
                MESSENGER_TEXT,
                external_id="mid.1458696618141:b4ef9d19ec21086067",
                text="",
                platform_created_at=at(2016, 3, 23, 1, 30, 18, 268000),
                attachments=({"type": "image", "url": "IMAGE_URL"},),
            )
        ],
    ),
    # The echo lands in the same thread as the customer's message, as outbound.
    "messenger/standby_echo.json": (
        standby_items,
        [replace(MESSENGER_TEXT, direction=Direction.outbound, context={"standby": True})],
    ),
    "messenger/docs_messages_event_text_fragment.json": (the_fragment, [DOCS_FRAGMENT]),
    "messenger/docs_messages_event_reply_fragment.json": (
        the_fragment,
        [
            replace(
                DOCS_FRAGMENT,
                external_id="m_1457764197618:41d102a3e1ae206a38",
                parent_external_id="m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU",
            )
        ],
    ),
    "instagram/comment_minimal_dashboard_test.json": (change_values, [IG_COMMENT]),
    "instagram/comment_with_from_media_parent.json": (
        change_values,
        [
            replace(
                IG_COMMENT,
                thread_key="76543987",
                kind=Kind.reply,
                author=NormalizedAuthor(platform_id="1234536447", handle="testuser"),
                parent_external_id="987654321",
                context={"media_product_type": "FEED"},
            )
        ],
    ),
    "instagram/mention.json": (
        change_values,
        [
            NormalizedMessage(
                external_id="17887498072083520",
                thread_key="17887498072083520",
                kind=Kind.mention,
                text="",
                platform_created_at=at(2018, 2, 23, 15, 21, 50),
                context={"needs_fetch": True},
            )
        ],
    ),
    "instagram/dm_seen.json": (nothing, []),
    "instagram/dm_unsupported_attachment.json": (
        messaging_items,
        [
            NormalizedMessage(
                external_id=IG_DM_MID,
                thread_key="17841452691600098:5614879045272581",
                kind=Kind.dm,
                text="",
                author=NormalizedAuthor(platform_id="5614879045272581"),
                platform_created_at=at(2022, 11, 9, 19, 32, 13, 735000),
                attachments=({"type": "unsupported_type", "url": IG_DM_ATTACHMENT_URL},),
            )
        ],
    ),
    "whatsapp/docs_overview_message_text.json": (change_values, [WHATSAPP_DOCS]),
    "whatsapp/message_text.json": (change_values, [WHATSAPP_TEXT]),
    "whatsapp/message_image.json": (
        change_values,
        [
            replace(
                WHATSAPP_TEXT,
                text="Some awesome image",
                # The fixture keeps a literal backslash: "image\/jpeg" inside the JSON string.
                attachments=(
                    {"type": "image", "id": "400962571939895", "mime_type": "image\\/jpeg"},
                ),
                context={"message_type": "image"},
            )
        ],
    ),
    "whatsapp/message_text_bsuid_group.json": (
        change_values,
        [
            replace(
                WHATSAPP_DOCS,
                thread_key="120363418770915618@g.us",
                author=NormalizedAuthor(
                    platform_id="US.13491208655302741918",
                    handle="realsheenanelson",
                    display_name="Sheena Nelson",
                ),
            )
        ],
    ),
    # Reactions are skipped; statuses report on our own messages.
    "whatsapp/message_reaction_emoji_escaped.json": (nothing, []),
    "whatsapp/status_failed.json": (nothing, []),
    "whatsapp/status_sent_placeholders.json": (nothing, []),
}


@pytest.mark.parametrize("fixture", sorted(SHARED_META_CASES))
def test_shared_meta_fixture(fixture: str) -> None:
    raw, delivery = load(*fixture.split("/"))
    fragments, expected = SHARED_META_CASES[fixture]
    if fragments is the_fragment:  # one messaging[] item, not a delivery
        raw = json.dumps(wrap_fragment(delivery)).encode()
    located = fragments(delivery)
    assert META.parse(raw, {}) == [
        replace(message, raw=fragment) for message, fragment in zip(expected, located, strict=True)
    ]


def test_every_meta_fixture_has_a_case() -> None:
    present = {
        f"{platform}/{path.name}"
        for platform in META_PLATFORMS
        for path in shared_path("webhooks", platform).glob("*.json")
    }
    assert present == set(SHARED_META_CASES)


def test_messenger_echo_and_inbound_share_a_thread() -> None:
    inbound, _ = load("messenger", "message_text.json")
    echo, _ = load("messenger", "standby_echo.json")
    [received], [sent] = META.parse(inbound, {}), META.parse(echo, {})
    assert received.thread_key == sent.thread_key == "12345654332:987654321432"
    assert (received.direction, sent.direction) == (Direction.inbound, Direction.outbound)


# --- our own payloads, written from SPEC.md §1 (run without ../shared) -----------------------


def feed_comment(verb: str, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "item": "comment",
        "verb": verb,
        "comment_id": "500_900",
        "post_id": "111_500",
        "parent_id": "111_500",
        "from": {"id": "42", "name": "Erika Muster"},
        "created_time": 1700000000,
        "message": "Wann kommt der Strom zurück?",
    }
    return page_delivery("feed", value | fields)


ERIKA = NormalizedAuthor(platform_id="42", display_name="Erika Muster")


def test_own_feed_comment_add_edit_remove_share_the_dedup_key() -> None:
    [added] = parse_json(feed_comment("add"))
    [edited] = parse_json(feed_comment("edited", message="Wann kommt der Strom endlich zurück?"))
    [removed] = parse_json(feed_comment("remove", message=None, created_time=None))
    assert added == NormalizedMessage(
        external_id="500_900",
        thread_key="111_500",
        kind=Kind.comment,
        text="Wann kommt der Strom zurück?",
        author=ERIKA,
        platform_created_at=at(2023, 11, 14, 22, 13, 20),
        raw=change_value(feed_comment("add")),
    )
    assert (edited.external_id, edited.action, edited.text) == (
        "500_900",
        Action.edit,
        "Wann kommt der Strom endlich zurück?",
    )
    assert (removed.external_id, removed.action, removed.text) == ("500_900", Action.delete, "")
    assert added.thread_key == edited.thread_key == removed.thread_key


def test_own_feed_reply_names_its_parent_comment() -> None:
    [reply] = parse_json(feed_comment("add", comment_id="500_901", parent_id="500_900"))
    assert (reply.kind, reply.parent_external_id, reply.thread_key) == (
        Kind.reply,
        "500_900",
        "111_500",
    )


def test_own_feed_comment_by_the_page_is_outbound() -> None:
    [reply] = parse_json(feed_comment("add", **{"from": {"id": "111", "name": "Stadtwerke"}}))
    assert reply.direction == Direction.outbound


@pytest.mark.parametrize("verb", ["hide", "unhide", "block"])
def test_own_feed_visibility_changes_are_ignored(verb: str) -> None:
    assert parse_json(feed_comment(verb)) == []


def test_own_feed_non_comment_items_are_ignored() -> None:
    assert parse_json(feed_comment("add", item="reaction")) == []


def test_own_page_mention_in_a_comment() -> None:
    value = {
        "item": "comment",
        "verb": "add",
        "comment_id": "700_701",
        "post_id": "9_700",
        "sender_id": 77,
        "sender_name": "Max",
        "message": "@Stadtwerke bitte helfen",
        "created_time": "1700000000",
    }
    [mention] = parse_json(page_delivery("mention", value))
    assert (mention.external_id, mention.thread_key, mention.kind) == (
        "700_701",
        "9_700",
        Kind.mention,
    )
    assert mention.author == NormalizedAuthor(platform_id="77", display_name="Max")
    assert mention.platform_created_at == at(2023, 11, 14, 22, 13, 20)


def test_own_messenger_dm_and_its_echo_share_a_thread() -> None:
    inbound = {
        "sender": {"id": "PSID1"},
        "recipient": {"id": "111"},
        "timestamp": 1700000000123,
        "message": {"mid": "m_1", "text": "Hallo?"},
    }
    echo = {
        "sender": {"id": "111"},
        "recipient": {"id": "PSID1"},
        "timestamp": 1700000001000,
        "message": {"mid": "m_2", "text": "Wir sind dran.", "is_echo": True},
    }
    [received] = parse_json(messaging_delivery(inbound))
    [sent] = parse_json(messaging_delivery(echo))
    assert received == NormalizedMessage(
        external_id="m_1",
        thread_key="111:PSID1",
        kind=Kind.dm,
        text="Hallo?",
        author=NormalizedAuthor(platform_id="PSID1"),
        platform_created_at=at(2023, 11, 14, 22, 13, 20, 123000),
        raw=inbound,
    )
    assert (sent.thread_key, sent.direction, sent.author) == (
        "111:PSID1",
        Direction.outbound,
        NormalizedAuthor(platform_id="111"),
    )


def test_own_messenger_edit() -> None:
    item = {
        "sender": {"id": "PSID1"},
        "recipient": {"id": "111"},
        "timestamp": 1700000000000,
        "message_edit": {"mid": "m_1", "text": "Hallo??", "num_edit": 1},
    }
    [edited] = parse_json(messaging_delivery(item))
    assert (edited.external_id, edited.action, edited.text, edited.thread_key) == (
        "m_1",
        Action.edit,
        "Hallo??",
        "111:PSID1",
    )


def test_own_messenger_receipts_and_postbacks_produce_nothing() -> None:
    base: dict[str, Any] = {"sender": {"id": "PSID1"}, "recipient": {"id": "111"}, "timestamp": 1}
    events: list[dict[str, Any]] = [
        {"read": {"watermark": 1}},
        {"delivery": {"mids": ["m_1"]}},
        {"postback": {"payload": "START"}},
    ]
    for event in events:
        assert parse_json(messaging_delivery(base | event)) == []


def whatsapp_delivery(message: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "PNID"},
                            "contacts": [{"profile": {"name": "Jana"}, "wa_id": "4915100000"}],
                            "messages": [message],
                        }
                        | value,
                    }
                ],
            }
        ],
    }


def test_own_whatsapp_text_reply() -> None:
    message = {
        "from": "4915100000",
        "id": "wamid.A",
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "Ist das Wasser trinkbar?"},
        "context": {"from": "PNID", "id": "wamid.EARLIER"},
    }
    [parsed] = parse_json(whatsapp_delivery(message))
    assert parsed == NormalizedMessage(
        external_id="wamid.A",
        thread_key="4915100000",
        kind=Kind.dm,
        text="Ist das Wasser trinkbar?",
        author=NormalizedAuthor(platform_id="4915100000", display_name="Jana"),
        parent_external_id="wamid.EARLIER",
        platform_created_at=at(2023, 11, 14, 22, 13, 20),
        raw=change_value(whatsapp_delivery(message)),
    )


def test_own_whatsapp_location_keeps_its_type() -> None:
    message = {
        "from": "4915100000",
        "id": "wamid.B",
        "timestamp": "1700000000",
        "type": "location",
        "location": {"latitude": 52.5, "longitude": 13.4},
    }
    [parsed] = parse_json(whatsapp_delivery(message))
    assert (parsed.text, parsed.context) == ("", {"message_type": "location"})


def test_own_whatsapp_message_without_sender_is_malformed() -> None:
    message = {"id": "wamid.C", "timestamp": "1", "type": "text", "text": {"body": "?"}}
    with pytest.raises(MalformedPayload, match="from"):
        parse_json(whatsapp_delivery(message))


# --- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created_time", "expected"),
    [
        (1700000000, at(2023, 11, 14, 22, 13, 20)),
        (1700000000123, at(2023, 11, 14, 22, 13, 20, 123000)),
        ("1700000000", at(2023, 11, 14, 22, 13, 20)),
        ("1700000000.5", at(2023, 11, 14, 22, 13, 20, 500000)),
        ("2023-11-14T23:13:20+01:00", at(2023, 11, 14, 22, 13, 20)),
        ("2023-11-14T22:13:20", at(2023, 11, 14, 22, 13, 20)),
        ("TIMESTAMP", None),
        (10**30, None),
        (None, None),
    ],
)
def test_timestamps_become_aware_utc(created_time: Any, expected: datetime | None) -> None:
    [comment] = parse_json(feed_comment("add", created_time=created_time))
    assert comment.platform_created_at == expected


# --- malformed deliveries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"entry": []}', "body.object is missing"),
        (b'{"object": "page"}', "body.entry must be a list"),
        (b'{"object": "page", "entry": "nope"}', "body.entry must be a list"),
        (b'{"object": "page", "entry": ["nope"]}', r"body.entry\[0\] must be a JSON object"),
        (b'{"object": 7, "entry": []}', "body.object must be a string"),
        (b'{"object": "page", "entry": [{"changes": {}}]}', r"changes must be a list"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_deliveries(body: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint) as caught:
        META.parse(body, {})
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"comment_id": None},
        {"comment_id": True},
        {"comment_id": ""},
        {"comment_id": 1.5},
        {"post_id": ["111_500"]},
        {"message": 12},
        {"from": "Erika"},
        {"from": {"name": "no id"}},
        {"created_time": {"seconds": 1}},
        {"item": 3},
    ],
)
def test_wrong_types_inside_a_comment_are_malformed(fields: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayload):
        parse_json(feed_comment("add", **fields))


def test_numeric_ids_become_strings() -> None:
    [comment] = parse_json(feed_comment("add", comment_id=900, post_id=500, parent_id=500))
    assert (comment.external_id, comment.thread_key, comment.kind) == ("900", "500", Kind.comment)


def test_messaging_item_without_sender_is_malformed() -> None:
    item = {"recipient": {"id": "111"}, "message": {"mid": "m_1", "text": "x"}}
    with pytest.raises(MalformedPayload, match="sender is missing"):
        parse_json(messaging_delivery(item))
