"""YouTubeAdapter: WebSub intent verification, X-Hub-Signature, the Atom feed, XML safety.

Expected values were written by reading ``../shared/webhooks/youtube`` and SPEC.md §3.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.youtube import YouTubeAdapter
from tests.fixtures_shared import shared_path

YOUTUBE = YouTubeAdapter()
HUB_SECRET = "websub-hub-secret"
CREDS = ChannelCredentials(secret=HUB_SECRET, verify_token=None)
TOPIC = "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UC_x5XG1OV2P6uZZ5FSM9Ttw"
CONTENT_TYPE = "application/atom+xml"


def at(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def sign(body: bytes, method: str = "sha1", secret: str = HUB_SECRET) -> str:
    return f"{method}=" + hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()


# --- WebSub intent verification -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["subscribe", "unsubscribe"])
def test_intent_verification_echoes_the_challenge_safely(mode: str) -> None:
    query = {
        "hub.mode": mode,
        "hub.topic": TOPIC,
        "hub.challenge": "<script>alert(1)</script>",
        "hub.lease_seconds": "432000",
    }
    reply = YOUTUBE.handshake(CREDS, query)
    assert reply.body == b"<script>alert(1)</script>"
    assert reply.media_type == "application/octet-stream"
    assert reply.headers == {"X-Content-Type-Options": "nosniff"}


def test_denied_is_acknowledged() -> None:
    reply = YOUTUBE.handshake(CREDS, {"hub.mode": "denied", "hub.topic": TOPIC, "hub.reason": "x"})
    assert reply.body == b""


def test_verify_token_must_match_when_the_channel_has_one() -> None:
    creds = ChannelCredentials(secret=HUB_SECRET, verify_token="vt-123")
    query = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.challenge": "c"}
    assert YOUTUBE.handshake(creds, query | {"hub.verify_token": "vt-123"}).body == b"c"
    with pytest.raises(HandshakeRefused):
        YOUTUBE.handshake(creds, query | {"hub.verify_token": "wrong"})
    with pytest.raises(HandshakeRefused):
        YOUTUBE.handshake(creds, query)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"hub.mode": "publish", "hub.topic": TOPIC, "hub.challenge": "c"},
        {"hub.mode": "subscribe", "hub.topic": TOPIC},
        {"hub.mode": "subscribe", "hub.challenge": "c"},
        {"hub.mode": "subscribe", "hub.topic": "https://evil.example/feed", "hub.challenge": "c"},
        {
            "hub.mode": "subscribe",
            "hub.topic": "https://www.youtube.com/xml/feeds/videos.xml",
            "hub.challenge": "c",
        },
        {"hub.mode": "subscribe", "hub.topic": "http://[::1", "hub.challenge": "c"},
    ],
)
def test_intent_verification_refused(query: dict[str, str]) -> None:
    with pytest.raises(HandshakeRefused):
        YOUTUBE.handshake(CREDS, query)


# --- X-Hub-Signature ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_every_websub_method_verifies(method: str) -> None:
    body = shared_path("webhooks", "youtube", "docs_push_notification_atom.xml").read_bytes()
    YOUTUBE.verify(CREDS, {"x-hub-signature": sign(body, method)}, body, now_s=0)
    upper = sign(body, method).upper()  # "SHA1=ABC…": method and hex case do not matter
    YOUTUBE.verify(CREDS, {"x-hub-signature": upper}, body, now_s=0)


@pytest.mark.parametrize(
    "header",
    [
        sign(b"<feed/>", secret="another-secret"),
        sign(b"<feed/> "),
        "md5=" + hashlib.md5(b"<feed/>").hexdigest(),
        "sha1=",
        "sha1=zz",
        "sha1",
    ],
)
def test_forged_or_malformed_signature_is_403(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        YOUTUBE.verify(CREDS, {"x-hub-signature": header}, b"<feed/>", now_s=0)


def test_missing_signature_is_401() -> None:
    with pytest.raises(SignatureMissing):
        YOUTUBE.verify(CREDS, {}, b"<feed/>", now_s=0)


def test_channel_without_hub_secret_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        YOUTUBE.verify(
            ChannelCredentials(secret=None, verify_token=None),
            {"x-hub-signature": sign(b"<feed/>")},
            b"<feed/>",
            now_s=0,
        )


# --- the fixture ----------------------------------------------------------------------------

FIXTURE_RAW = {
    "id": "yt:video:VIDEO_ID",
    "videoId": "VIDEO_ID",
    "channelId": "CHANNEL_ID",
    "title": "Video title",
    "links": {"alternate": "http://www.youtube.com/watch?v=VIDEO_ID"},
    "author": {"name": "Channel title", "uri": "http://www.youtube.com/channel/CHANNEL_ID"},
    "published": "2015-03-06T21:40:57+00:00",
    "updated": "2015-03-09T19:05:24.552394234+00:00",
}


def as_is(body: bytes) -> bytes:
    return body


BodyBuilder = Callable[[bytes], bytes]
SHARED_YOUTUBE_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    "youtube/docs_push_notification_atom.xml": (
        as_is,
        [
            NormalizedMessage(
                external_id="VIDEO_ID",
                thread_key="VIDEO_ID",
                # No "video" kind: a published video is a mention of the channel.
                kind=Kind.mention,
                text="Video title",
                author=NormalizedAuthor(platform_id="CHANNEL_ID", display_name="Channel title"),
                platform_created_at=at(2015, 3, 6, 21, 40, 57),
                url="http://www.youtube.com/watch?v=VIDEO_ID",
                context={
                    "video_id": "VIDEO_ID",
                    "channel_id": "CHANNEL_ID",
                    "event": "video_published",
                },
            )
        ],
    ),
}
SHARED_YOUTUBE_RAW = {"youtube/docs_push_notification_atom.xml": [FIXTURE_RAW]}


@pytest.mark.parametrize("fixture", sorted(SHARED_YOUTUBE_CASES))
def test_shared_youtube_fixture(fixture: str) -> None:
    body = shared_path("webhooks", *fixture.split("/")).read_bytes()
    build, expected = SHARED_YOUTUBE_CASES[fixture]
    assert YOUTUBE.parse(build(body), {"content-type": CONTENT_TYPE}) == [
        replace(message, raw=raw)
        for message, raw in zip(expected, SHARED_YOUTUBE_RAW[fixture], strict=True)
    ]


def test_every_youtube_fixture_has_a_case() -> None:
    present = {f"youtube/{path.name}" for path in shared_path("webhooks", "youtube").glob("*")}
    assert present == set(SHARED_YOUTUBE_CASES)


# --- our own feeds, written from SPEC.md §3 -----------------------------------------------------

FEED_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"'
    ' xmlns:at="http://purl.org/atompub/tombstones/1.0" xmlns="http://www.w3.org/2005/Atom">'
)


def feed(*entries: str) -> bytes:
    return (FEED_HEAD + "".join(entries) + "</feed>").encode()


def entry(video_id: str, title: str = "Störung in Berlin – Update") -> str:
    return (
        f"<entry><id>yt:video:{video_id}</id><yt:videoId>{video_id}</yt:videoId>"
        f"<yt:channelId>UCstadtwerke</yt:channelId><title>{title}</title>"
        f'<link rel="alternate" href="https://www.youtube.com/watch?v={video_id}"/>'
        "<author><name>Stadtwerke</name>"
        "<uri>https://www.youtube.com/channel/UCstadtwerke</uri></author>"
        "<published>2026-11-23T08:00:00+00:00</published>"
        "<updated>2026-11-23T08:00:05.123456789+00:00</updated></entry>"
    )


def test_own_feed_with_two_videos_and_a_deletion() -> None:
    deleted = (
        '<at:deleted-entry ref="yt:video:gone123" when="2026-11-23T09:00:00+00:00">'
        '<link href="https://www.youtube.com/watch?v=gone123"/></at:deleted-entry>'
    )
    first, second, removed = YOUTUBE.parse(feed(entry("abc"), entry("def"), deleted), {})
    assert (first.external_id, second.external_id) == ("abc", "def")
    assert first.text == "Störung in Berlin – Update"
    assert first.platform_created_at == at(2026, 11, 23, 8, 0, 0)
    assert removed == NormalizedMessage(
        external_id="gone123",
        thread_key="gone123",
        kind=Kind.mention,
        action=Action.delete,
        platform_created_at=at(2026, 11, 23, 9, 0, 0),
        context={"video_id": "gone123", "event": "video_deleted"},
        raw={"ref": "yt:video:gone123", "when": "2026-11-23T09:00:00+00:00"},
    )


def test_own_entry_without_video_id_element_uses_the_atom_id() -> None:
    xml = feed("<entry><id>yt:video:xyz</id><title>T</title></entry>")
    [message] = YOUTUBE.parse(xml, {})
    assert (message.external_id, message.author, message.url) == ("xyz", None, None)


def test_own_feed_in_another_encoding() -> None:
    text = feed(entry("abc", "Grüße")).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    [message] = YOUTUBE.parse(text.encode("utf-16"), {})
    assert message.text == "Grüße"


def test_own_empty_feed_is_nothing() -> None:
    assert YOUTUBE.parse(feed(), {}) == []


UTF16_LAUGHS = b'<?xml version="1.0" encoding="UTF-16"?>'
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<feed>&lol2;</feed>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title></entry></feed>'
)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_ENTITY, "DOCTYPE"),
        # The same refusal when the DOCTYPE is hidden in another encoding.
        (
            BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', UTF16_LAUGHS)
            .decode()
            .encode("utf-16"),
            "DOCTYPE",
        ),
        (b'<!DOCTYPE feed SYSTEM "http://evil.example/x.dtd"><feed/>', "DOCTYPE"),
        (b"", "not well-formed"),
        (b"<feed>", "not well-formed"),
        (b"\xff\xfe\x00", "not well-formed"),
        (b"<feed><x:entry/></feed>", "not well-formed"),  # unbound prefix
        (b"<rss/>", "not an Atom feed"),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title></entry></feed>',
            "no yt:videoId",
        ),
        (feed('<at:deleted-entry when="x"/>'), "no ref"),
    ],
)
def test_malformed_or_dangerous_xml(body: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        YOUTUBE.parse(body, {})


def test_unreadable_dates_become_none() -> None:
    xml = entry("abc").replace("2026-11-23T08:00:00+00:00", "yesterday")
    [message] = YOUTUBE.parse(feed(xml), {})
    assert message.platform_created_at is None


def test_own_raw_never_holds_xml() -> None:
    [message] = YOUTUBE.parse(feed(entry("abc")), {})
    assert message.raw["links"] == {"alternate": "https://www.youtube.com/watch?v=abc"}
    assert "<" not in repr(message.raw)
