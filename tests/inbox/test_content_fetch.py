"""Content a platform notified without is fetched before triage: Instagram mentions (the
shared fixture) and Google Business Profile reviews (a Pub/Sub push written from SPEC.md §4)
go through the real webhook endpoint; the worker asks the local platform server, which
records the request, and the stored message ends up with the text, author and time, is
triaged on that text and is found by the inbox's full-text search. A permanent error leaves
the message processed with empty text and the reason in ``fetch_error``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from inbox.models import Author, Conversation, Message
from people.models import Role
from tests.conftest import Running, make_settings, serve, wait_for
from tests.escalation.support import FakeTriager
from tests.fixtures_shared import shared_path
from tests.helpers import add_channel, add_user, bearer, meta_headers
from tests.inbox.replies.platform_server import Answer, PlatformServer

APP_SECRET = "instagram-app-secret"
PAGE_TOKEN = "EAAG-page-token-for-tests"
IG_USER_ID = "17841405309211844"
GOOGLE_TOKEN = "ya29.google-access-token-for-tests"
VERIFY_TOKEN = "gbp-url-token"
REVIEW_NAME = "accounts/111/locations/222/reviews/AbFvOqnPz0r"
# instagram/mention.json: comment_id and media_id only.
MENTION_COMMENT_ID = "17887498072083520"


class RecordingTriager(FakeTriager):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def score(self, items: list[Any]) -> list[Any]:
        self.texts += [item.text for item in items]
        return super().score(items)


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    async with PlatformServer() as server:
        yield server


@pytest.fixture
def triager() -> RecordingTriager:
    return RecordingTriager()


@pytest.fixture
async def app(
    database_url: str, platform: PlatformServer, triager: RecordingTriager
) -> AsyncIterator[Running]:
    settings = make_settings(
        database_url,
        meta_graph_base_url=f"{platform.url}/v21.0",
        google_business_api_base_url=platform.url,
        fetch_backoff_base_s=0.01,
        fetch_backoff_max_s=0.05,
        fetch_retry_after_max_s=0.05,
        escalation_enabled=False,
    )
    async with serve(settings, triager=triager) as running:
        yield running


async def processed(running: Running) -> dict[str, Any]:
    """The one stored message, once the worker has processed it, with its author."""

    async def read() -> dict[str, Any] | None:
        async with running.services.sessionmaker() as session:
            row = (
                await session.execute(
                    sa.select(Message, Conversation, Author)
                    .join(Conversation, Conversation.id == Message.conversation_id)  # type: ignore[arg-type]
                    .outerjoin(Author, Author.id == Message.author_id)  # type: ignore[arg-type]
                )
            ).one()
            m, c, a = row
            if m.processed_at is None:
                return None
            return {
                "id": m.id,
                "text": m.text,
                "created_at": m.platform_created_at,
                "url": m.url,
                "context": m.context,
                "fetch_error": m.fetch_error,
                "urgency": m.urgency,
                "author": (a.platform_id, a.handle, a.display_name) if a else None,
                "conversation": c.id,
                "subject": c.subject,
                "conversation_author": c.author_id,
                "conversation_urgency": c.urgency,
            }

    result: dict[str, Any] = await wait_for(read)
    return result


async def search(running: Running, q: str) -> list[int]:
    _, token = await add_user(running.services, f"agent-{q}@example.com", Role.agent)
    response = await running.client.get(
        "/api/v1/conversations", params={"q": q}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- Instagram mentions ----------------------------------------------------------------------


async def instagram_channel(running: Running, **credentials: str) -> str:
    channel = await add_channel(
        running.services,
        "instagram",
        secret=APP_SECRET,
        outbound_credentials=credentials
        or {"page_access_token": PAGE_TOKEN, "ig_user_id": IG_USER_ID},
    )
    return str(channel.id)


async def post_instagram(running: Running, channel_id: str, body: bytes) -> None:
    response = await running.client.post(
        f"/webhooks/{channel_id}", content=body, headers=meta_headers(APP_SECRET, body)
    )
    assert response.status_code == 200, response.text


def proof() -> str:
    return hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()


async def test_instagram_comment_mention_is_fetched_triaged_and_searchable(
    app: Running, platform: PlatformServer, triager: RecordingTriager
) -> None:
    platform.answer(
        Answer(
            json={
                "mentioned_comment": {
                    "id": MENTION_COMMENT_ID,
                    "text": "@leitstand mein Sohn liegt nach eurem Brei im Krankenhaus",
                    "timestamp": "2018-02-23T15:21:48+0000",
                    "username": "anna.k",
                    "like_count": 4,
                },
                "id": IG_USER_ID,
            }
        )
    )
    channel_id = await instagram_channel(app)
    await post_instagram(
        app, channel_id, shared_path("webhooks", "instagram", "mention.json").read_bytes()
    )

    row = await processed(app)
    [request] = platform.requests
    assert (request.method, request.path) == ("GET", f"/v21.0/{IG_USER_ID}")
    assert request.query == {
        "fields": f"mentioned_comment.comment_id({MENTION_COMMENT_ID})"
        "{id,text,timestamp,username,like_count}",
        "appsecret_proof": proof(),
    }
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert request.body == b""

    text = "@leitstand mein Sohn liegt nach eurem Brei im Krankenhaus"
    assert row["text"] == text
    assert row["author"] == ("@anna.k", "anna.k", None)
    assert row["created_at"] == datetime(2018, 2, 23, 15, 21, 48, tzinfo=UTC)
    assert row["context"] == {"needs_fetch": False, "like_count": 4}
    assert row["fetch_error"] is None
    assert row["subject"] == text
    assert row["conversation_author"] is not None
    # Triage read the fetched text, not the empty one.
    assert triager.texts == [text]
    assert row["urgency"] == row["conversation_urgency"] == 96
    assert await search(app, "krankenhaus") == [row["conversation"]]


async def test_instagram_caption_mention_asks_for_the_media(
    app: Running, platform: PlatformServer
) -> None:
    # SPEC.md §1: a mention in a caption carries only media_id.
    media_id = "17895695668004550"
    body = json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": IG_USER_ID,
                    "time": 1519399310,
                    "changes": [{"field": "mentions", "value": {"media_id": media_id}}],
                }
            ],
        }
    ).encode()
    platform.answer(
        Answer(
            json={
                "mentioned_media": {
                    "caption": "Danke @leitstand für den schnellen Support",
                    "timestamp": "2018-02-23T15:20:00+0000",
                    "username": "ben.b",
                    "permalink": "https://www.instagram.com/p/Bf-xyz/",
                    "id": media_id,
                },
                "id": IG_USER_ID,
            }
        )
    )
    channel_id = await instagram_channel(app)
    await post_instagram(app, channel_id, body)

    row = await processed(app)
    [request] = platform.requests
    assert request.path == f"/v21.0/{IG_USER_ID}"
    assert request.query["fields"] == (
        f"mentioned_media.media_id({media_id}){{caption,timestamp,username,permalink}}"
    )
    assert row["text"] == "Danke @leitstand für den schnellen Support"
    assert row["author"] == ("@ben.b", "ben.b", None)
    assert row["url"] == "https://www.instagram.com/p/Bf-xyz/"
    assert await search(app, "support") == [row["conversation"]]


async def test_instagram_permanent_error_is_recorded_and_triage_still_runs(
    app: Running, platform: PlatformServer, triager: RecordingTriager
) -> None:
    platform.answer(
        Answer(
            status=400,
            json={
                "error": {
                    "message": "Unsupported get request.",
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": "AbC",
                }
            },
        )
    )
    channel_id = await instagram_channel(app)
    await post_instagram(
        app, channel_id, shared_path("webhooks", "instagram", "mention.json").read_bytes()
    )

    row = await processed(app)
    assert len(platform.requests) == 1  # a permanent error is not tried again
    assert row["text"] == ""
    assert row["fetch_error"] == "Unsupported get request. (code 100/33, HTTP 400)"
    assert row["context"] == {"needs_fetch": True}
    assert row["author"] is None
    assert triager.texts == [""]
    assert row["urgency"] is not None


async def test_instagram_without_credentials_asks_nothing(
    app: Running, platform: PlatformServer
) -> None:
    channel_id = await instagram_channel(app, page_access_token=PAGE_TOKEN)
    await post_instagram(
        app, channel_id, shared_path("webhooks", "instagram", "mention.json").read_bytes()
    )

    row = await processed(app)
    assert platform.requests == []
    assert row["text"] == ""
    assert "ig_user_id" in row["fetch_error"]


# --- Google Business Profile reviews ---------------------------------------------------------


def pubsub_push(notification: dict[str, Any], message_id: str = "9876543210") -> bytes:
    """A Pub/Sub push as SPEC.md §4 describes it (no published fixture exists)."""
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(json.dumps(notification).encode()).decode(),
                "attributes": {},
                "messageId": message_id,
                "publishTime": "2026-11-23T08:00:00.123Z",
            },
            "subscription": "projects/leitstand/subscriptions/gbp-reviews",
        }
    ).encode()


async def post_google(running: Running, body: bytes) -> None:
    channel = await add_channel(
        running.services,
        "google-business",
        verify_token=VERIFY_TOKEN,
        outbound_credentials={"access_token": GOOGLE_TOKEN},
    )
    response = await running.client.post(
        f"/webhooks/{channel.id}?" + urlencode({"token": VERIFY_TOKEN}),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text


NEW_REVIEW = {
    "notificationType": "NEW_REVIEW",
    "reviewName": REVIEW_NAME,
    "locationName": "accounts/111/locations/222",
}


async def test_google_review_is_fetched_from_the_business_profile_api(
    app: Running, platform: PlatformServer, triager: RecordingTriager
) -> None:
    comment = "Nach dem Essen mussten wir ins Krankenhaus. Nie wieder."
    platform.answer(
        Answer(
            json={
                "name": REVIEW_NAME,
                "reviewId": "AbFvOqnPz0r",
                "reviewer": {
                    "profilePhotoUrl": "https://lh3.googleusercontent.com/a/x",
                    "displayName": "Clara Weiß",
                },
                "starRating": "ONE",
                "comment": comment,
                "createTime": "2026-11-23T07:58:12.345678901Z",
                "updateTime": "2026-11-23T07:58:12.345678901Z",
            }
        )
    )
    await post_google(app, pubsub_push(NEW_REVIEW))

    row = await processed(app)
    [request] = platform.requests
    assert (request.method, request.path, request.query) == ("GET", f"/v4/{REVIEW_NAME}", {})
    assert request.headers["authorization"] == f"Bearer {GOOGLE_TOKEN}"
    assert row["text"] == comment
    assert row["author"] == ("reviewer:AbFvOqnPz0r", None, "Clara Weiß")
    assert row["created_at"] == datetime(2026, 11, 23, 7, 58, 12, 345678, tzinfo=UTC)
    assert row["context"] == {
        "needs_fetch": False,
        "review_name": REVIEW_NAME,
        "notification_type": "NEW_REVIEW",
        "location_name": "accounts/111/locations/222",
        "stars": 1,
        "review_updated_at": "2026-11-23T07:58:12.345678901Z",
    }
    assert row["fetch_error"] is None
    assert triager.texts == [comment]
    assert row["conversation_urgency"] == 96
    assert await search(app, "krankenhaus") == [row["conversation"]]


async def test_google_review_fetch_retries_a_503_then_stores_it(
    app: Running, platform: PlatformServer
) -> None:
    platform.answer(
        Answer(status=503, json={"error": {"code": 503, "message": "Backend unavailable"}}),
        Answer(json={"reviewId": "r1", "starRating": "FIVE", "comment": "Top Service"}),
    )
    await post_google(app, pubsub_push(NEW_REVIEW))

    row = await processed(app)
    assert [r.path for r in platform.requests] == [f"/v4/{REVIEW_NAME}"] * 2
    assert row["text"] == "Top Service"
    assert row["context"]["stars"] == 5


async def test_google_review_not_found_is_recorded_and_processing_goes_on(
    app: Running, platform: PlatformServer, triager: RecordingTriager
) -> None:
    platform.answer(
        Answer(
            status=404,
            json={
                "error": {
                    "code": 404,
                    "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                }
            },
        )
    )
    await post_google(app, pubsub_push(NEW_REVIEW))

    row = await processed(app)
    assert len(platform.requests) == 1
    assert row["text"] == ""
    assert row["fetch_error"] == "Requested entity was not found. (NOT_FOUND, HTTP 404)"
    assert row["context"]["needs_fetch"] is True
    assert triager.texts == [""]
    # The agent sees why, next to the message.
    _, token = await add_user(app.services, "agent@example.com", Role.agent)
    shown = await app.client.get(f"/api/v1/messages/{row['id']}", headers=bearer(token))
    assert shown.status_code == 200, shown.text
    assert shown.json()["fetch_error"] == row["fetch_error"]
    assert GOOGLE_TOKEN not in shown.text
