"""The connectors alone, against the local platform server: the variants of each platform's
request, how errors are classified, and the retry arithmetic. No database."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from inbox.connectors import CONNECTORS, RepliesUnsupported, connector_for
from inbox.connectors.base import (
    DeliveryFailed,
    Endpoints,
    OutboundReply,
    ReplyTarget,
    Transport,
    parse_retry_after,
    retry_delay_s,
)
from inbox.connectors.meta import MetaConnector
from inbox.connectors.telegram import TelegramConnector
from inbox.connectors.x import XConnector
from inbox.connectors.youtube import YouTubeConnector
from tests.inbox.replies.cases import BOT_TOKEN, PAGE_TOKEN, WA_TOKEN, X_TOKEN, YT_TOKEN
from tests.inbox.replies.platform_server import Answer, PlatformServer


@pytest.fixture
async def server() -> AsyncIterator[PlatformServer]:
    async with PlatformServer() as platform:
        yield platform


@pytest.fixture
async def transport(server: PlatformServer) -> AsyncIterator[Transport]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.5)) as http:
        yield Transport(
            http=http,
            endpoints=Endpoints(
                meta_graph=f"{server.url}/v21.0",
                x_api=server.url,
                telegram_api=server.url,
                youtube_api=server.url,
            ),
        )


def reply(platform: str, thread_key: str, target: ReplyTarget | None, **kw: Any) -> OutboundReply:
    values: dict[str, Any] = {
        "message_id": 1,
        "placeholder_id": "out:abc",
        "text": "Hallo",
        "platform": platform,
        "channel_id": "ch_1",
        "channel_name": "Brand",
        "thread_key": thread_key,
        "conversation_kind": "comment",
        "subject": None,
        "target": target,
        "credentials": {},
    }
    values.update(kw)
    return OutboundReply(**values)


def target(external_id: str, kind: str = "comment", **kw: Any) -> ReplyTarget:
    return ReplyTarget(
        external_id=external_id,
        parent_external_id=kw.pop("parent", None),
        kind=kind,
        direction=kw.pop("direction", "inbound"),
        **kw,
    )


META_CREDS = {"page_access_token": PAGE_TOKEN, "ig_user_id": "17841400"}


async def test_meta_variants(server: PlatformServer, transport: Transport) -> None:
    meta = MetaConnector()
    server.default = Answer(200, {"id": "new"})
    # A reply to a reply goes to the top-level comment; no target: a comment on the post.
    await meta.send(
        reply("facebook", "P", target("P_C2", "reply", parent="P_C1"), credentials=META_CREDS),
        transport,
    )
    await meta.send(reply("facebook", "P", None, credentials=META_CREDS), transport)
    # Instagram: a mention of us in someone else's media; a reply to a reply.
    await meta.send(
        reply(
            "instagram",
            "M9",
            target("C9", "mention", raw={"media_id": "M9", "comment_id": "C9"}),
            credentials=META_CREDS,
        ),
        transport,
    )
    await meta.send(
        reply("instagram", "M1", target("C2", "reply", parent="C1"), credentials=META_CREDS),
        transport,
    )
    # Instagram DM with Facebook Login: the Page sends.
    await meta.send(
        reply(
            "instagram",
            "17841400:IGSID1",
            target("mid"),
            conversation_kind="dm",
            credentials=META_CREDS | {"page_id": "1001"},
        ),
        transport,
    )
    # A WhatsApp group: to the group, quoting the sender's message.
    server.default = Answer(200, {"messages": [{"id": "wamid.G"}]})
    result = await meta.send(
        reply(
            "whatsapp",
            "GROUP1",
            target("wamid.1", "dm", author_platform_id="4915"),
            conversation_kind="dm",
            credentials={"access_token": WA_TOKEN, "phone_number_id": "PN"},
        ),
        transport,
    )
    assert result.external_id == "wamid.G"
    seen = [(r.path, r.json) for r in server.requests]
    assert seen == [
        ("/v21.0/P_C1/comments", {"message": "Hallo"}),
        ("/v21.0/P/comments", {"message": "Hallo"}),
        (
            "/v21.0/17841400/mentions",
            {"media_id": "M9", "comment_id": "C9", "message": "Hallo"},
        ),
        ("/v21.0/C1/replies", {"message": "Hallo"}),
        (
            "/v21.0/1001/messages",
            {
                "recipient": {"id": "IGSID1"},
                "messaging_type": "RESPONSE",
                "message": {"text": "Hallo"},
            },
        ),
        (
            "/v21.0/PN/messages",
            {
                "messaging_product": "whatsapp",
                "recipient_type": "group",
                "to": "GROUP1",
                "type": "text",
                "text": {"preview_url": False, "body": "Hallo"},
                "context": {"message_id": "wamid.1"},
            },
        ),
    ]
    # No app secret on the channel: no appsecret_proof.
    assert all(r.query == {} for r in server.requests)


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, {"code": 4, "message": "Application request limit reached"}, True),
        (403, {"code": 32, "message": "Page request limit reached"}, True),
        (400, {"code": 80001, "message": "There have been too many calls"}, True),
        (
            400,
            {"code": 2, "message": "Service temporarily unavailable", "is_transient": True},
            True,
        ),
        (400, {"code": 100, "message": "Invalid parameter"}, False),
        (400, {"code": 190, "message": "Error validating access token"}, False),
        (500, {"code": 1, "message": "An unknown error occurred"}, True),
    ],
)
async def test_meta_error_classes(
    server: PlatformServer,
    transport: Transport,
    status: int,
    error: dict[str, Any],
    retryable: bool,
) -> None:
    server.answer(Answer(status, {"error": {"type": "OAuthException", **error}}))
    with pytest.raises(DeliveryFailed) as failed:
        await MetaConnector().send(
            reply("facebook", "P", target("C"), credentials=META_CREDS), transport
        )
    assert failed.value.retryable is retryable
    assert error["message"] in failed.value.message
    assert f"code {error['code']}" in failed.value.message


async def test_youtube_video_and_error_classes(
    server: PlatformServer, transport: Transport
) -> None:
    youtube = YouTubeConnector()
    creds = {"access_token": YT_TOKEN}
    server.answer(Answer(200, {"kind": "youtube#commentThread", "id": "UgT1"}))
    video = target("VID", "mention", context={"video_id": "VID", "event": "video_published"})
    result = await youtube.send(reply("youtube", "VID", video, credentials=creds), transport)
    assert result.external_id == "UgT1"
    request = server.requests[0]
    assert request.path == "/youtube/v3/commentThreads" and request.query == {"part": "snippet"}
    assert request.json == {
        "snippet": {"videoId": "VID", "topLevelComment": {"snippet": {"textOriginal": "Hallo"}}}
    }
    for reason, retryable in (("quotaExceeded", False), ("rateLimitExceeded", True)):
        server.answer(
            Answer(403, {"error": {"code": 403, "message": reason, "errors": [{"reason": reason}]}})
        )
        with pytest.raises(DeliveryFailed) as failed:
            await youtube.send(reply("youtube", "V", target("C1"), credentials=creds), transport)
        assert failed.value.retryable is retryable


async def test_x_dm_participant_and_telegram_variants(
    server: PlatformServer, transport: Transport
) -> None:
    server.default = Answer(201, {"data": {"dm_event_id": "E2"}})
    ours = target("E1", "dm", direction="outbound", author_platform_id="900")
    await XConnector().send(
        reply(
            "x",
            "777-900",
            ours,
            conversation_kind="dm",
            credentials={"access_token": X_TOKEN, "user_id": "900"},
        ),
        transport,
    )
    assert server.requests[-1].path == "/2/dm_conversations/with/777/messages"

    server.default = Answer(200, {"ok": True, "result": {"message_id": 7}})
    telegram = TelegramConnector()
    creds = {"bot_token": BOT_TOKEN}
    result = await telegram.send(
        reply("telegram", "@brandchannel", None, credentials=creds), transport
    )
    assert result.external_id == "@brandchannel:7"
    assert server.requests[-1].json == {"chat_id": "@brandchannel", "text": "Hallo"}
    # A target in another chat is not quoted.
    await telegram.send(reply("telegram", "42", target("43:5"), credentials=creds), transport)
    assert "reply_parameters" not in server.requests[-1].json
    assert telegram.account_id("telegram", creds, "42") == "123456789"


async def test_transport_failures_are_retryable_and_keep_secrets(
    server: PlatformServer, transport: Transport
) -> None:
    creds = {"bot_token": BOT_TOKEN}
    server.answer(Answer(200, {"ok": True}, delay_s=1.0))  # longer than the client's 0.5 s
    with pytest.raises(DeliveryFailed) as timed_out:
        await TelegramConnector().send(reply("telegram", "1", None, credentials=creds), transport)
    assert timed_out.value.retryable and BOT_TOKEN not in timed_out.value.message

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nowhere = Transport(
        http=transport.http, endpoints=Endpoints(telegram_api=f"http://127.0.0.1:{closed_port}")
    )
    with pytest.raises(DeliveryFailed) as refused:
        await TelegramConnector().send(reply("telegram", "1", None, credentials=creds), nowhere)
    assert refused.value.retryable and BOT_TOKEN not in refused.value.message

    server.answer(Answer(200, {"ok": True, "result": {}}))
    empty = await TelegramConnector().send(
        reply("telegram", "1", None, credentials=creds), transport
    )
    assert empty.external_id is None  # accepted without an id: sent, never sent again

    with pytest.raises(DeliveryFailed) as missing:
        await MetaConnector().send(reply("facebook", "P", None), transport)
    assert not missing.value.retryable and "page_access_token" in missing.value.message


def test_registry_and_credentials() -> None:
    assert set(CONNECTORS) == {
        "facebook", "instagram", "messenger", "whatsapp", "x", "telegram", "youtube",
        "mailgun", "sendgrid",
    }  # fmt: skip
    with pytest.raises(RepliesUnsupported):
        connector_for("trustpilot")
    meta = MetaConnector()
    assert meta.missing_credentials("whatsapp", {"access_token": "t"}) == ["phone_number_id"]
    assert meta.missing_credentials("facebook", {"page_access_token": "t"}) == []
    assert meta.account_id("messenger", {}, "1001:PSID") == "1001"
    assert "page_access_token" not in repr(reply("facebook", "P", None, credentials=META_CREDS))


def test_retry_arithmetic() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30)), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30)), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    rng = random.Random(7)
    policy = {"base_s": 2.0, "max_s": 60.0, "retry_after_max_s": 120.0, "rng": rng}
    assert retry_delay_s(attempt=1, retry_after_s=300, **policy) == 120.0  # capped
    assert retry_delay_s(attempt=3, retry_after_s=0, **policy) == 0.0
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)):
        wait = retry_delay_s(attempt=attempt, retry_after_s=None, **policy)
        assert ceiling / 2 <= wait <= ceiling
