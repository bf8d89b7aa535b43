"""StandardWebhooksAdapter: the spec's signature scheme and our message events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.standard_webhooks import StandardWebhooksAdapter
from tests.fixtures_shared import shared_path

ADAPTER = StandardWebhooksAdapter()
SECRET = "whsec_" + base64.b64encode(b"our-own-32-byte-signing-secret!!").decode()
CREDS = ChannelCredentials(secret=SECRET, verify_token=None)
NOW_S = 1_800_000_000


def signature(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers_for(body: bytes, *, msg_id: str = "msg_1", timestamp: int = NOW_S) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(SECRET, msg_id, timestamp, body),
    }


def load_vector() -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(
        shared_path("webhooks", "standard-webhooks", "test_vector.json").read_text()
    )
    return vector


def vector_headers(vector: dict[str, Any], signature_header: str | None = None) -> dict[str, str]:
    return {
        "webhook-id": vector["msg_id"],
        "webhook-timestamp": str(vector["timestamp"]),
        "webhook-signature": signature_header or vector["expected_signature_header"],
    }


def verify_vector(vector: dict[str, Any], headers: dict[str, str], *, now_s: float) -> None:
    creds = ChannelCredentials(secret=vector["secret"], verify_token=None)
    ADAPTER.verify(creds, headers, vector["payload"].encode(), now_s=now_s)


# --- the published test vector -----------------------------------------------------------------


def test_vector_verifies_at_its_timestamp() -> None:
    vector = load_vector()
    verify_vector(vector, vector_headers(vector), now_s=vector["timestamp"])


@pytest.mark.parametrize("offset_s", [-300, 300])
def test_vector_verifies_at_the_edge_of_the_tolerance(offset_s: int) -> None:
    vector = load_vector()
    verify_vector(vector, vector_headers(vector), now_s=vector["timestamp"] + offset_s)


@pytest.mark.parametrize("offset_s", [-301, 301])
def test_vector_is_stale_outside_five_minutes(offset_s: int) -> None:
    vector = load_vector()
    with pytest.raises(SignatureInvalid, match="outside the tolerance"):
        verify_vector(vector, vector_headers(vector), now_s=vector["timestamp"] + offset_s)


def test_vector_with_a_rotated_key_lists_two_signatures() -> None:
    vector = load_vector()
    old_key_signature = signature(
        "whsec_" + base64.b64encode(b"the previous secret").decode(),
        vector["msg_id"],
        vector["timestamp"],
        vector["payload"].encode(),
    )
    for listed in (
        f"{old_key_signature} {vector['expected_signature_header']}",
        f"{vector['expected_signature_header']} {old_key_signature}",
        f"v1a,c2lnbmF0dXJl {vector['expected_signature_header']}",
    ):
        verify_vector(vector, vector_headers(vector, listed), now_s=vector["timestamp"])
    with pytest.raises(SignatureInvalid):
        verify_vector(vector, vector_headers(vector, old_key_signature), now_s=vector["timestamp"])


def test_vector_with_a_forged_payload_is_rejected() -> None:
    vector = load_vector()
    creds = ChannelCredentials(secret=vector["secret"], verify_token=None)
    with pytest.raises(SignatureInvalid):
        ADAPTER.verify(
            creds, vector_headers(vector), b'{"test": 2432232315}', now_s=vector["timestamp"]
        )


def test_vector_body_is_an_unknown_event_and_stores_nothing() -> None:
    vector = load_vector()
    assert ADAPTER.parse(vector["payload"].encode(), vector_headers(vector)) == []


# --- our own signatures ------------------------------------------------------------------------


def test_own_signature_verifies() -> None:
    body = b'{"type": "message.created"}'
    ADAPTER.verify(CREDS, headers_for(body), body, now_s=NOW_S)


def test_secret_without_prefix_is_accepted() -> None:
    body = b"{}"
    creds = ChannelCredentials(secret=SECRET.removeprefix("whsec_"), verify_token=None)
    ADAPTER.verify(creds, headers_for(body), body, now_s=NOW_S)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_401(missing: str) -> None:
    headers = headers_for(b"{}")
    del headers[missing]
    with pytest.raises(SignatureMissing, match=missing) as caught:
        ADAPTER.verify(CREDS, headers, b"{}", now_s=NOW_S)
    assert caught.value.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "v2," + signature(SECRET, "msg_1", NOW_S, b"{}").removeprefix("v1,"),
        signature(SECRET, "msg_1", NOW_S, b"{}").removeprefix("v1,"),
        "v1,not base64!",
        "v1,",
        "v1",
        signature(SECRET, "msg_2", NOW_S, b"{}"),
        signature(SECRET, "msg_1", NOW_S + 1, b"{}"),
    ],
)
def test_wrong_signature_is_403(header: str) -> None:
    headers = headers_for(b"{}") | {"webhook-signature": header}
    with pytest.raises(SignatureInvalid) as caught:
        ADAPTER.verify(CREDS, headers, b"{}", now_s=NOW_S)
    assert caught.value.status_code == 403


@pytest.mark.parametrize("timestamp", ["", "abc", "-5", "1.5", "1800000000 ", "+1800000000"])
def test_timestamp_must_be_unix_seconds(timestamp: str) -> None:
    headers = headers_for(b"{}") | {"webhook-timestamp": timestamp}
    with pytest.raises((SignatureInvalid, SignatureMissing)):
        ADAPTER.verify(CREDS, headers, b"{}", now_s=NOW_S)


@pytest.mark.parametrize("secret", [None, "", "whsec_", "whsec_not base64", "whsec_ü"])
def test_unusable_channel_secret_accepts_nothing(secret: str | None) -> None:
    creds = ChannelCredentials(secret=secret, verify_token=None)
    with pytest.raises(SignatureInvalid):
        ADAPTER.verify(creds, headers_for(b"{}"), b"{}", now_s=NOW_S)


def test_there_is_no_handshake() -> None:
    with pytest.raises(HandshakeRefused):
        ADAPTER.handshake(CREDS, {})


# --- message events (PRODUCT.md "The public interface") -----------------------------------------


def event(event_type: str = "message.created", **data: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "timestamp": "2026-11-23T08:00:00Z",
        "data": {
            "id": "m-1",
            "text": "Der Bahnhof ist gesperrt, es brennt.",
            "author": {"id": "a-1", "name": "Erika Muster", "handle": "erika", "followers": 1200},
            "created_at": "2026-11-23T07:59:58Z",
        }
        | data,
    }


def parse(payload: Any) -> list[NormalizedMessage]:
    return ADAPTER.parse(json.dumps(payload).encode(), {})


def test_message_created() -> None:
    payload = event(
        thread_id="t-9", url="https://forum.example/t/9#m-1", language="de", kind="mention"
    )
    assert parse(payload) == [
        NormalizedMessage(
            external_id="m-1",
            thread_key="t-9",
            kind=Kind.mention,
            action=Action.create,
            text="Der Bahnhof ist gesperrt, es brennt.",
            author=NormalizedAuthor(
                platform_id="a-1", handle="erika", display_name="Erika Muster", reach_followers=1200
            ),
            platform_created_at=datetime(2026, 11, 23, 7, 59, 58, tzinfo=UTC),
            language="de",
            url="https://forum.example/t/9#m-1",
            raw=payload,
        )
    ]


def test_message_updated_is_an_edit() -> None:
    [message] = parse(event("message.updated", text="Der Bahnhof ist wieder offen."))
    assert (message.external_id, message.action, message.text) == (
        "m-1",
        Action.edit,
        "Der Bahnhof ist wieder offen.",
    )


def test_message_deleted_needs_only_the_id() -> None:
    payload = {
        "type": "message.deleted",
        "timestamp": "2026-11-23T08:00:00Z",
        "data": {"id": "m-1"},
    }
    assert parse(payload) == [
        NormalizedMessage(
            external_id="m-1",
            thread_key="m-1",
            kind=Kind.comment,
            action=Action.delete,
            platform_created_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
            raw=payload,
        )
    ]


def test_thread_and_kind_defaults() -> None:
    [top] = parse(event())
    [reply] = parse(event(id="m-2", parent_id="m-1"))
    [threaded_reply] = parse(event(id="m-3", parent_id="m-2", thread_id="t-1"))
    assert (top.thread_key, top.kind, top.parent_external_id) == ("m-1", Kind.comment, None)
    assert (reply.thread_key, reply.kind, reply.parent_external_id) == ("m-1", Kind.reply, "m-1")
    assert (threaded_reply.thread_key, threaded_reply.kind) == ("t-1", Kind.reply)


def test_times_become_aware_utc() -> None:
    [offset] = parse(event(created_at="2026-11-23T08:59:58+01:00"))
    [naive] = parse(event(created_at="2026-11-23T07:59:58"))
    [fallback] = parse(event(created_at=None))
    assert offset.platform_created_at == datetime(2026, 11, 23, 7, 59, 58, tzinfo=UTC)
    assert naive.platform_created_at == datetime(2026, 11, 23, 7, 59, 58, tzinfo=UTC)
    assert fallback.platform_created_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_numeric_ids_become_strings() -> None:
    payload = event(id=17, thread_id=4, author={"id": 99, "name": "N"})
    [message] = parse(payload)
    assert (message.external_id, message.thread_key, message.author) == (
        "17",
        "4",
        NormalizedAuthor(platform_id="99", display_name="N"),
    )


@pytest.mark.parametrize(
    "body", [b'{"test": 2432232314}', b'{"type": "endpoint.ping"}', b'{"type": "message.reacted"}']
)
def test_unknown_events_are_accepted_and_ignored(body: bytes) -> None:
    assert ADAPTER.parse(body, {}) == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (event(author=None), "needs data.text and data.author"),
        (event(text=None), "needs data.text and data.author"),
        (event(id=""), "data.id"),
        (event(text=5), "data.text"),
        (event(author={"id": "a"}), "data.author.name"),
        (event(author={"id": "a", "name": "A", "followers": -1}), "data.author.followers"),
        (event(author={"id": "a", "name": "A", "followers": True}), "data.author.followers"),
        (event(url="javascript:alert(1)"), "data.url"),
        (event(kind="shout"), "data.kind"),
        (event(created_at="yesterday"), "data.created_at"),
        ({"type": "message.created"}, "data"),
        ({"type": "message.created", "data": []}, "data"),
        ({"type": 5}, "type must be a string"),
    ],
)
def test_invalid_message_events_are_malformed(payload: Any, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint) as caught:
        parse(payload)
    assert caught.value.status_code == 400


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"message.created"', b"\xff"])
def test_bodies_that_are_not_json_objects_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        ADAPTER.parse(body, {})
