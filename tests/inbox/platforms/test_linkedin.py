"""LinkedInAdapter: the challengeCode handshake, both X-LI-Signature readings, comments.

Expected values were written from SPEC.md §7 and ``../shared/webhooks/linkedin``, whose only
file is the JSON an endpoint returns for a challenge (its clientSecret is not published, so
the response can be checked for shape, not recomputed). No notification body was published;
the ones here are written from LinkedIn's social-actions API.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.linkedin import LinkedInAdapter
from tests.fixtures_shared import shared_path

LINKEDIN = LinkedInAdapter()
CLIENT_SECRET = "linkedin-client-secret"
CREDS = ChannelCredentials(secret=CLIENT_SECRET, verify_token=None)
HEADER = "x-li-signature"


def hmac_hex(message: bytes, secret: str = CLIENT_SECRET) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def load_challenge() -> dict[str, str]:
    raw = shared_path("webhooks", "linkedin", "docs_challenge_response.json").read_bytes()
    fixture: dict[str, str] = json.loads(raw)
    return fixture


# --- challenge ----------------------------------------------------------------------------------


def test_challenge_response_has_the_documented_shape() -> None:
    docs = load_challenge()
    reply = LINKEDIN.handshake(
        CREDS, {"challengeCode": docs["challengeCode"], "applicationId": "86abc"}
    )
    assert reply.media_type == "application/json"
    answer = json.loads(reply.body)
    # Same keys, same code echoed, same kind of response as the documented example...
    assert set(answer) == set(docs)
    assert answer["challengeCode"] == docs["challengeCode"]
    assert re.fullmatch(r"[0-9a-f]{64}", answer["challengeResponse"])
    assert re.fullmatch(r"[0-9a-f]{64}", docs["challengeResponse"])
    # ...computed as hex(HMAC-SHA256(key = clientSecret, msg = challengeCode)).
    assert answer["challengeResponse"] == hmac_hex(docs["challengeCode"].encode())
    # The documented example was made with LinkedIn's unpublished secret, not ours.
    assert answer["challengeResponse"] != docs["challengeResponse"]


@pytest.mark.parametrize(
    ("query", "creds"),
    [
        ({}, CREDS),
        ({"challengeCode": ""}, CREDS),
        ({"challengeCode": "x"}, ChannelCredentials(secret=None, verify_token=None)),
    ],
)
def test_challenge_refused(query: dict[str, str], creds: ChannelCredentials) -> None:
    with pytest.raises(HandshakeRefused):
        LINKEDIN.handshake(creds, query)


# --- X-LI-Signature -----------------------------------------------------------------------------

BODY = b'{"notifications": []}'


@pytest.mark.parametrize(
    "header",
    [
        hmac_hex(BODY),  # hex(HMAC(body))
        "hmacsha256=" + hmac_hex(BODY),  # the same, prefixed
        hmac_hex(b"hmacsha256=" + BODY),  # HMAC over the prefixed body
        "hmacsha256=" + hmac_hex(b"hmacsha256=" + BODY),
        hmac_hex(BODY).upper(),
    ],
)
def test_both_documented_readings_verify(header: str) -> None:
    LINKEDIN.verify(CREDS, {HEADER: header}, BODY, now_s=0)


@pytest.mark.parametrize(
    "header",
    [
        hmac_hex(BODY, "other-secret"),
        hmac_hex(BODY + b" "),
        "hmacsha256=",
        "sha256=" + hmac_hex(BODY),
        "hmacsha256=xyz",
    ],
)
def test_forged_or_malformed_signature_is_403(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        LINKEDIN.verify(CREDS, {HEADER: header}, BODY, now_s=0)


def test_missing_signature_is_401() -> None:
    with pytest.raises(SignatureMissing):
        LINKEDIN.verify(CREDS, {}, BODY, now_s=0)


def test_channel_without_client_secret_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        LINKEDIN.verify(
            ChannelCredentials(secret=None, verify_token=None),
            {HEADER: hmac_hex(BODY)},
            BODY,
            now_s=0,
        )


# --- notifications ----------------------------------------------------------------------------

BodyBuilder = Callable[[bytes], bytes]
# The challenge fixture is a handshake sample: it is covered above, never POSTed.
SHARED_LINKEDIN_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {}


def test_every_linkedin_fixture_is_covered() -> None:
    present = {path.name for path in shared_path("webhooks", "linkedin").glob("*")}
    assert present == {"docs_challenge_response.json"}


POST = "urn:li:share:7000000000000000001"
COMMENT_URN = "urn:li:comment:(urn:li:activity:7000000000000000000,7000000000000000099)"


def comment_notification(**fields: Any) -> dict[str, Any]:
    notification: dict[str, Any] = {
        "notificationId": 123456,
        "action": "COMMENT",
        "organizationalEntity": "urn:li:organization:2414183",
        "sourcePost": POST,
        "generatedActivity": COMMENT_URN,
        "lastModifiedAt": 1795420900000,
        "decoratedGeneratedActivity": {
            "comment": {
                "entity": COMMENT_URN,
                "actor": "urn:li:person:Abc123",
                "text": "Wann wird die Störung behoben?",
                "created": {"time": 1795420800000},
            }
        },
    }
    return notification | fields


def parse_json(payload: Any) -> list[NormalizedMessage]:
    return LINKEDIN.parse(json.dumps(payload).encode(), {})


def test_own_comment_notification() -> None:
    notification = comment_notification()
    [message] = parse_json({"notifications": [notification]})
    assert message == NormalizedMessage(
        external_id=COMMENT_URN,
        thread_key=POST,
        kind=Kind.comment,
        text="Wann wird die Störung behoben?",
        author=NormalizedAuthor(platform_id="urn:li:person:Abc123"),
        platform_created_at=datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC),
        raw=notification,
    )


def test_own_single_notification_with_the_comment_api_shape() -> None:
    notification = {
        "action": "COMMENT",
        "notificationId": 9,
        "comment": {
            "message": {"text": "Danke!"},
            "created": {"actor": "urn:li:person:Xyz", "time": 1795420800000},
            "object": "urn:li:activity:1",
        },
    }
    [message] = parse_json(notification)
    assert (message.external_id, message.thread_key, message.text, message.author) == (
        "9",
        "urn:li:activity:1",
        "Danke!",
        NormalizedAuthor(platform_id="urn:li:person:Xyz"),
    )


@pytest.mark.parametrize(
    "notification",
    [
        comment_notification(action="LIKE"),
        comment_notification(action="SHARE_MENTION"),
        comment_notification(decoratedGeneratedActivity=None),
        comment_notification(decoratedGeneratedActivity={"comment": {"text": ""}}),
        {"action": "ADMIN_COMMENT_DELETE", "notificationId": 1},
        {"unknown": "shape"},
    ],
)
def test_own_notifications_without_comment_text_produce_nothing(
    notification: dict[str, Any],
) -> None:
    assert parse_json({"notifications": [notification]}) == []


def test_own_comment_without_any_id_produces_nothing() -> None:
    notification = {"comment": {"text": "hi"}}
    assert parse_json(notification) == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "not valid JSON"),
        (b"[]", "body must be a JSON object"),
        (b'{"notifications": {}}', "notifications must be a list"),
        (b'{"notifications": [1]}', r"notifications\[0\] must be a JSON object"),
        (b'{"action": 5}', "action must be a string"),
        (b'{"comment": {"text": 5}}', "text must be a string"),
    ],
)
def test_malformed(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        LINKEDIN.parse(payload, {})
