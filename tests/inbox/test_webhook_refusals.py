"""Forged, missing, malformed, oversized or mistyped deliveries are refused and write nothing."""

from __future__ import annotations

import json

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
