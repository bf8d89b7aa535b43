"""One case per platform with replies: the conversation it answers (as the platform's
adapter stores it), the request the platform's API documents for the reply, and the
platform's own answers (success, rate limit, a permanent error)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
from tests.inbox.replies.platform_server import Answer

TEXT = "Danke für den Hinweis – wir kümmern uns sofort darum! 🙏"
APP_SECRET = "app-secret"
PAGE_TOKEN = "PAGE-TOKEN-abc123"
WA_TOKEN = "WA-SYSTEM-TOKEN-xyz"
X_TOKEN = "X-USER-TOKEN-123"
BOT_TOKEN = "123456789:AAH-bot-secret-part"
YT_TOKEN = "ya29.YT-ACCESS-TOKEN"


def proof(token: str) -> str:
    return hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


def meta_error(status: int, code: int, message: str, **extra: Any) -> Answer:
    return Answer(
        status,
        {"error": {"message": message, "type": "OAuthException", "code": code, **extra}},
    )


@dataclass(frozen=True)
class Case:
    id: str
    platform: str
    credentials: dict[str, str]
    answered: NormalizedMessage
    path: str
    body: dict[str, Any]
    token: str
    success: Answer
    external_id: str
    permanent: Answer
    error_text: str  # what the agent must see of the permanent error
    secret: str | None = APP_SECRET
    query: dict[str, str] = field(default_factory=dict)
    auth_in_header: bool = True
    rate_limited: Answer = field(
        default_factory=lambda: Answer(429, {"error": "slow down"}, {"retry-after": "0"})
    )


def _msg(
    external_id: str, thread_key: str, kind: Kind, author: str, **kw: Any
) -> NormalizedMessage:
    return NormalizedMessage(
        external_id=external_id,
        thread_key=thread_key,
        kind=kind,
        text=kw.pop("text", "Wo bleibt meine Bestellung?"),
        author=NormalizedAuthor(platform_id=author, display_name=kw.pop("name", "Kundin")),
        **kw,
    )


CASES = [
    Case(
        id="facebook-comment",
        platform="facebook",
        credentials={"page_access_token": PAGE_TOKEN, "page_id": "1001"},
        answered=_msg("1001_2002_3003", "1001_2002", Kind.comment, "u-77"),
        path="/v21.0/1001_2002_3003/comments",
        body={"message": TEXT},
        query={"appsecret_proof": proof(PAGE_TOKEN)},
        token=PAGE_TOKEN,
        success=Answer(200, {"id": "1001_2002_3004"}),
        external_id="1001_2002_3004",
        rate_limited=meta_error(400, 613, "Calls to this api have exceeded the rate limit."),
        permanent=meta_error(
            400, 100, "(#100) The comment you are replying to has been deleted", fbtrace_id="Ab1"
        ),
        error_text="has been deleted",
    ),
    Case(
        id="messenger-dm",
        platform="messenger",
        credentials={"page_access_token": PAGE_TOKEN},
        answered=_msg("m_in_1", "1001:PSID9", Kind.dm, "PSID9"),
        path="/v21.0/1001/messages",
        body={
            "recipient": {"id": "PSID9"},
            "messaging_type": "RESPONSE",
            "message": {"text": TEXT},
        },
        query={"appsecret_proof": proof(PAGE_TOKEN)},
        token=PAGE_TOKEN,
        success=Answer(200, {"recipient_id": "PSID9", "message_id": "m_out_1"}),
        external_id="m_out_1",
        permanent=meta_error(
            400,
            10,
            "(#10) This message is sent outside of allowed window.",
            error_subcode=2018278,
        ),
        error_text="outside of allowed window",
    ),
    Case(
        id="instagram-comment",
        platform="instagram",
        credentials={"page_access_token": PAGE_TOKEN, "ig_user_id": "17841400"},
        answered=_msg("17890001", "17950000", Kind.comment, "IGU1"),
        path="/v21.0/17890001/replies",
        body={"message": TEXT},
        query={"appsecret_proof": proof(PAGE_TOKEN)},
        token=PAGE_TOKEN,
        success=Answer(200, {"id": "17890002"}),
        external_id="17890002",
        permanent=meta_error(400, 100, "(#100) Cannot reply to a hidden comment"),
        error_text="hidden comment",
    ),
    Case(
        id="instagram-dm",
        platform="instagram",
        credentials={"page_access_token": PAGE_TOKEN},
        answered=_msg("ig_mid_in", "17841400:IGSID5", Kind.dm, "IGSID5"),
        path="/v21.0/17841400/messages",
        body={
            "recipient": {"id": "IGSID5"},
            "messaging_type": "RESPONSE",
            "message": {"text": TEXT},
        },
        query={"appsecret_proof": proof(PAGE_TOKEN)},
        token=PAGE_TOKEN,
        success=Answer(200, {"recipient_id": "IGSID5", "message_id": "ig_mid_out"}),
        external_id="ig_mid_out",
        permanent=meta_error(400, 551, "(#551) This person isn't available right now."),
        error_text="isn't available",
    ),
    Case(
        id="whatsapp",
        platform="whatsapp",
        credentials={"access_token": WA_TOKEN, "phone_number_id": "106540352242922"},
        answered=_msg("wamid.IN1", "4915112345678", Kind.dm, "4915112345678"),
        path="/v21.0/106540352242922/messages",
        body={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "4915112345678",
            "type": "text",
            "text": {"preview_url": False, "body": TEXT},
            "context": {"message_id": "wamid.IN1"},
        },
        query={"appsecret_proof": proof(WA_TOKEN)},
        token=WA_TOKEN,
        success=Answer(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "4915112345678", "wa_id": "4915112345678"}],
                "messages": [{"id": "wamid.OUT1"}],
            },
        ),
        external_id="wamid.OUT1",
        rate_limited=meta_error(
            429, 130429, "(#130429) Rate limit hit", error_data={"details": "Throughput reached"}
        ),
        permanent=meta_error(
            400,
            131047,
            "(#131047) Re-engagement message",
            error_data={
                "messaging_product": "whatsapp",
                "details": "Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number.",
            },
        ),
        error_text="more than 24 hours have passed",
    ),
    Case(
        id="x-reply",
        platform="x",
        secret="consumer-secret",
        credentials={"access_token": X_TOKEN, "user_id": "900"},
        answered=_msg("1501", "1500", Kind.reply, "777", parent_external_id="1500"),
        path="/2/tweets",
        body={"text": TEXT, "reply": {"in_reply_to_tweet_id": "1501"}},
        token=X_TOKEN,
        success=Answer(
            201, {"data": {"id": "1502", "text": TEXT, "edit_history_tweet_ids": ["1502"]}}
        ),
        external_id="1502",
        rate_limited=Answer(
            429,
            {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"},
            {"x-rate-limit-reset": "0", "x-rate-limit-remaining": "0"},
        ),
        permanent=Answer(
            403,
            {
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            },
        ),
        error_text="duplicate content",
    ),
    Case(
        id="x-dm",
        platform="x",
        secret="consumer-secret",
        credentials={"access_token": X_TOKEN, "user_id": "900"},
        answered=_msg("DM1", "777-900", Kind.dm, "777"),
        path="/2/dm_conversations/with/777/messages",
        body={"text": TEXT},
        token=X_TOKEN,
        success=Answer(201, {"data": {"dm_conversation_id": "777-900", "dm_event_id": "DM2"}}),
        external_id="DM2",
        permanent=Answer(
            403,
            {"detail": "You cannot send messages to this user.", "title": "Forbidden"},
        ),
        error_text="cannot send messages to this user",
    ),
    Case(
        id="telegram",
        platform="telegram",
        secret="tg-secret-token",
        credentials={"bot_token": BOT_TOKEN},
        answered=_msg("-1001234:55", "-1001234", Kind.comment, "42"),
        path=f"/bot{BOT_TOKEN}/sendMessage",
        body={
            "chat_id": -1001234,
            "text": TEXT,
            "reply_parameters": {"message_id": 55, "allow_sending_without_reply": True},
        },
        token=BOT_TOKEN,
        auth_in_header=False,
        success=Answer(
            200,
            {
                "ok": True,
                "result": {
                    "message_id": 56,
                    "date": 1_700_000_000,
                    "chat": {"id": -1001234, "type": "supergroup"},
                    "text": TEXT,
                },
            },
        ),
        external_id="-1001234:56",
        rate_limited=Answer(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 0",
                "parameters": {"retry_after": 0},
            },
        ),
        permanent=Answer(
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was kicked from the supergroup chat",
            },
        ),
        error_text="bot was kicked",
    ),
    Case(
        id="youtube-comment",
        platform="youtube",
        secret="hub-secret",
        credentials={"access_token": YT_TOKEN, "channel_id": "UCbrand"},
        answered=_msg("UgzC1", "VIDEO1", Kind.comment, "UCviewer"),
        path="/youtube/v3/comments",
        query={"part": "snippet"},
        body={"snippet": {"parentId": "UgzC1", "textOriginal": TEXT}},
        token=YT_TOKEN,
        success=Answer(200, {"kind": "youtube#comment", "etag": "e1", "id": "UgzC1.R1"}),
        external_id="UgzC1.R1",
        permanent=Answer(
            403,
            {
                "error": {
                    "code": 403,
                    "message": "The comment cannot be created due to insufficient permissions.",
                    "errors": [{"domain": "youtube.comment", "reason": "forbidden"}],
                }
            },
        ),
        error_text="insufficient permissions",
    ),
]
