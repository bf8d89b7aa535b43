"""Notifications against real receivers on 127.0.0.1: a recording HTTP server for signed
webhooks and Slack-compatible webhooks (retries, Retry-After, giving up), and an SMTP server
(aiosmtpd) for e-mail. The dispatcher runs as in production, driven by the test."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import socket
from typing import Any

from aiosmtpd.controller import Controller

from people.models import Role
from tests.conftest import Running, make_settings, serve
from tests.escalation.recorder import Recorder, Reply
from tests.escalation.support import FakeTriager, add_user, rows, timeline
from tests.helpers import bearer


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side of Standard Webhooks, written from the spec."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, candidate.partition(",")[2])
        for candidate in headers["webhook-signature"].split()
        if candidate.startswith("v1,")
    )


async def drain(running: Running, predicate: Any, *, timeout_s: float = 15.0) -> None:
    """Run the dispatcher until ``predicate`` holds."""
    dispatcher = running.services.escalation.dispatcher
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await dispatcher.run_once()
            await asyncio.sleep(0.02)


async def integration(running: Running, token: str, **body: Any) -> dict[str, Any]:
    response = await running.client.post("/api/v1/integrations", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def incident_with_policy(
    running: Running, token: str, level: dict[str, Any], **policy: Any
) -> int:
    created = await running.client.post(
        "/api/v1/escalation-policies",
        json={"name": "Alarm", "levels": [{"delay_s": 600} | level]} | policy,
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    opened = await running.client.post(
        "/api/v1/incidents",
        json={"title": "Rückruf", "severity": "critical", "policy_id": created.json()["id"]},
        headers=bearer(token),
    )
    assert opened.status_code == 201, opened.text
    incident_id: int = opened.json()["id"]
    return incident_id


async def statuses(running: Running) -> dict[str, tuple[str, int]]:
    found = await rows(running.services, "SELECT target, status, attempts FROM notification")
    return {r["target"]: (r["status"], r["attempts"]) for r in found}


async def test_signed_webhook_retried_after_a_500_is_delivered_once_with_one_id(
    database_url: str,
) -> None:
    settings = make_settings(database_url, notify_backoff_base_s=0.05)
    async with (
        Recorder() as receiver,
        serve(settings, triager=FakeTriager(), run_worker=False) as app,
    ):
        _, admin = await add_user(app.services, "admin@example.com", Role.admin)
        hook = await integration(
            app, admin, kind="webhook", name="Krisen-Tool", url=receiver.url("/hook")
        )
        slack = await integration(
            app, admin, kind="slack", name="#krise", url=receiver.url("/slack/T000/B000/XXXX")
        )
        assert hook["secret"].startswith("whsec_") and hook["has_secret"]
        listed = (await app.client.get("/api/v1/integrations", headers=bearer(admin))).json()
        assert all("secret" not in item for item in listed["items"])
        assert "XXXX" not in json.dumps(listed)  # a Slack URL is a credential too

        receiver.answer("/hook", Reply(500, b"try later"))
        incident_id = await incident_with_policy(
            app, admin, {"integration_ids": [hook["id"], slack["id"]]}
        )

        async def both_delivered() -> bool:
            return {s for s, _ in (await statuses(app)).values()} == {"delivered"}

        await drain(app, both_delivered)
        # Nothing more goes out afterwards.
        await app.services.escalation.dispatcher.run_once()

        attempts = receiver.on("/hook")
        assert len(attempts) == 2
        assert attempts[0].headers["webhook-id"] == attempts[1].headers["webhook-id"]
        for request in attempts:
            assert verify_standard_webhook(hook["secret"], request.headers, request.body)
            assert request.headers["content-type"] == "application/json"
        assert not verify_standard_webhook(
            "whsec_" + base64.b64encode(b"x" * 32).decode(), attempts[1].headers, attempts[1].body
        )
        payload = json.loads(attempts[1].body)
        assert payload["type"] == "incident.alert"
        assert payload["data"]["incident"]["id"] == incident_id
        assert payload["data"]["incident"]["severity"] == "critical"
        (slack_request,) = receiver.on("/slack/T000/B000/XXXX")
        text = json.loads(slack_request.body)["text"]
        assert f"CRITICAL incident #{incident_id}: Rückruf" in text

        assert await statuses(app) == {
            f"integration:{hook['id']}": ("delivered", 2),
            f"integration:{slack['id']}": ("delivered", 1),
        }
        kinds = await timeline(app.services, incident_id)
        assert kinds.count("notification.queued") == 2
        assert kinds.count("notification.retrying") == 1
        assert kinds.count("notification.delivered") == 2
        log = (
            await app.client.get(
                "/api/v1/notifications", params={"incident_id": incident_id}, headers=bearer(admin)
            )
        ).json()["items"]
        webhook_entry = next(n for n in log if n["channel"] == "webhook")
        assert webhook_entry["response_code"] == 200 and webhook_entry["attempts"] == 2
        assert webhook_entry["delivery_id"] == attempts[0].headers["webhook-id"]


async def test_slack_webhook_retried_after_a_500_is_delivered_once(database_url: str) -> None:
    """A Slack-compatible incoming webhook that answers 500 once is sent again, with the
    same body, and then never again: two requests in all, one of them delivered."""
    settings = make_settings(database_url, notify_backoff_base_s=0.05, notify_backoff_max_s=0.2)
    path = "/services/T000/B000/XXXX"
    async with (
        Recorder() as receiver,
        serve(settings, triager=FakeTriager(), run_worker=False) as app,
    ):
        _, admin = await add_user(app.services, "admin@example.com", Role.admin)
        slack = await integration(app, admin, kind="slack", name="#krise", url=receiver.url(path))
        receiver.answer(path, Reply(500, b"internal_error"))
        incident_id = await incident_with_policy(app, admin, {"integration_ids": [slack["id"]]})
        target = f"integration:{slack['id']}"

        async def delivered() -> bool:
            return (await statuses(app)).get(target, ("",))[0] == "delivered"

        await drain(app, delivered)
        # Past any backoff, the dispatcher finds nothing more to send.
        await asyncio.sleep(0.5)
        for _ in range(3):
            await app.services.escalation.dispatcher.run_once()

        first, second = receiver.on(path)
        assert len(receiver.requests) == 2
        for request in (first, second):
            assert request.method == "POST"
            assert request.headers["content-type"] == "application/json"
            text = json.loads(request.body)["text"]
            assert f"CRITICAL incident #{incident_id}: Rückruf" in text
        assert first.body == second.body
        assert second.at - first.at >= 0.04  # after the backoff, not at once

        assert await statuses(app) == {target: ("delivered", 2)}
        (logged,) = await rows(app.services, "SELECT response_code, last_error FROM notification")
        assert logged["response_code"] == 200
        kinds = await timeline(app.services, incident_id)
        assert kinds.count("notification.queued") == 1
        assert kinds.count("notification.retrying") == 1
        assert kinds.count("notification.delivered") == 1
        assert "notification.failed" not in kinds
        log = (
            await app.client.get(
                "/api/v1/notifications", params={"incident_id": incident_id}, headers=bearer(admin)
            )
        ).json()["items"]
        (entry,) = [n for n in log if n["channel"] == "slack"]
        assert entry["status"] == "delivered" and entry["attempts"] == 2
        assert "XXXX" not in json.dumps(log)  # the URL is a credential


async def test_retry_after_is_honoured_and_hopeless_deliveries_fail(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, notify_backoff_base_s=0.05, notify_max_attempts=3)
    async with (
        Recorder() as receiver,
        serve(settings, triager=FakeTriager(), run_worker=False) as app,
    ):
        _, admin = await add_user(app.services, "admin@example.com", Role.admin)
        patient = await integration(app, admin, kind="webhook", name="a", url=receiver.url("/429"))
        broken = await integration(app, admin, kind="webhook", name="b", url=receiver.url("/500"))
        refused = await integration(app, admin, kind="slack", name="c", url=receiver.url("/410"))
        receiver.answer("/429", Reply(429, headers={"retry-after": "1"}))
        receiver.answer("/500", *[Reply(503)] * 5)
        receiver.answer("/410", Reply(410, b"channel_is_archived"))
        incident_id = await incident_with_policy(
            app, admin, {"integration_ids": [patient["id"], broken["id"], refused["id"]]}
        )

        async def settled() -> bool:
            return all(s in ("delivered", "failed") for s, _ in (await statuses(app)).values())

        await drain(app, settled)

        assert await statuses(app) == {
            f"integration:{patient['id']}": ("delivered", 2),
            f"integration:{broken['id']}": ("failed", 3),
            f"integration:{refused['id']}": ("failed", 1),
        }
        first, second = receiver.on("/429")
        assert second.at - first.at >= 0.95  # Retry-After: 1
        assert len(receiver.on("/500")) == 3
        assert len(receiver.on("/410")) == 1
        failed = await rows(
            app.services,
            "SELECT last_error, response_code FROM notification WHERE status = 'failed'",
        )
        assert {f["response_code"] for f in failed} == {503, 410}
        assert any("channel_is_archived" in f["last_error"] for f in failed)
        assert (await timeline(app.services, incident_id)).count("notification.failed") == 2


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.original_content, policy=email.policy.default),
            )
        )
        return "250 OK"


async def test_email_reaches_the_smtp_server_for_users_and_addresses(sqlite_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = make_settings(
            sqlite_url, smtp_host="127.0.0.1", smtp_port=port, smtp_from="alarm@leitstand.test"
        )
        async with serve(settings, triager=FakeTriager(), run_worker=False) as app:
            _, admin = await add_user(app.services, "admin@example.com", Role.admin)
            pr_id, _ = await add_user(app.services, "presse@example.com", Role.pr)
            desk = await integration(
                app, admin, kind="email", name="Krisenstab", email_address="stab@example.com"
            )
            incident_id = await incident_with_policy(
                app, admin, {"user_ids": [pr_id], "integration_ids": [desk["id"]]}
            )

            async def sent() -> bool:
                found = await statuses(app)
                return (
                    found.get("presse@example.com", ("",))[0] == "sent"
                    and found.get("stab@example.com", ("",))[0] == "sent"
                )

            await drain(app, sent)

            assert sorted(to for to, _ in inbox.messages) == [
                ["presse@example.com"],
                ["stab@example.com"],
            ]
            for to, message in inbox.messages:
                assert message["To"] == to[0]
                assert message["From"] == "alarm@leitstand.test"
                assert (
                    message["Subject"] == f"[Leitstand] CRITICAL incident #{incident_id}: Rückruf"
                )
                body = message.get_content()
                assert "level 1 of 'Alarm', round 1" in body
                assert f"/incidents/{incident_id}" in body
            # The user was alerted on the websocket too.
            channels = await rows(
                app.services, "SELECT channel, status FROM notification ORDER BY id"
            )
            assert {"channel": "websocket", "status": "delivered"} in channels
            kinds = await timeline(app.services, incident_id)
            assert kinds.count("notification.sent") == 2
    finally:
        controller.stop()
