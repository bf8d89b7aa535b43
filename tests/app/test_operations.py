"""Health, readiness, metrics, correlation ids, and secrets kept out of logs."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.worker import Worker
from inbox.processing import MESSAGE_STORED
from people.models import Role
from tests.conftest import Running, make_settings, serve
from tests.escalation.support import FakeTriager
from tests.helpers import add_channel, add_user, bearer, meta_headers


async def test_health_and_readiness(running: Running) -> None:
    assert (await running.client.get("/healthz")).json() == {"status": "ok"}
    ready = await running.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_readiness_checks_redis_when_configured(sqlite_url: str, redis_url: str) -> None:
    async with serve(make_settings(sqlite_url, redis_url=redis_url)) as r:
        assert (await r.client.get("/readyz")).json()["checks"]["redis"] == "ok"
    async with serve(make_settings(sqlite_url, redis_url="redis://127.0.0.1:1/0")) as r:
        broken = await r.client.get("/readyz")
        assert broken.status_code == 503 and broken.json()["checks"]["redis"].startswith("failed")


async def test_metrics_count_deliveries(running: Running) -> None:
    channel = await add_channel(running.services, "facebook", secret="s")
    body = b'{"object": "page", "entry": []}'
    await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers("s", body)
    )
    text = (await running.client.get("/metrics")).text
    assert 'leitstand_webhook_deliveries_total{outcome="stored",platform="facebook"}' in text


async def test_correlation_id_is_echoed_and_logged(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve(make_settings(sqlite_url, log_level="INFO")) as running:
        await _post_with_request_id(running, capsys)


async def _post_with_request_id(running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    channel = await add_channel(running.services, "facebook", secret="top-secret-value")
    body = b'{"object": "page", "entry": []}'
    response = await running.client.post(
        f"/webhooks/{channel.id}",
        content=body,
        headers=meta_headers("top-secret-value", body) | {"x-request-id": "req-42"},
    )
    assert response.headers["x-request-id"] == "req-42"
    generated = await running.client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    logged = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert any(
        e.get("correlation_id") == "req-42" and e["event"] == "webhook.stored" for e in logged
    )


async def test_secrets_never_reach_the_logs(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve(make_settings(sqlite_url, log_level="DEBUG")) as r:
        channel = await add_channel(
            r.services, "facebook", secret="sekrit-123", verify_token="vt-987"
        )
        body = b'{"object": "page", "entry": []}'
        await r.client.post(
            f"/webhooks/{channel.id}", content=body, headers=meta_headers("sekrit-123", body)
        )
        await r.client.post(
            f"/webhooks/{channel.id}", content=body, headers=meta_headers("wrong", body)
        )
        await r.client.get(
            f"/webhooks/{channel.id}",
            params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "vt-987"},
        )
        await r.client.post(
            "/api/v1/auth/login", json={"email": "a@example.com", "password": "pw-should-not-log"}
        )
    output = capsys.readouterr()
    assert "webhook.stored" in output.err and "webhook.refused" in output.err  # logs were captured
    for secret in ("sekrit-123", "vt-987", "pw-should-not-log"):
        assert secret not in output.err and secret not in output.out


def comment(comment_id: str, text: str) -> bytes:
    change = {
        "field": "feed",
        "value": {
            "item": "comment",
            "verb": "add",
            "comment_id": comment_id,
            "post_id": "1_1",
            "parent_id": "1_1",
            "from": {"id": f"u-{comment_id}", "name": "Max"},
            "created_time": 1_700_000_000,
            "message": text,
        },
    }
    entry = {"id": "1", "time": 1_700_000_000, "changes": [change]}
    return json.dumps({"object": "page", "entry": [entry]}).encode()


async def test_correlation_id_follows_each_message_through_the_worker(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two webhooks with their own X-Request-ID, processed by the worker in one batch: every
    line logged about a message carries the correlation id of the webhook that brought it."""
    settings = make_settings(sqlite_url, log_level="INFO")
    async with serve(settings, triager=FakeTriager(), run_worker=False) as running:
        _, admin = await add_user(running.services, "admin@example.com", Role.admin)
        rule = await running.client.post(
            "/api/v1/escalation-rules",
            json={
                "name": "Everything gets a label",
                "conditions": {"all": [{"field": "urgency", "op": "gte", "value": 0}]},
                "actions": [{"type": "add_labels", "labels": ["gesehen"]}],
            },
            headers=bearer(admin),
        )
        assert rule.status_code == 201, rule.text
        channel = await add_channel(running.services, "facebook", secret="s")
        request_ids = {"1_2": "req-first", "1_3": "req-second"}
        for comment_id, request_id in request_ids.items():
            body = comment(comment_id, f"Ich muss ins Krankenhaus ({comment_id})")
            stored = await running.client.post(
                f"/webhooks/{channel.id}",
                content=body,
                headers=meta_headers("s", body) | {"x-request-id": request_id},
            )
            assert stored.status_code == 200, stored.text
        async with running.services.sessionmaker() as session:
            message_ids = dict(
                (await session.execute(sa.text("SELECT external_id, id FROM message"))).all()
            )
        expected = {message_ids[e]: cid for e, cid in request_ids.items()}

        worker = Worker(
            running.services.queue,
            {MESSAGE_STORED: running.services.processor.handle},
            block_s=0.1,
        )
        assert await worker.run_once() == 2  # one batch, two correlation ids

    logged = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    for request_id in request_ids.values():
        assert any(
            e["event"] == "webhook.stored" and e.get("correlation_id") == request_id for e in logged
        )
    about = [e for e in logged if e.get("message_id") in expected]
    events = {e["event"] for e in about}
    assert {"message.processed", "escalation.rules_fired"} <= events, events
    for e in about:
        assert e.get("correlation_id") == expected[e["message_id"]], e
