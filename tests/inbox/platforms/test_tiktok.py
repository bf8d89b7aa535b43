"""TikTokAdapter: TikTok-Signature with its tolerance, account events and Business DMs.

Expected values were written by reading ``../shared/webhooks/tiktok`` and SPEC.md §6. No
Business Messaging sample was published; the DM payloads here follow SPEC.md's envelope and
the content shape open-source handlers read (documented in the adapter).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.normalize import Direction, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.tiktok import TikTokAdapter
from tests.fixtures_shared import shared_path

TIKTOK = TikTokAdapter()
CLIENT_SECRET = "tiktok-client-secret"
CREDS = ChannelCredentials(secret=CLIENT_SECRET, verify_token=None)
NOW_S = 1_795_420_800
HEADER = "tiktok-signature"


def at(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def sign(body: bytes, timestamp: int = NOW_S, secret: str = CLIENT_SECRET) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},s={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def parse_json(payload: Any) -> list[NormalizedMessage]:
    return TIKTOK.parse(json.dumps(payload).encode(), {})


# --- TikTok-Signature -------------------------------------------------------------------------


def test_signature_over_timestamp_and_raw_body_verifies() -> None:
    body = shared_path("webhooks", "tiktok", "docs_authorization_removed.json").read_bytes()
    TIKTOK.verify(CREDS, {HEADER: sign(body)}, body, now_s=NOW_S)
    TIKTOK.verify(CREDS, {HEADER: " s=" + sign(body).split("s=")[1] + f", t={NOW_S}"}, body,
                  now_s=NOW_S)  # fmt: skip


@pytest.mark.parametrize("offset_s", [-300, 300])
def test_signature_inside_the_tolerance(offset_s: int) -> None:
    TIKTOK.verify(CREDS, {HEADER: sign(b"{}")}, b"{}", now_s=NOW_S + offset_s)


@pytest.mark.parametrize("offset_s", [-301, 301, 86400])
def test_stale_signature_is_403(offset_s: int) -> None:
    with pytest.raises(SignatureInvalid, match="older than"):
        TIKTOK.verify(CREDS, {HEADER: sign(b"{}")}, b"{}", now_s=NOW_S + offset_s)


@pytest.mark.parametrize(
    "header",
    [
        sign(b"{}", secret="other-secret"),
        sign(b"{} "),
        sign(b"{}", timestamp=NOW_S + 1).replace(f"t={NOW_S + 1}", f"t={NOW_S}"),
        f"t={NOW_S}",
        "s=" + "0" * 64,
        f"t=now,s={'0' * 64}",
        f"t={NOW_S},s=xyz",
        "garbage",
    ],
)
def test_forged_or_malformed_signature_is_403(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        TIKTOK.verify(CREDS, {HEADER: header}, b"{}", now_s=NOW_S)


def test_missing_signature_is_401() -> None:
    with pytest.raises(SignatureMissing):
        TIKTOK.verify(CREDS, {}, b"{}", now_s=NOW_S)


def test_channel_without_client_secret_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        TIKTOK.verify(
            ChannelCredentials(secret=None, verify_token=None),
            {HEADER: sign(b"{}")},
            b"{}",
            now_s=NOW_S,
        )


def test_there_is_no_handshake() -> None:
    with pytest.raises(HandshakeRefused):
        TIKTOK.handshake(CREDS, {})


# --- the fixture --------------------------------------------------------------------------------


def as_is(body: bytes) -> bytes:
    return body


BodyBuilder = Callable[[bytes], bytes]
SHARED_TIKTOK_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    # An account event: nothing to answer. (Its content is a JSON string: '{"reason": 1 }'.)
    "tiktok/docs_authorization_removed.json": (as_is, []),
}


@pytest.mark.parametrize("fixture", sorted(SHARED_TIKTOK_CASES))
def test_shared_tiktok_fixture(fixture: str) -> None:
    body = shared_path("webhooks", *fixture.split("/")).read_bytes()
    build, expected = SHARED_TIKTOK_CASES[fixture]
    assert TIKTOK.parse(build(body), {}) == expected


def test_every_tiktok_fixture_has_a_case() -> None:
    present = {f"tiktok/{path.name}" for path in shared_path("webhooks", "tiktok").glob("*")}
    assert present == set(SHARED_TIKTOK_CASES)


# --- our own Business Messaging deliveries ---------------------------------------------------


def envelope(event: str, content: Any) -> dict[str, Any]:
    return {
        "client_key": "bwo2m45353a6k85",
        "event": event,
        "create_time": NOW_S,
        "user_openid": "act.business",
        "content": content if isinstance(content, str) else json.dumps(content),
    }


DM_CONTENT = {
    "conversation_id": "conv-1",
    "message_id": "msg-1",
    "timestamp": 1_795_420_800_500,
    "type": "text",
    "text": {"body": "Das Produkt ist kaputt angekommen."},
    "from": "kunde_99",
    "from_user": {"id": "user-99"},
    "to_user": {"id": "act.business"},
}


def test_own_received_dm() -> None:
    payload = envelope("im_receive_msg", DM_CONTENT)
    [message] = parse_json(payload)
    assert message == NormalizedMessage(
        external_id="msg-1",
        thread_key="conv-1",
        kind=Kind.dm,
        text="Das Produkt ist kaputt angekommen.",
        author=NormalizedAuthor(platform_id="user-99", handle="kunde_99"),
        platform_created_at=at(2026, 11, 23, 8, 0, 0, 500000),
        raw={k: v for k, v in payload.items() if k != "content"} | {"content": DM_CONTENT},
    )


def test_own_sent_dm_is_outbound() -> None:
    content = DM_CONTENT | {"message_id": "msg-2", "from": None, "from_user": None}
    [message] = parse_json(envelope("im_send_msg", content))
    assert (message.direction, message.author, message.thread_key) == (
        Direction.outbound,
        NormalizedAuthor(platform_id="act.business"),
        "conv-1",
    )


def test_own_dm_without_ids_gets_a_stable_content_hash() -> None:
    content = {"text": "hallo?", "from_user": {"id": "user-99"}}
    [first] = parse_json(envelope("im_receive_msg", content))
    [again] = parse_json(envelope("im_receive_msg", content))
    assert first.external_id == again.external_id
    assert first.external_id.startswith("sha256:")
    assert first.thread_key == "act.business:user-99"
    assert first.platform_created_at == at(2026, 11, 23, 8, 0, 0)  # the envelope's create_time


@pytest.mark.parametrize(
    "payload",
    [
        envelope("im_receive_msg", DM_CONTENT | {"type": "image", "text": None}),
        envelope("im_receive_msg", DM_CONTENT | {"text": {"body": ""}}),
        envelope("im_mark_read_msg", {"conversation_id": "conv-1"}),
        envelope("video.upload.failed", {"share_id": "x"}),
        envelope("tiktok.ping", '{"reason":"testing Webhook"}'),
        envelope("authorization.removed", "not json at all"),  # never read
    ],
)
def test_own_events_without_text_produce_nothing(payload: dict[str, Any]) -> None:
    assert parse_json(payload) == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "not valid JSON"),
        (b"{}", "event is missing"),
        (b'{"event": 5}', "event must be a string"),
        (b'{"event": "im_receive_msg", "content": "{"}', "content is not valid JSON"),
        (b'{"event": "im_receive_msg", "content": "[]"}', "content must be a JSON object"),
        (b'{"event": "im_receive_msg", "content": "{\\"text\\": 5}"}', "text must be a string"),
        (
            b'{"event": "im_receive_msg", "content": "{\\"text\\": \\"hi\\"}"}',
            "conversation_id is missing",
        ),
    ],
)
def test_malformed(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        TIKTOK.parse(payload, {})
