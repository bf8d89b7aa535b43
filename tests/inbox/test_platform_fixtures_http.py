"""Every X, YouTube, Telegram, e-mail, TikTok, Trustpilot and LinkedIn fixture in
../shared/webhooks, with its platform's real verification, through the real endpoint: it
becomes the expected rows, and posting it again adds nothing. Per platform, forged, unsigned
and (where the scheme has a timestamp) stale requests are refused and write nothing; the
handshakes answer over HTTP.

Expected values live in the per-platform unit tests (``tests/inbox/platforms/test_*.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from inbox.models import Author, Conversation, Message
from inbox.normalize import Action, NormalizedMessage
from tests.conftest import Running
from tests.fixtures_shared import shared_path
from tests.helpers import add_channel, count_rows
from tests.inbox.platforms import test_email, test_linkedin, test_reviews, test_tiktok
from tests.inbox.platforms.test_email import SHARED_SENDGRID_CASES
from tests.inbox.platforms.test_reviews import SHARED_TRUSTPILOT_CASES
from tests.inbox.platforms.test_telegram import SHARED_TELEGRAM_CASES
from tests.inbox.platforms.test_tiktok import SHARED_TIKTOK_CASES
from tests.inbox.platforms.test_x import SHARED_X_CASES
from tests.inbox.platforms.test_youtube import SHARED_YOUTUBE_CASES

SECRET = "fixture-secret_0123456789"  # a valid Telegram secret_token, too
TOKEN = "fixture-url-token"
TABLES = ("message", "conversation", "author")
EMPTY = dict.fromkeys(TABLES, 0)
JSON = "application/json"
MULTIPART = "multipart/form-data; boundary=xYzZY"
FORM = "application/x-www-form-urlencoded"

BodyBuilder = Callable[[bytes], bytes]
SHARED_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    **SHARED_X_CASES,
    **SHARED_YOUTUBE_CASES,
    **SHARED_TELEGRAM_CASES,
    **SHARED_SENDGRID_CASES,
    **SHARED_TRUSTPILOT_CASES,
    **SHARED_TIKTOK_CASES,
}


# --- signing, the way each platform does it ----------------------------------------------------


def x_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "content-type": JSON,
        "x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode(),
    }


def youtube_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"content-type": "application/atom+xml", "x-hub-signature": f"sha1={digest}"}


def telegram_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"content-type": JSON, "x-telegram-bot-api-secret-token": secret}


def tiktok_headers(
    body: bytes, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"content-type": JSON, "tiktok-signature": f"t={t},s={digest}"}


def linkedin_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": JSON, "x-li-signature": digest}


def plain(content_type: str) -> Callable[..., dict[str, str]]:
    def headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
        return {"content-type": content_type}

    return headers


SIGNERS: dict[str, Callable[..., dict[str, str]]] = {
    "x": x_headers,
    "youtube": youtube_headers,
    "telegram": telegram_headers,
    "tiktok": tiktok_headers,
    "linkedin": linkedin_headers,
    "sendgrid": plain(MULTIPART),
    "trustpilot": plain(JSON),
    "google-business": plain(JSON),
}
URL_TOKEN_PLATFORMS = frozenset({"sendgrid", "trustpilot", "google-business"})


def mailgun_body(timestamp: int | None = None, **fields: str) -> bytes:
    signed = test_email.mailgun_signed(int(time.time()) if timestamp is None else timestamp)
    signed = {name: value for name, value in (signed | fields).items() if value}
    return urlencode(test_email.MAILGUN_FIELDS | signed).encode()


async def post(
    running: Running, channel_id: str, platform: str, body: bytes, **signing: Any
) -> Any:
    token = signing.pop("token", TOKEN)
    url = f"/webhooks/{channel_id}"
    if platform in URL_TOKEN_PLATFORMS and token is not None:
        url += "?" + urlencode({"token": token})
    headers = SIGNERS[platform](body, **signing)
    return await running.client.post(url, content=body, headers=headers)


# --- what ends up in the database --------------------------------------------------------------


async def stored(running: Running) -> list[dict[str, Any]]:
    async with running.services.sessionmaker() as session:
        rows = await session.execute(
            sa.select(Message, Conversation, Author)
            .join(Conversation, Conversation.id == Message.conversation_id)  # type: ignore[arg-type]
            .outerjoin(Author, Author.id == Message.author_id)  # type: ignore[arg-type]
            .order_by(Message.id)  # type: ignore[arg-type]
        )
        return [
            {
                "external_id": m.external_id,
                "thread_key": c.thread_key,
                "kind": m.kind,
                "direction": m.direction,
                "text": m.text,
                "author": (a.platform_id, a.handle, a.display_name, a.reach_followers)
                if a
                else None,
                "created_at": m.platform_created_at,
                "parent": m.parent_external_id,
                "language": m.language,
                "url": m.url,
                "attachments": m.attachments,
                "context": m.context,
                "deleted": m.deleted_at is not None,
                "edited": m.edited_at is not None,
            }
            for m, c, a in rows
        ]


def rows_of(expected: list[NormalizedMessage]) -> list[dict[str, Any]]:
    return [
        {
            "external_id": m.external_id,
            "thread_key": m.thread_key,
            "kind": m.kind.value,
            "direction": m.direction.value,
            "text": m.text,
            "author": (
                m.author.platform_id,
                m.author.handle,
                m.author.display_name,
                m.author.reach_followers,
            )
            if m.author
            else None,
            "created_at": m.platform_created_at,
            "parent": m.parent_external_id,
            "language": m.language,
            "url": m.url,
            "attachments": list(m.attachments),
            "context": m.context,
            "deleted": m.action is Action.delete,
            "edited": m.action is Action.edit,
        }
        for m in expected
    ]


async def assert_stored_once(
    running: Running,
    send: Callable[[], Any],
    expected: list[NormalizedMessage],
) -> None:
    response = await send()
    assert response.status_code == 200, response.text
    assert await stored(running) == rows_of(expected)
    before = await count_rows(running.services, *TABLES)
    again = await send()
    assert again.status_code == 200, again.text
    assert again.json()["created"] == 0
    assert await count_rows(running.services, *TABLES) == before


# --- every fixture ----------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(SHARED_CASES))
async def test_fixture_through_the_endpoint(running: Running, fixture: str) -> None:
    platform, _ = fixture.split("/")  # each fixture directory is named after its platform
    build, expected = SHARED_CASES[fixture]
    body = build(shared_path("webhooks", *fixture.split("/")).read_bytes())
    channel = await add_channel(running.services, platform, secret=SECRET, verify_token=TOKEN)

    async def send() -> Any:
        return await post(running, channel.id, platform, body)

    await assert_stored_once(running, send, expected)


async def test_sendgrid_fixture_with_crlf_line_endings(running: Running) -> None:
    fixture = "sendgrid/inbound_parse_raw_with_attachments_multipart.txt"
    lf = shared_path("webhooks", *fixture.split("/")).read_bytes()
    channel = await add_channel(running.services, "sendgrid", verify_token=TOKEN)
    crlf = lf.replace(b"\n", b"\r\n")
    _, expected = SHARED_SENDGRID_CASES[fixture]

    async def send() -> Any:
        return await post(running, channel.id, "sendgrid", crlf)

    await assert_stored_once(running, send, expected)
    # The LF original is the same e-mail: a duplicate.
    response = await post(running, channel.id, "sendgrid", lf)
    assert response.json()["created"] == 0


async def test_mailgun_docs_signature_object(running: Running) -> None:
    """The published signature object never verifies here (example values, and stale); its
    token signed with our key, at the current time, carries a stored e-mail."""
    docs = json.loads(shared_path("webhooks", "mailgun", "docs_signature_object.json").read_text())
    channel = await add_channel(running.services, "mailgun", secret=test_email.SIGNING_KEY)
    published = urlencode(test_email.MAILGUN_FIELDS | docs).encode()
    refused = await running.client.post(
        f"/webhooks/{channel.id}", content=published, headers={"content-type": FORM}
    )
    assert refused.status_code == 403
    assert await count_rows(running.services, *TABLES) == EMPTY

    now = str(int(time.time()))
    ours = test_email.mailgun_signed(int(now), docs["token"])
    body = urlencode(test_email.MAILGUN_FIELDS | ours).encode()

    async def send() -> Any:
        return await running.client.post(
            f"/webhooks/{channel.id}", content=body, headers={"content-type": FORM}
        )

    await assert_stored_once(running, send, [test_email.MAILGUN_MESSAGE])


async def test_mailgun_multipart_with_attachment(running: Running) -> None:
    channel = await add_channel(running.services, "mailgun", secret=test_email.SIGNING_KEY)
    fields = test_email.MAILGUN_FIELDS | test_email.mailgun_signed(int(time.time()))
    body = test_email.multipart(fields, [("attachment-1", "a.pdf", "application/pdf", b"%PDF")])
    attachment = {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 4}

    async def send() -> Any:
        return await running.client.post(
            f"/webhooks/{channel.id}", content=body, headers={"content-type": MULTIPART}
        )

    expected = replace(test_email.MAILGUN_MESSAGE, attachments=(attachment,))
    await assert_stored_once(running, send, [expected])


# --- refusals: forged, unsigned, stale; nothing written ------------------------------------


def tiktok_dm() -> bytes:
    return json.dumps(test_tiktok.envelope("im_receive_msg", test_tiktok.DM_CONTENT)).encode()


# platform -> a body that is stored when correctly signed
GENUINE: dict[str, Callable[[], bytes]] = {
    "x": lambda: shared_path("webhooks", "x", "aaa_direct_message_events.json").read_bytes(),
    "youtube": lambda: shared_path(
        "webhooks", "youtube", "docs_push_notification_atom.xml"
    ).read_bytes(),
    "telegram": lambda: shared_path("webhooks", "telegram", "guide_message_text.json").read_bytes(),
    "sendgrid": lambda: shared_path(
        "webhooks", "sendgrid", "inbound_parse_default_multipart.txt"
    ).read_bytes(),
    "trustpilot": lambda: shared_path(
        "webhooks", "trustpilot", "service_review_created.json"
    ).read_bytes(),
    "tiktok": tiktok_dm,
    "linkedin": lambda: json.dumps(
        {"notifications": [test_linkedin.comment_notification()]}
    ).encode(),
    "google-business": lambda: json.dumps(test_reviews.push(test_reviews.NEW_REVIEW)).encode(),
}


async def refused(running: Running, response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert await count_rows(running.services, *TABLES) == EMPTY


@pytest.mark.parametrize("platform", sorted(GENUINE))
async def test_forged_and_unsigned_requests_write_nothing(running: Running, platform: str) -> None:
    channel = await add_channel(running.services, platform, secret=SECRET, verify_token=TOKEN)
    body = GENUINE[platform]()
    if platform in URL_TOKEN_PLATFORMS:
        forged = await post(running, channel.id, platform, body, token="guessed-token")
        unsigned = await post(running, channel.id, platform, body, token=None)
    else:
        forged = await post(running, channel.id, platform, body, secret="forged-secret")
        headers = SIGNERS[platform](body)
        signature_header = next(name for name in headers if name != "content-type")
        del headers[signature_header]
        unsigned = await running.client.post(
            f"/webhooks/{channel.id}", content=body, headers=headers
        )
    await refused(running, forged, 403)
    await refused(running, unsigned, 401)
    # The same body, genuinely signed, is stored: the refusals above were about the signature.
    genuine = await post(running, channel.id, platform, body)
    assert genuine.status_code == 200, genuine.text
    assert (await count_rows(running.services, "message"))["message"] >= 1


async def test_stale_tiktok_request_writes_nothing(running: Running) -> None:
    channel = await add_channel(running.services, "tiktok", secret=SECRET)
    stale = await post(running, channel.id, "tiktok", tiktok_dm(), timestamp=int(time.time()) - 600)
    await refused(running, stale, 403)


async def test_mailgun_forged_unsigned_and_stale_requests_write_nothing(running: Running) -> None:
    channel = await add_channel(running.services, "mailgun", secret=test_email.SIGNING_KEY)
    url, headers = f"/webhooks/{channel.id}", {"content-type": FORM}
    forged = mailgun_body(signature="0" * 64)
    unsigned = mailgun_body(signature="")
    stale = mailgun_body(timestamp=int(time.time()) - 600)
    await refused(running, await running.client.post(url, content=forged, headers=headers), 403)
    await refused(running, await running.client.post(url, content=unsigned, headers=headers), 401)
    await refused(running, await running.client.post(url, content=stale, headers=headers), 403)
    genuine = await running.client.post(url, content=mailgun_body(), headers=headers)
    assert genuine.status_code == 200, genuine.text


@pytest.mark.parametrize(
    ("platform", "content_type"),
    [("mailgun", JSON), ("sendgrid", FORM), ("youtube", JSON), ("x", FORM)],
)
async def test_content_type_the_platform_never_sends_is_415(
    running: Running, platform: str, content_type: str
) -> None:
    channel = await add_channel(running.services, platform, secret=SECRET, verify_token=TOKEN)
    response = await running.client.post(
        f"/webhooks/{channel.id}?token={TOKEN}",
        content=b"{}",
        headers={"content-type": content_type},
    )
    await refused(running, response, 415)


# --- handshakes over HTTP ---------------------------------------------------------------------


async def test_x_crc(running: Running) -> None:
    channel = await add_channel(running.services, "x", secret=SECRET)
    response = await running.client.get(f"/webhooks/{channel.id}", params={"crc_token": "abc"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    digest = hmac.new(SECRET.encode(), b"abc", hashlib.sha256).digest()
    assert response.json() == {"response_token": "sha256=" + base64.b64encode(digest).decode()}


async def test_youtube_intent_verification(running: Running) -> None:
    channel = await add_channel(running.services, "youtube", secret=SECRET)
    query = {
        "hub.mode": "subscribe",
        "hub.topic": "https://www.youtube.com/xml/feeds/videos.xml?channel_id=CHANNEL_ID",
        "hub.challenge": "<b>9876</b>",
        "hub.lease_seconds": "432000",
    }
    response = await running.client.get(f"/webhooks/{channel.id}", params=query)
    assert response.status_code == 200
    assert response.content == b"<b>9876</b>"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    wrong_topic = await running.client.get(
        f"/webhooks/{channel.id}", params=query | {"hub.topic": "https://evil.example/"}
    )
    assert wrong_topic.status_code == 403


async def test_linkedin_challenge_with_the_documented_code(running: Running) -> None:
    docs = json.loads(
        shared_path("webhooks", "linkedin", "docs_challenge_response.json").read_text()
    )
    channel = await add_channel(running.services, "linkedin", secret=SECRET)
    response = await running.client.get(
        f"/webhooks/{channel.id}", params={"challengeCode": docs["challengeCode"]}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = hmac.new(SECRET.encode(), docs["challengeCode"].encode(), hashlib.sha256)
    assert response.json() == {
        "challengeCode": docs["challengeCode"],
        "challengeResponse": expected.hexdigest(),
    }


@pytest.mark.parametrize("platform", ["telegram", "mailgun", "sendgrid", "tiktok", "trustpilot"])
async def test_platforms_without_a_handshake_refuse_the_get(
    running: Running, platform: str
) -> None:
    channel = await add_channel(running.services, platform, secret=SECRET, verify_token=TOKEN)
    response = await running.client.get(f"/webhooks/{channel.id}", params={"token": TOKEN})
    assert response.status_code == 403
