"""XAdapter: the CRC handshake, x-twitter-webhooks-signature, AAA and XAA payloads.

Expected values were written by reading the fixtures in ``../shared/webhooks/x`` and
SPEC.md §2/§12. The two ``tweet_object_*`` fixtures are bare v1.1 Tweet objects (what
``tweet_create_events[]`` holds), so they are posted wrapped in an AAA envelope.
"""

from __future__ import annotations

import base64
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
from inbox.platforms.x import XAdapter
from tests.fixtures_shared import shared_path

X = XAdapter()
CONSUMER_SECRET = "x-consumer-secret"
CREDS = ChannelCredentials(secret=CONSUMER_SECRET, verify_token=None)
# The account the tweet fixtures are delivered to: mentioned in the reply fixture.
FOR_USER_ID = "1615654896"


def at(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def sign(body: bytes, secret: str = CONSUMER_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def parse_json(payload: Any) -> list[NormalizedMessage]:
    return X.parse(json.dumps(payload).encode(), {})


def wrap_tweet(body: bytes) -> bytes:
    """A bare Tweet object as AAA delivers it."""
    return json.dumps(
        {"for_user_id": FOR_USER_ID, "tweet_create_events": [json.loads(body)]}
    ).encode()


def as_is(body: bytes) -> bytes:
    return body


# --- CRC handshake --------------------------------------------------------------------------


def test_crc_answers_the_base64_hmac_of_the_token() -> None:
    reply = X.handshake(CREDS, {"crc_token": "crc-challenge-123"})
    assert reply.media_type == "application/json"
    # Computed independently: base64(HMAC-SHA256(b"x-consumer-secret", b"crc-challenge-123")).
    assert json.loads(reply.body) == {
        "response_token": "sha256=4Mkzicn7pjYwD7jSkR5J2HviowA0MIlVgnIepLj9rBA="
    }


@pytest.mark.parametrize(
    ("query", "creds"),
    [
        ({}, CREDS),
        ({"crc_token": ""}, CREDS),
        ({"crc_token": "abc"}, ChannelCredentials(secret=None, verify_token=None)),
    ],
)
def test_crc_refused(query: dict[str, str], creds: ChannelCredentials) -> None:
    with pytest.raises(HandshakeRefused):
        X.handshake(creds, query)


# --- signature ------------------------------------------------------------------------------


def test_signature_over_the_raw_body_verifies() -> None:
    body = shared_path("webhooks", "x", "aaa_direct_message_events.json").read_bytes()
    X.verify(CREDS, {"x-twitter-webhooks-signature": sign(body)}, body, now_s=0)


def test_signature_does_not_depend_on_time() -> None:
    # No timestamp in X's scheme: nothing can be stale, repeats are deduplicated instead.
    body = b'{"for_user_id": "1"}'
    for now_s in (0, 1e12):
        X.verify(CREDS, {"x-twitter-webhooks-signature": sign(body)}, body, now_s=now_s)


def test_reencoded_body_does_not_verify() -> None:
    raw = shared_path("webhooks", "x", "xaa_post_reply_create.json").read_bytes()
    assert "—".encode() in raw
    reencoded = json.dumps(json.loads(raw)).encode()  # the dash becomes \u2014
    with pytest.raises(SignatureInvalid):
        X.verify(CREDS, {"x-twitter-webhooks-signature": sign(raw)}, reencoded, now_s=0)


@pytest.mark.parametrize(
    "header",
    [
        sign(b"{}", "not-the-consumer-secret"),
        sign(b"{} "),
        "sha256=",
        "sha256=not base64!",
        sign(b"{}").removeprefix("sha256="),
        "sha1=" + base64.b64encode(b"x" * 20).decode(),
    ],
)
def test_forged_or_malformed_signature_is_403(header: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        X.verify(CREDS, {"x-twitter-webhooks-signature": header}, b"{}", now_s=0)
    assert caught.value.status_code == 403


def test_missing_signature_is_401() -> None:
    with pytest.raises(SignatureMissing) as caught:
        X.verify(CREDS, {}, b"{}", now_s=0)
    assert caught.value.status_code == 401


def test_channel_without_consumer_secret_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        X.verify(
            ChannelCredentials(secret=None, verify_token=None),
            {"x-twitter-webhooks-signature": sign(b"{}")},
            b"{}",
            now_s=0,
        )


# --- every fixture in ../shared/webhooks/x ---------------------------------------------------

X_DEV = NormalizedAuthor(
    platform_id="2244994945",
    handle="XDevelopers",
    display_name="X Dev",
    reach_followers=512292,
)
OTHER_USER = NormalizedAuthor(
    platform_id="2222222222222222222",
    handle="OtherUser",
    display_name="OtherUser",
    reach_followers=97,
)

BodyBuilder = Callable[[bytes], bytes]
# fixture -> (how it is posted, expected messages without raw)
SHARED_X_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    "x/aaa_direct_message_events.json": (
        as_is,
        [
            NormalizedMessage(
                external_id="954491830116155396",
                thread_key="3001969357-4337869213",
                kind=Kind.dm,
                text="Hello World!",
                author=NormalizedAuthor(
                    platform_id="3001969357",
                    handle="furiouscamper",
                    display_name="Jordan Brinks",
                    reach_followers=22,
                ),
                platform_created_at=at(2018, 1, 19, 23, 12, 40, 557000),
            )
        ],
    ),
    # Read receipts are not content.
    "x/aaa_direct_message_mark_read_events.json": (as_is, []),
    "x/tweet_object_extended_native_enriched.json": (
        wrap_tweet,
        [
            NormalizedMessage(
                external_id="1296121314218897408",  # id_str; the numeric id lost precision
                thread_key="1296121314218897408",  # not a reply: its own thread
                kind=Kind.mention,
                text=(
                    "The hide replies endpoint is launching today! \n\nDevelopers can hide "
                    "replies to Tweets - a crucial way developers can help improve the health "
                    "of the public conversation using the #XAPI.\n\nhttps://t.co/khXhTurm9x"
                ),
                author=X_DEV,
                platform_created_at=at(2020, 8, 19, 16, 26, 16),
                language="en",
                url="https://x.com/XDevelopers/status/1296121314218897408",
            )
        ],
    ),
    "x/tweet_object_reply_native_enriched.json": (
        wrap_tweet,
        [
            NormalizedMessage(
                external_id="1296887316556980230",
                thread_key="1296887091901718529",  # the post it replies to
                kind=Kind.reply,
                text=(
                    "See how @PennMedCDH are using X data to understand the COVID-19 health "
                    "crisis 📊\n\nhttps://t.co/1tdA8uDWes"
                ),
                author=X_DEV,
                parent_external_id="1296887091901718529",
                platform_created_at=at(2020, 8, 21, 19, 10, 5),
                language="en",
                url="https://x.com/XDevelopers/status/1296887316556980230",
            )
        ],
    ),
    "x/xaa_dm_received.json": (
        as_is,
        [
            NormalizedMessage(
                external_id="2080765901528535096",
                thread_key="1111111111111111111-2222222222222222222",
                kind=Kind.dm,
                text="hello!",
                author=OTHER_USER,
                platform_created_at=at(2026, 7, 24, 21, 23, 44, 372000),
                context={"event_uuid": "-6850472171600526495"},
            )
        ],
    ),
    "x/xaa_post_mention_create.json": (
        as_is,
        [
            NormalizedMessage(
                external_id="2080765813578191303",
                thread_key="2080765813578191303",  # conversation_id
                kind=Kind.mention,
                text="hey @ExampleUser",
                author=OTHER_USER,
                platform_created_at=at(2026, 7, 24, 21, 23, 23),
                language=None,  # "und"
                url="https://x.com/OtherUser/status/2080765813578191303",
                context={"event_uuid": "2080765813578191303"},
            )
        ],
    ),
    "x/xaa_post_reply_create.json": (
        as_is,
        [
            NormalizedMessage(
                external_id="2090000000000000001",
                thread_key="2080761390344937796",  # conversation_id
                kind=Kind.reply,
                text="@ExampleUser Great post — thanks for sharing!",
                # includes is empty: only the author id is known.
                author=NormalizedAuthor(platform_id="2222222222222222222"),
                parent_external_id="2080761390344937796",
                platform_created_at=at(2026, 8, 12, 18, 0, 0),
                language="en",
                url="https://x.com/i/web/status/2090000000000000001",
                context={"event_uuid": "3091827364059182736"},
            )
        ],
    ),
}


def raw_fragments(fixture: str, delivery: Any) -> list[dict[str, Any]]:
    """Where each message's ``raw`` comes from in the delivery."""
    if fixture.startswith("x/tweet_object_"):
        return [delivery]
    if "data" in delivery:
        payload = delivery["data"]["payload"]
        return list(payload.get("direct_message_events", [payload]))
    return list(delivery.get("direct_message_events", []))


@pytest.mark.parametrize("fixture", sorted(SHARED_X_CASES))
def test_shared_x_fixture(fixture: str) -> None:
    raw = shared_path("webhooks", *fixture.split("/")).read_bytes()
    build, expected = SHARED_X_CASES[fixture]
    located = raw_fragments(fixture, json.loads(raw))
    assert X.parse(build(raw), {}) == [
        replace(message, raw=fragment) for message, fragment in zip(expected, located, strict=True)
    ]


def test_every_x_fixture_has_a_case() -> None:
    present = {f"x/{path.name}" for path in shared_path("webhooks", "x").glob("*")}
    assert present == set(SHARED_X_CASES)


def test_tweet_by_the_subscribed_account_is_outbound() -> None:
    raw = shared_path("webhooks", "x", "tweet_object_reply_native_enriched.json").read_bytes()
    own = json.dumps({"for_user_id": "2244994945", "tweet_create_events": [json.loads(raw)]})
    [message] = X.parse(own.encode(), {})
    assert message.direction == Direction.outbound


# --- our own payloads, written from SPEC.md §2 (run without ../shared) ---------------------


def tweet(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "created_at": "Mon Nov 23 08:00:00 +0000 2026",
        "id": 1900000000000000000,
        "id_str": "1900000000000000001",
        "text": "@stadtwerke Strom weg in Kreuzberg &amp; kein Netz &lt;3",
        "in_reply_to_status_id_str": None,
        "user": {
            "id_str": "42",
            "screen_name": "erika_m",
            "name": "Erika Muster",
            "followers_count": 48000,
        },
        "lang": "de",
        "timestamp_ms": "1795420800000",
    }
    return base | fields


def aaa(*tweets: dict[str, Any], for_user_id: str = "7") -> dict[str, Any]:
    return {"for_user_id": for_user_id, "tweet_create_events": list(tweets)}


ERIKA = NormalizedAuthor(
    platform_id="42", handle="erika_m", display_name="Erika Muster", reach_followers=48000
)


def test_own_mention_unescapes_v1_entities() -> None:
    payload = tweet()
    [message] = parse_json(aaa(payload))
    assert message == NormalizedMessage(
        external_id="1900000000000000001",
        thread_key="1900000000000000001",
        kind=Kind.mention,
        text="@stadtwerke Strom weg in Kreuzberg & kein Netz <3",
        author=ERIKA,
        platform_created_at=at(2026, 11, 23, 8, 0, 0),
        language="de",
        url="https://x.com/erika_m/status/1900000000000000001",
        raw=payload,
    )


def test_own_reply_to_our_post_threads_on_that_post() -> None:
    [message] = parse_json(aaa(tweet(in_reply_to_status_id_str="1800000000000000000")))
    assert (message.kind, message.thread_key, message.parent_external_id) == (
        Kind.reply,
        "1800000000000000000",
        "1800000000000000000",
    )


def test_own_answer_to_a_mention_lands_in_the_mention_thread() -> None:
    [mention] = parse_json(aaa(tweet()))
    answer = tweet(
        id_str="1900000000000000002",
        in_reply_to_status_id_str="1900000000000000001",
        user={"id_str": "7", "screen_name": "stadtwerke", "name": "Stadtwerke"},
    )
    [ours] = parse_json(aaa(answer, for_user_id="7"))
    assert ours.thread_key == mention.thread_key
    assert ours.direction == Direction.outbound


def test_own_quote_records_the_quoted_post() -> None:
    quote = tweet(is_quote_status=True, quoted_status_id_str="1700000000000000000")
    [message] = parse_json(aaa(quote))
    assert (message.kind, message.context) == (
        Kind.mention,
        {"quoted_status_id": "1700000000000000000"},
    )


def test_own_retweet_produces_nothing() -> None:
    assert parse_json(aaa(tweet(retweeted_status=tweet(id_str="1")))) == []


def test_own_extended_tweet_media_become_attachments() -> None:
    extended = {
        "full_text": "Foto vom Rohrbruch",
        "extended_entities": {
            "media": [{"type": "photo", "media_url_https": "https://pbs.twimg.com/media/a.jpg"}]
        },
    }
    [message] = parse_json(aaa(tweet(truncated=True, extended_tweet=extended)))
    assert message.text == "Foto vom Rohrbruch"
    assert message.attachments == ({"type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"},)


def test_own_unreadable_created_at_falls_back_to_timestamp_ms() -> None:
    [message] = parse_json(aaa(tweet(created_at="gestern")))
    assert message.platform_created_at == at(2026, 11, 23, 8, 0, 0)


def test_own_tweet_delete_marks_the_post() -> None:
    deletion = {"status": {"id": "1900000000000000001", "user_id": "42"}, "timestamp_ms": "1"}
    [message] = parse_json({"for_user_id": "7", "tweet_delete_events": [deletion]})
    assert (message.external_id, message.action, message.author) == (
        "1900000000000000001",
        Action.delete,
        NormalizedAuthor(platform_id="42"),
    )


def dm(sender: str, recipient: str, **data: Any) -> dict[str, Any]:
    return {
        "type": "message_create",
        "id": "5000",
        "created_timestamp": "1795420800000",
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "message_data": {"text": "Wann kommt der Techniker?"} | data,
        },
    }


def test_own_dm_sent_by_the_account_is_outbound_in_the_same_thread() -> None:
    users = {"42": {"id": "42", "screen_name": "erika_m", "name": "Erika", "followers_count": 3}}
    [received] = parse_json(
        {"for_user_id": "7", "direct_message_events": [dm("42", "7")], "users": users}
    )
    [sent] = parse_json({"for_user_id": "7", "direct_message_events": [dm("7", "42")]})
    assert received.thread_key == sent.thread_key == "42-7"
    assert (received.direction, sent.direction) == (Direction.inbound, Direction.outbound)
    assert received.author == NormalizedAuthor(
        platform_id="42", handle="erika_m", display_name="Erika", reach_followers=3
    )
    assert sent.author == NormalizedAuthor(platform_id="7")


def test_own_dm_attachment() -> None:
    attachment = {
        "type": "media",
        "media": {"type": "photo", "media_url_https": "https://ton.twitter.com/1/a.jpg"},
    }
    [message] = parse_json(
        {"for_user_id": "7", "direct_message_events": [dm("42", "7", attachment=attachment)]}
    )
    assert message.attachments == ({"type": "photo", "url": "https://ton.twitter.com/1/a.jpg"},)


def xaa(event_type: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "data": {
            "event_uuid": "-1",
            "filter": {"user_id": "7"},
            "event_type": event_type,
            "payload": payload,
        }
        | extra
    }


def test_own_xaa_dm_sent_is_outbound() -> None:
    payload = {"direct_message_events": [dm("7", "42")], "users": {}}
    [message] = parse_json(xaa("dm.sent", payload))
    assert (message.direction, message.thread_key, message.context) == (
        Direction.outbound,
        "42-7",
        {"event_uuid": "-1"},
    )


def test_own_xaa_reply_found_through_referenced_tweets() -> None:
    post = {
        "id": "20",
        "author_id": "42",
        "text": "@stadtwerke danke!",
        "referenced_tweets": [{"type": "replied_to", "id": "10"}],
        "created_at": "2026-11-23T08:00:00.000Z",
    }
    users = [{"id": "42", "username": "erika_m", "name": "Erika", "public_metrics": {}}]
    [message] = parse_json(xaa("post.reply.create", post, includes={"users": users}))
    assert message == NormalizedMessage(
        external_id="20",
        thread_key="10",  # no conversation_id: the post it replies to
        kind=Kind.reply,
        text="@stadtwerke danke!",
        author=NormalizedAuthor(platform_id="42", handle="erika_m", display_name="Erika"),
        parent_external_id="10",
        platform_created_at=at(2026, 11, 23, 8, 0, 0),
        url="https://x.com/erika_m/status/20",
        context={"event_uuid": "-1"},
        raw=post,
    )


@pytest.mark.parametrize("event_type", ["follow.follow", "profile.update.bio", "post.like"])
def test_own_xaa_other_events_produce_nothing(event_type: str) -> None:
    assert parse_json(xaa(event_type, {"anything": True})) == []


def test_own_aaa_activity_without_content_produces_nothing() -> None:
    assert parse_json({"for_user_id": "7", "favorite_events": [{"id": "1"}]}) == []
    assert parse_json({"for_user_id": "7", "follow_events": [{"type": "follow"}]}) == []


# --- malformed deliveries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "not valid JSON"),
        (b"[]", "body must be a JSON object"),
        (b'{"tweet_create_events": {}}', "tweet_create_events must be a list"),
        (b'{"tweet_create_events": [{"id_str": "1"}]}', "user is missing"),
        (b'{"tweet_create_events": [{"user": {"id_str": "1"}}]}', r"\.id is missing"),
        (b'{"tweet_create_events": [{"id_str": 1.5, "user": {}}]}', "id_str must be"),
        (b'{"direct_message_events": [{"type": "message_create"}]}', "message_create is missing"),
        (b'{"data": {"payload": {}}}', "event_type is missing"),
        (b'{"data": "x"}', "data must be a JSON object"),
        (b'{"data": {"event_type": "post.reply.create", "payload": {"id": "1"}}}', "author_id"),
    ],
)
def test_malformed_deliveries(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        X.parse(payload, {})
