"""The raw ASGI fast path for deliveries (``inbox.webhooks.WebhookFastPath``) answers exactly
as the FastAPI route behind it would, and leaves every other request to FastAPI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from tests.conftest import Running, make_settings, serve
from tests.helpers import add_channel, count_rows, meta_headers


def comment(comment_id: str, text: str = "Hallo") -> bytes:
    value = {
        "item": "comment",
        "verb": "add",
        "comment_id": comment_id,
        "post_id": "1_1",
        "parent_id": "1_1",
        "from": {"id": "9", "name": "Max"},
        "created_time": 1_700_000_000,
        "message": text,
    }
    entry = {"id": "1", "time": 1_700_000_000, "changes": [{"field": "feed", "value": value}]}
    return json.dumps({"object": "page", "entry": [entry]}).encode()


class Recorder:
    """Wraps the FastAPI stack behind the fast path; notes what reaches it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
async def fb(running: Running) -> tuple[Running, str]:
    channel = await add_channel(running.services, "facebook", secret="s3cret", verify_token="vt")
    return running, channel.id


async def test_deliveries_skip_fastapi_and_everything_else_reaches_it(
    fb: tuple[Running, str],
) -> None:
    r, cid = fb
    recorder = Recorder(r.app._front.app)
    r.app._front.app = recorder
    body = comment("1_2")
    stored = await r.client.post(
        f"/webhooks/{cid}", content=body, headers=meta_headers("s3cret", body)
    )
    assert stored.status_code == 200
    assert stored.json() == {"created": 1, "updated": 0, "deleted": 0, "duplicates": 0}
    missing = await r.client.post(
        "/webhooks/ch_nope", content=body, headers=meta_headers("x", body)
    )
    assert missing.status_code == 404
    assert recorder.seen == []

    handshake = await r.client.get(
        f"/webhooks/{cid}",
        params={"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "vt"},
    )
    assert handshake.status_code == 200 and handshake.text == "42"
    assert (await r.client.get("/healthz")).status_code == 200
    assert ("GET", f"/webhooks/{cid}") in recorder.seen and ("GET", "/healthz") in recorder.seen


async def test_other_methods_and_paths_behave_as_fastapi_has_them(fb: tuple[Running, str]) -> None:
    r, cid = fb
    body = comment("1_2")
    headers = meta_headers("s3cret", body)
    for method in ("PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        response = await r.client.request(method, f"/webhooks/{cid}", content=body, headers=headers)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET"
    slash = await r.client.post(f"/webhooks/{cid}/", content=body, headers=headers)
    assert slash.status_code == 307 and slash.headers["location"].endswith(f"/webhooks/{cid}")
    for path in ("/webhooks", "/webhooks/", f"/webhooks/{cid}/more"):
        response = await r.client.post(path, content=body, headers=headers)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}
    assert await count_rows(r.services, "message") == {"message": 0}


async def test_unknown_channel_is_404_with_the_domain_error_body(fb: tuple[Running, str]) -> None:
    r, _ = fb
    body = comment("1_2")
    response = await r.client.post(
        "/webhooks/ch_doesnotexist",
        content=body,
        headers=meta_headers("s3cret", body) | {"x-request-id": "req-404"},
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "channel_not_found", "message": "no channel ch_doesnotexist"}
    }
    assert response.headers["x-request-id"] == "req-404"
    assert response.headers["content-type"] == "application/json"


