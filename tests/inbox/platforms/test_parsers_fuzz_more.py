"""Property tests for the adapters beyond Meta and Standard Webhooks.

Whatever arrives (arbitrary bytes, JSON, form bodies, MIME, XML, plausible payloads with
wrong types here and there), ``parse`` returns messages or raises ``MalformedPayload``;
``verify`` raises only ``SignatureMissing`` / ``SignatureInvalid`` (or passes);
``handshake`` answers or raises ``HandshakeRefused``. The messages it returns fit the
columns they are stored in.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.normalize import NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
    PlatformAdapter,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.email import MailgunAdapter, SendGridAdapter
from inbox.platforms.linkedin import LinkedInAdapter
from inbox.platforms.reviews import GoogleBusinessAdapter, TrustpilotAdapter
from inbox.platforms.telegram import TelegramAdapter
from inbox.platforms.tiktok import TikTokAdapter
from inbox.platforms.x import XAdapter
from inbox.platforms.youtube import YouTubeAdapter
from tests.inbox.platforms.test_parsers_fuzz import ids, json_values, obj, times, words

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.text(min_size=1, max_size=30)
CREDS = ChannelCredentials(secret="shared-secret", verify_token="url-token")

X = XAdapter()
YOUTUBE = YouTubeAdapter()
TELEGRAM = TelegramAdapter()
MAILGUN = MailgunAdapter()
SENDGRID = SendGridAdapter()
GOOGLE = GoogleBusinessAdapter()
TRUSTPILOT = TrustpilotAdapter()
TIKTOK = TikTokAdapter()
LINKEDIN = LinkedInAdapter()
JSON_ADAPTERS: list[PlatformAdapter] = [X, TELEGRAM, GOOGLE, TRUSTPILOT, TIKTOK, LINKEDIN]
ALL_ADAPTERS: list[PlatformAdapter] = [*JSON_ADAPTERS, YOUTUBE, MAILGUN, SENDGRID]
BOUNDARY = "fuzzBoundary42"
CONTENT_TYPES = [
    "application/json",
    "application/atom+xml",
    "application/x-www-form-urlencoded",
    f"multipart/form-data; boundary={BOUNDARY}",
]


def check(message: NormalizedMessage) -> None:
    assert isinstance(message, NormalizedMessage)
    assert 0 < len(message.external_id) <= 300
    assert 0 < len(message.thread_key) <= 300
    assert message.parent_external_id is None or 0 < len(message.parent_external_id) <= 300
    created = message.platform_created_at
    assert created is None or created.tzinfo is not None
    assert message.language is None or 2 <= len(message.language) <= 8
    if message.author is not None:
        assert 0 < len(message.author.platform_id) <= 200
        assert message.author.handle is None or len(message.author.handle) <= 200
        assert message.author.display_name is None or len(message.author.display_name) <= 300
        followers = message.author.reach_followers
        assert followers is None or 0 <= followers < 2**63
    # Everything stored as JSON must serialise as strict JSON.
    json.dumps([message.raw, message.context, list(message.attachments)], allow_nan=False)


def parse_or_malformed(
    adapter: PlatformAdapter, body: bytes, content_type: str = "application/json"
) -> list[NormalizedMessage]:
    try:
        messages = adapter.parse(body, {"content-type": content_type})
    except MalformedPayload:
        return []
    for message in messages:
        check(message)
    return messages


# --- arbitrary input to every new adapter ---------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=300), content_type=st.sampled_from(CONTENT_TYPES))
def test_arbitrary_bytes(body: bytes, content_type: str) -> None:
    for adapter in ALL_ADAPTERS:
        parse_or_malformed(adapter, body, content_type)


@FUZZ
@given(value=json_values)
def test_arbitrary_json(value: Any) -> None:
    body = json.dumps(value).encode()
    for adapter in JSON_ADAPTERS:
        parse_or_malformed(adapter, body)


# --- plausible JSON payloads ------------------------------------------------------------------

v1_user = obj({"id_str": ids}, screen_name=words, name=words, followers_count=st.integers(), id=ids)
v1_tweet = obj(
    {"id_str": ids, "user": v1_user, "text": words},
    created_at=st.sampled_from(["Wed Aug 19 16:26:16 +0000 2020", "Wed Foo 99 99:99:99 +0000 0"])
    | words,
    timestamp_ms=times,
    in_reply_to_status_id_str=ids,
    is_quote_status=st.booleans() | st.sampled_from(["true", "false"]),
    quoted_status_id_str=ids,
    extended_tweet=obj(
        full_text=words,
        extended_entities=obj(media=st.lists(obj(type=words, media_url_https=words), max_size=2)),
    ),
    retweeted_status=st.just({}),
    lang=words,
)
dm_event = obj(
    {
        "type": st.sampled_from(["message_create", "other"]),
        "id": ids,
        "message_create": obj(
            {"sender_id": ids, "target": obj({"recipient_id": ids})},
            message_data=obj(
                text=names, attachment=obj(type=words, media=obj(type=words, media_url_https=words))
            ),
        ),
    },
    created_timestamp=times,
)
users_map = st.dictionaries(ids.map(str), obj(screen_name=words, followers_count=st.integers()))
aaa_delivery = obj(
    for_user_id=ids,
    tweet_create_events=st.lists(v1_tweet, min_size=1, max_size=3),
    direct_message_events=st.lists(dm_event, min_size=1, max_size=3),
    tweet_delete_events=st.lists(obj({"status": obj({"id": ids}, user_id=ids)}), max_size=2),
    users=users_map,
)
v2_post = obj(
    {"id": ids, "author_id": ids},
    text=words,
    conversation_id=ids,
    in_reply_to_tweet_id=ids,
    referenced_tweets=st.lists(
        obj({"type": st.sampled_from(["replied_to", "quoted", "x"]), "id": ids}), max_size=2
    ),
    created_at=times,
    lang=words,
)
xaa_delivery = obj(
    {
        "data": obj(
            {
                "event_type": st.sampled_from(
                    ["post.mention.create", "post.reply.create", "dm.received", "dm.sent", "x"]
                ),
                "payload": v2_post
                | obj(
                    direct_message_events=st.lists(dm_event, max_size=2),
                    users=st.dictionaries(ids.map(str), obj(data=obj(username=words)), max_size=2),
                ),
            },
            event_uuid=ids,
            filter=obj(user_id=ids),
            includes=obj(
                users=st.lists(
                    obj({"id": ids}, public_metrics=obj(followers_count=st.integers())),
                    max_size=2,
                )
            ),
        )
    }
)
telegram_message = obj(
    {"message_id": ids, "chat": obj({"id": ids}, type=words, title=words)},
    date=times,
    text=words,
    caption=words,
    **{"from": obj({"id": ids}, username=words, first_name=words, last_name=words)},
    sender_chat=obj({"id": ids}, title=words),
    reply_to_message=obj({"message_id": ids}, chat=obj({"id": ids})),
    forward_from=obj({"id": ids}, first_name=words),
    photo=st.lists(obj(file_id=ids, file_size=st.integers()), max_size=2),
    document=obj(file_id=ids, file_name=words, mime_type=words, file_size=st.integers()),
)
telegram_update = st.one_of(
    *(
        obj({"update_id": st.integers(), kind: telegram_message})
        for kind in ("message", "edited_message", "channel_post", "edited_channel_post")
    ),
    obj({"update_id": st.integers(), "callback_query": obj(id=ids)}),
)
tiktok_content = obj(
    {"conversation_id": ids, "text": obj(body=names) | names},
    message_id=ids,
    timestamp=times,
    **{"from": words},
    from_user=obj(id=ids),
)
tiktok_delivery = obj(
    {
        "event": st.sampled_from(["im_receive_msg", "im_receive_msg", "im_send_msg", "x.y"]),
        "content": tiktok_content.map(json.dumps) | tiktok_content | words,
    },
    user_openid=ids,
    create_time=times,
)
linkedin_notification = obj(
    {
        "decoratedGeneratedActivity": obj(
            {
                "comment": obj(
                    {"text": names}, actor=ids, entity=ids, created=obj(time=times) | times
                )
            }
        ),
    },
    action=st.sampled_from(["COMMENT", "LIKE"]),
    notificationId=ids,
    sourcePost=ids,
    generatedActivity=ids,
    lastModifiedAt=times,
    comment=obj(message=obj(text=names), owner=ids, object=ids),
)
linkedin_delivery = linkedin_notification | obj(
    notifications=st.lists(linkedin_notification, min_size=1, max_size=3)
)
trustpilot_delivery = obj(
    {
        "events": st.lists(
            obj(
                {
                    "eventName": st.sampled_from(
                        ["service-review-created", "service-review-updated",
                         "service-review-deleted", "x"]
                    ),
                    "eventData": obj(
                        {"id": ids},
                        title=words,
                        text=words,
                        stars=st.integers(),
                        language=words,
                        createdAt=times,
                        consumer=obj(id=ids, name=words),
                    ),
                }
            ),
            max_size=3,
        )
    }
)  # fmt: skip
google_notification = obj(
    {"reviewName": names},
    notificationType=st.sampled_from(["NEW_REVIEW", "UPDATED_REVIEW", "GOOGLE_UPDATE"]),
    type=st.sampled_from(["NEW_REVIEW", "x"]),
    review_name=names,
    review=obj(name=names) | names,
    locationName=words,
)
google_delivery = obj(
    {
        "message": obj(
            {"messageId": ids},
            data=google_notification.map(
                lambda n: base64.b64encode(json.dumps(n).encode()).decode()
            ),
            publishTime=times,
        )
    },
    subscription=words,
)


@FUZZ
@given(
    payload=st.one_of(
        st.tuples(st.just(X), aaa_delivery | xaa_delivery),
        st.tuples(st.just(TELEGRAM), telegram_update),
        st.tuples(st.just(TIKTOK), tiktok_delivery),
        st.tuples(st.just(LINKEDIN), linkedin_delivery),
        st.tuples(st.just(TRUSTPILOT), trustpilot_delivery),
        st.tuples(st.just(GOOGLE), google_delivery),
    )
)
def test_plausible_json_payloads(payload: tuple[PlatformAdapter, Any]) -> None:
    adapter, value = payload
    body = json.dumps(value).encode()
    parse_or_malformed(adapter, body)
    for other in JSON_ADAPTERS:  # and every other adapter must refuse it cleanly
        parse_or_malformed(other, body)


# --- forms and MIME ----------------------------------------------------------------------------

field_names = st.sampled_from(
    [
        "from", "subject", "recipient", "to", "body-plain", "body-html", "stripped-text",
        "message-headers", "body-mime", "email", "headers", "text", "html", "charsets",
        "Message-Id", "In-Reply-To", "References", "Date", "timestamp", "token", "signature",
    ]
) | st.text(max_size=8)  # fmt: skip
header_lines = st.lists(
    st.tuples(
        st.sampled_from(
            ["From", "Message-ID", "In-Reply-To", "References", "Date", "Subject", "To",
             "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "X"]
        ),
        st.sampled_from(
            ["<a@b>", "<A@B> <c@d>", "=?utf-8?q?J=C3=BCrgen?= <j@x>", "Mon, 23 Nov 2026 08:00:00",
             'multipart/mixed; boundary="b"', "text/html; charset=x-unknown", "base64",
             'attachment; filename="a.pdf"', "<", "", "\"unclosed <x@y", "(((", "@"]
        )
        | st.text(max_size=20),
    ),
    max_size=6,
)  # fmt: skip
mime_bodies = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--",
            "--b\nContent-Type: text/html\n\n<p>x</p>\n--b\nContent-Disposition: attachment\n\n"
            "xx\n--b--",
            "PGI+aGk8L2I+",
            "=E4=F6",
        ]
    ),
)


def mime(lines: list[tuple[str, str]], body: str) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n" + body


field_values = st.one_of(
    st.text(max_size=40),
    st.builds(mime, header_lines, mime_bodies),
    st.sampled_from(['[["Message-Id", "<a@b>"]]', "[1, [2]]", "{", '{"text": "latin-1"}']),
)
form_fields = st.dictionaries(field_names, field_values, max_size=8)


def urlencoded(fields: dict[str, str]) -> bytes:
    return b"&".join(
        quote_from_bytes(k.encode()).encode() + b"=" + quote_from_bytes(v.encode()).encode()
        for k, v in fields.items()
    )


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]], newline: bytes) -> bytes:
    parts = [
        b'Content-Disposition: form-data; name="' + name.encode() + b'"' + newline + newline
        + value.encode()
        for name, value in fields.items()
    ] + [
        b'Content-Disposition: form-data; name="attachment' + str(i).encode()
        + b'"; filename="' + filename.encode() + b'"' + newline
        + b"Content-Type: application/octet-stream" + newline + newline + data
        for i, (filename, data) in enumerate(files)
    ]  # fmt: skip
    separator = newline + b"--" + BOUNDARY.encode() + newline
    return (
        b"--"
        + BOUNDARY.encode()
        + newline
        + separator.join(parts)
        + newline
        + b"--"
        + (BOUNDARY.encode() + b"--" + newline)
    )


@FUZZ
@given(
    fields=form_fields,
    files=st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=40)), max_size=2),
    newline=st.sampled_from([b"\r\n", b"\n"]),
)
def test_form_bodies(
    fields: dict[str, str], files: list[tuple[str, bytes]], newline: bytes
) -> None:
    multipart_type = f"multipart/form-data; boundary={BOUNDARY}"
    for adapter in (MAILGUN, SENDGRID):
        parse_or_malformed(adapter, urlencoded(fields), "application/x-www-form-urlencoded")
        parse_or_malformed(adapter, multipart(fields, files, newline), multipart_type)


# --- XML -----------------------------------------------------------------------------------------

xml_text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20).map(
    lambda t: t.replace("&", "&amp;").replace("<", "&lt;")
)
xml_entry = st.builds(
    lambda video, channel, title, published, extra: (
        f"<entry><yt:videoId>{video}</yt:videoId><yt:channelId>{channel}</yt:channelId>"
        f"<title>{title}</title><published>{published}</published>{extra}</entry>"
    ),
    xml_text.filter(str.strip),
    xml_text,
    xml_text,
    st.sampled_from(["2015-03-06T21:40:57+00:00", "nonsense", ""]),
    st.sampled_from(
        ["", '<link rel="alternate" href="javascript:alert(1)"/>', "<author><name/></author>",
         "<id>yt:video:</id>"]
    ),
)  # fmt: skip
xml_feeds = st.builds(
    lambda entries, deleted: (
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
        'xmlns:at="http://purl.org/atompub/tombstones/1.0" xmlns="http://www.w3.org/2005/Atom">'
        + "".join(entries)
        + "".join(f'<at:deleted-entry ref="{ref}" when="{ref}"/>' for ref in deleted)
        + "</feed>"
    ),
    st.lists(xml_entry, max_size=3),
    st.lists(xml_text.map(lambda t: t.replace('"', "&quot;")), max_size=2),
)


@FUZZ
@given(
    feed=xml_feeds,
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
    cut=st.integers(min_value=0, max_value=400),
)
def test_xml_feeds(feed: str, encoding: str, cut: int) -> None:
    declared = f'<?xml version="1.0" encoding="{encoding}"?>' + feed
    try:
        body = declared.encode(encoding)
    except UnicodeEncodeError:
        body = declared.encode("utf-8")
    parse_or_malformed(YOUTUBE, body, "application/atom+xml")
    parse_or_malformed(YOUTUBE, body[:cut], "application/atom+xml")


# --- verify and handshake --------------------------------------------------------------------

header_values = st.text(st.characters(codec="latin-1"), max_size=40)
signature_headers = st.dictionaries(
    st.sampled_from(
        [
            "x-twitter-webhooks-signature", "x-hub-signature", "x-telegram-bot-api-secret-token",
            "tiktok-signature", "x-li-signature", "content-type",
        ]
    ),
    header_values
    | st.sampled_from(
        ["sha256=AAAA", "sha1=" + "0" * 40, "t=1,s=" + "0" * 64, "hmacsha256=" + "a" * 64,
         "shared-secret", "application/x-www-form-urlencoded",
         f"multipart/form-data; boundary={BOUNDARY}"]
    ),
)  # fmt: skip


@FUZZ
@given(
    headers=signature_headers,
    body=st.binary(max_size=64) | form_fields.map(urlencoded),
    now_s=st.floats(allow_nan=False, allow_infinity=False),
    query=st.none() | st.dictionaries(st.sampled_from(["token", "x"]), header_values),
    secret=st.none() | st.text(max_size=10),
)
def test_verify_raises_only_signature_errors(
    headers: dict[str, str],
    body: bytes,
    now_s: float,
    query: dict[str, str] | None,
    secret: str | None,
) -> None:
    creds = ChannelCredentials(secret=secret, verify_token=secret)
    for adapter in ALL_ADAPTERS:
        with contextlib.suppress(SignatureMissing, SignatureInvalid):
            adapter.verify(creds, headers, body, now_s=now_s, query=query)


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(
            ["crc_token", "hub.mode", "hub.challenge", "hub.topic", "hub.verify_token",
             "challengeCode", "token"]
        ),
        header_values
        | st.sampled_from(
            ["subscribe", "unsubscribe", "denied",
             "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UC1", "http://[::1"]
        ),
    ),
    secret=st.none() | st.text(max_size=10),
)  # fmt: skip
def test_handshake_answers_or_refuses(query: dict[str, str], secret: str | None) -> None:
    creds = ChannelCredentials(secret=secret, verify_token=secret)
    for adapter in ALL_ADAPTERS:
        try:
            reply = adapter.handshake(creds, query)
        except HandshakeRefused:
            continue
        assert isinstance(reply, HandshakeReply)
        assert isinstance(reply.body, bytes)


@pytest.mark.parametrize("adapter", ALL_ADAPTERS, ids=lambda a: a.platforms[0])
def test_content_types_are_what_the_route_compares(adapter: PlatformAdapter) -> None:
    # The route compares the media type without parameters, lower-cased.
    for content_type in adapter.content_types:
        assert content_type == content_type.split(";")[0].strip().lower()
