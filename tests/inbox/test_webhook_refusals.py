"""Forged, missing, malformed, oversized or mistyped deliveries are refused and write nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from tests.conftest import Running, make_settings, serve
from tests.helpers import add_channel, count_rows, meta_headers, standard_headers

TABLES = ("message", "conversation", "author")
EMPTY = dict.fromkeys(TABLES, 0)

COMMENT = json.dumps(
    {
        "object": "page",
        "entry": [
            {
                "id": "1",
                "time": 1_700_000_000,
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "item": "comment",
                            "verb": "add",
                            "comment_id": "1_2",
                            "post_id": "1_1",
                            "parent_id": "1_1",
                            "from": {"id": "9", "name": "Max"},
                            "created_time": 1_700_000_000,
                            "message": "Hallo",
                        },
                    }
                ],
            }
        ],
    }
).encode()


@pytest.fixture
async def fb(running: Running) -> tuple[Running, str]:
    channel = await add_channel(running.services, "facebook", secret="s3cret", verify_token="vt")
    return running, channel.id


async def refused(r: Running, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = await r.client.post(url, content=body, headers=headers)
    assert await count_rows(r.services, *TABLES) == EMPTY
    return response.status_code, response.json()


async def test_forged_signature_is_403(fb: tuple[Running, str]) -> None:
    r, cid = fb
    status, body = await refused(r, f"/webhooks/{cid}", COMMENT, meta_headers("wrong", COMMENT))
    assert status == 403 and body["error"]["code"] == "signature_invalid"


async def test_signature_of_other_bytes_is_403(fb: tuple[Running, str]) -> None:
    r, cid = fb
    tampered = COMMENT.replace(b"Hallo", b"Hallo!")
    status, _ = await refused(r, f"/webhooks/{cid}", tampered, meta_headers("s3cret", COMMENT))
    assert status == 403


async def test_missing_signature_is_401(fb: tuple[Running, str]) -> None:
    r, cid = fb
    status, body = await refused(
        r, f"/webhooks/{cid}", COMMENT, {"content-type": "application/json"}
    )
    assert status == 401 and body["error"]["code"] == "signature_missing"


async def test_unknown_channel_is_404(fb: tuple[Running, str]) -> None:
    r, _ = fb
    status, _ = await refused(
        r, "/webhooks/ch_doesnotexist", COMMENT, meta_headers("s3cret", COMMENT)
    )
    assert status == 404


async def test_malformed_json_is_400(fb: tuple[Running, str]) -> None:
    r, cid = fb
    body = b'{"object": "page", "entry": [}'
    status, payload = await refused(r, f"/webhooks/{cid}", body, meta_headers("s3cret", body))
    assert status == 400 and payload["error"]["code"] == "malformed_payload"


async def test_wrong_content_type_is_415(fb: tuple[Running, str]) -> None:
    r, cid = fb
    headers = meta_headers("s3cret", COMMENT) | {"content-type": "text/plain"}
    status, _ = await refused(r, f"/webhooks/{cid}", COMMENT, headers)
    assert status == 415


async def test_body_over_the_limit_is_413(fb: tuple[Running, str]) -> None:
    r, cid = fb
    big = COMMENT[:-1] + b', "padding": "' + b"x" * (1024 * 1024) + b'"}'
    status, _ = await refused(r, f"/webhooks/{cid}", big, meta_headers("s3cret", big))
    assert status == 413


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_streamed_body_without_content_length_over_the_limit_is_413(
    fb: tuple[Running, str],
) -> None:
    """A chunked delivery declares no size: the limit is enforced while the body streams."""
    r, cid = fb
    big = COMMENT[:-1] + b', "padding": "' + b"x" * (1024 * 1024) + b'"}'
    parts = [big[i : i + 64 * 1024] for i in range(0, len(big), 64 * 1024)]
    request = r.client.build_request(
        "POST", f"/webhooks/{cid}", content=chunked(*parts), headers=meta_headers("s3cret", big)
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await r.client.send(request)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await count_rows(r.services, *TABLES) == EMPTY

    # The same way of sending, under the limit, is stored: the 413 was the size, not chunking.
    parts = [COMMENT[:10], COMMENT[10:]]
    request = r.client.build_request(
        "POST", f"/webhooks/{cid}", content=chunked(*parts), headers=meta_headers("s3cret", COMMENT)
    )
    assert "content-length" not in request.headers
    stored = await r.client.send(request)
    assert stored.status_code == 200, stored.text
    assert (await count_rows(r.services, "message"))["message"] == 1


async def test_limit_is_a_setting(sqlite_url: str) -> None:
    async with serve(make_settings(sqlite_url, webhook_max_body_bytes=100)) as r:
        channel = await add_channel(r.services, "facebook", secret="s3cret")
        status, _ = await refused(
            r, f"/webhooks/{channel.id}", COMMENT, meta_headers("s3cret", COMMENT)
        )
        assert status == 413


async def test_stale_standard_webhook_is_refused(running: Running) -> None:
    channel = await add_channel(running.services, "standard-webhooks")
    body = json.dumps(
        {
            "type": "message.created",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {
                "id": "x",
                "text": "hi",
                "author": {"id": "a", "name": "A"},
                "created_at": "2026-01-01T00:00:00Z",
            },
        }
    ).encode()
    headers = standard_headers(channel.secret, body, timestamp=1_600_000_000)
    status, _ = await refused(running, f"/webhooks/{channel.id}", body, headers)
    assert status == 403


async def test_meta_handshake(fb: tuple[Running, str]) -> None:
    r, cid = fb
    ok = await r.client.get(
        f"/webhooks/{cid}",
        params={"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "vt"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await r.client.get(
        f"/webhooks/{cid}",
        params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "nope"},
    )
    assert wrong.status_code == 403


def generic_body(external_id: str, text: str = "hallo") -> bytes:
    return json.dumps(
        {
            "type": "message.created",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {
                "id": external_id,
                "text": text,
                "author": {"id": "a", "name": "A"},
                "created_at": "2026-01-01T00:00:00Z",
            },
        }
    ).encode()


async def test_forged_and_unsigned_standard_webhooks_are_refused(running: Running) -> None:
    """The generic channel over HTTP: a genuine delivery is stored, then every forged or
    unsigned one is refused with 403 or 401 and leaves the row counts as they were."""
    channel = await add_channel(running.services, "standard-webhooks")
    url = f"/webhooks/{channel.id}"
    genuine = generic_body("m-1")
    ok = await running.client.post(
        url, content=genuine, headers=standard_headers(channel.secret, genuine)
    )
    assert ok.status_code == 200, ok.text
    before = await count_rows(running.services, *TABLES)
    assert before == dict.fromkeys(TABLES, 1)

    body = generic_body("m-2", "gefälscht")
    good = standard_headers(channel.secret, body, msg_id="msg_2")
    other_secret = "whsec_" + base64.b64encode(b"not the channel's key, 32 bytes").decode()
    forged: dict[str, tuple[bytes, dict[str, str]]] = {
        "other secret": (body, standard_headers(other_secret, body, msg_id="msg_2")),
        "signature of other bytes": (
            body,
            standard_headers(channel.secret, generic_body("m-2"), msg_id="msg_2"),
        ),
        "signed with another webhook-id": (body, good | {"webhook-id": "msg_3"}),
        "signed at another timestamp": (
            body,
            good | {"webhook-timestamp": str(int(good["webhook-timestamp"]) - 1)},
        ),
        "unknown signature version": (
            body,
            good | {"webhook-signature": good["webhook-signature"].replace("v1,", "v1a,")},
        ),
        "garbage signature": (body, good | {"webhook-signature": "v1,!!!not-base64!!!"}),
        "replayed genuine signature": (body, standard_headers(channel.secret, genuine)),
    }
    for case, (content, headers) in forged.items():
        response = await running.client.post(url, content=content, headers=headers)
        assert response.status_code == 403, (case, response.text)
        assert response.json()["error"]["code"] == "signature_invalid", case
        assert await count_rows(running.services, *TABLES) == before, case

    unsigned: dict[str, dict[str, str]] = {
        "no signature headers": {"content-type": "application/json"},
        **{
            f"no {name}": {k: v for k, v in good.items() if k != name}
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        },
        "empty webhook-signature": good | {"webhook-signature": ""},
    }
    for case, headers in unsigned.items():
        response = await running.client.post(url, content=body, headers=headers)
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error"]["code"] == "signature_missing", case
        assert await count_rows(running.services, *TABLES) == before, case

    # The same body, signed, is taken: the refusals were the signatures.
    accepted = await running.client.post(url, content=body, headers=good)
    assert accepted.status_code == 200, accepted.text
    assert (await count_rows(running.services, "message"))["message"] == 2