async def test_request_id_is_echoed_logged_and_stored(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve(make_settings(sqlite_url, log_level="INFO")) as r:
        channel = await add_channel(r.services, "facebook", secret="s")
        body = comment("1_2")
        ok = await r.client.post(
            f"/webhooks/{channel.id}",
            content=body,
            headers=meta_headers("s", body) | {"x-request-id": "req-fast-1"},
        )
        assert ok.status_code == 200 and ok.headers["x-request-id"] == "req-fast-1"
        body = comment("1_3")
        insane = await r.client.post(
            f"/webhooks/{channel.id}",
            content=body,
            headers=meta_headers("s", body) | {"x-request-id": "not a sane id!"},
        )
        generated = insane.headers["x-request-id"]
        assert len(generated) == 32 and int(generated, 16) >= 0
        refused = await r.client.post(
            f"/webhooks/{channel.id}",
            content=body,
            headers=meta_headers("wrong", body) | {"x-request-id": "req-fast-2"},
        )
        assert refused.status_code == 403 and refused.headers["x-request-id"] == "req-fast-2"
        async with r.services.sessionmaker() as session:
            rows = await session.execute(sa.text("SELECT external_id, correlation_id FROM message"))
            stored = {external_id: cid for external_id, cid in rows}
    assert stored == {"1_2": "req-fast-1", "1_3": generated}
    logged = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    stored_lines = [e for e in logged if e["event"] == "webhook.stored"]
    assert [e["correlation_id"] for e in stored_lines] == ["req-fast-1", generated]
    assert stored_lines[0] | {"timestamp": None} == {
        "event": "webhook.stored",
        "channel_id": channel.id,
        "created": 1,
        "updated": 0,
        "deleted": 0,
        "duplicates": 0,
        "correlation_id": "req-fast-1",
        "level": "info",
        "timestamp": None,
    }
    (refusal,) = [e for e in logged if e["event"] == "webhook.refused"]
    assert refusal["correlation_id"] == "req-fast-2" and refusal["reason"] == "signature_invalid"
    assert refusal["status"] == 403 and refusal["channel_id"] == channel.id
    assert "s3cret" not in json.dumps(logged) and '"s"' not in json.dumps(logged)


async def test_a_failure_to_store_is_a_plain_500_and_reaches_the_server(
    fb: tuple[Running, str],
) -> None:
    r, cid = fb

    async def broken(_: Any) -> Any:
        raise RuntimeError("storing the delivery failed")

    r.services.ingest.store = broken
    body = comment("1_2")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=r.app, raise_app_exceptions=False),
        base_url="http://testserver",
    )
    async with client:
        response = await client.post(
            f"/webhooks/{cid}",
            content=body,
            headers=meta_headers("s3cret", body) | {"x-request-id": "req-500"},
        )
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert response.headers["x-request-id"] == "req-500"
    with pytest.raises(RuntimeError, match="storing the delivery failed"):
        await r.client.post(f"/webhooks/{cid}", content=body, headers=meta_headers("s3cret", body))


def through_fastapi(app: FastAPI) -> httpx.AsyncClient:
    """A client for the app's FastAPI stack without the fast path in front."""

    async def stack(scope: Any, receive: Any, send: Any) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=stack), base_url="http://testserver")


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_fast_path_and_fastapi_route_answer_alike_on_every_outcome(sqlite_url: str) -> None:
    """Every outcome, once through the fast path and once through the FastAPI route (each
    on a channel of its own): same statuses, headers and bodies."""
    async with serve(make_settings(sqlite_url, webhook_max_body_bytes=4096)) as r:
        answers: dict[str, list[tuple[int, list[tuple[str, str]], bytes]]] = {}
        via_fastapi = through_fastapi(r.app)
        for name, client in (("fast", r.client), ("fastapi", via_fastapi)):
            channel = await add_channel(r.services, "facebook", secret="s3cret")
            url = f"/webhooks/{channel.id}"
            body = comment(f"{name}_1")
            big = comment(f"{name}_2", "x" * 5000)
            cases: list[tuple[str, Any, dict[str, str]]] = [
                (url, body, meta_headers("s3cret", body)),
                (url, body, meta_headers("s3cret", body)),  # a duplicate
                ("/webhooks/ch_nope", body, meta_headers("s3cret", body)),
                (url, body, meta_headers("s3cret", body) | {"content-type": "text/plain"}),
                (url, big, meta_headers("s3cret", big)),
                (url, chunked(big[:3000], big[3000:]), meta_headers("s3cret", big)),
                (url, body, meta_headers("wrong", body)),
                (url, body, {"content-type": "application/json"}),
                (url, b"{nope", meta_headers("s3cret", b"{nope")),
            ]
            answers[name] = []
            for i, (path, content, headers) in enumerate(cases):
                response = await client.post(
                    path, content=content, headers=headers | {"x-request-id": f"req-{i}"}
                )
                answers[name].append(
                    (response.status_code, response.headers.multi_items(), response.content)
                )
        await via_fastapi.aclose()
    fast, slow = answers["fast"], answers["fastapi"]
    assert [a[0] for a in fast] == [200, 200, 404, 415, 413, 413, 403, 401, 400]
    assert fast == slow
