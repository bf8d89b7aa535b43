"""PRODUCT.md story 2, "The critical message", end to end with the real triage model.

A real uvicorn server (``live_server``) with the real model, on SQLite with the in-process
queue and pub/sub, and on PostgreSQL with Redis. Set up through the API as an operator
would: a Facebook channel, a Slack-compatible and a signed outgoing-webhook integration
(both pointed at a local recording HTTP server), e-mail through a local SMTP server
(aiosmtpd), a two-level policy (level 1: the PR person on call, level 2: the head of
communications) and the critical rule that starts it.

The Facebook comment is posted, signed, to ``/webhooks/{channel}``. Then: it is triaged
critical (safety + legal, reasons, model version), an incident opens, level 1 is alerted
on its websocket, by e-mail, on Slack and by the signed webhook; nobody acknowledges, so
after the level's delay level 2 is alerted the same way; level 2 acknowledges through the
API; after that nothing fires for longer than the next level's delay would have taken, no
timer is left pending, and the incident's timeline holds every step in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import websockets
from aiosmtpd.controller import Controller

from app.main import load_default_triager
from people.models import Role
from tests.conftest import _truncate_pg, live_server, make_settings, wait_for
from tests.escalation.recorder import Recorder
from tests.escalation.support import CRITICAL_RULE, add_user, rows, scalar
from tests.escalation.test_notifications import Inbox, verify_standard_webhook
from tests.helpers import bearer, meta_headers

pytestmark = pytest.mark.slow

CRITICAL_TEXT = "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich"
APP_SECRET = "facebook-app-secret-for-the-story"
PAGE_ID = "1234567890321"
LEVEL1_DELAY_S = 3  # how long the PR person on call has before level 2 is alerted
LEVEL2_DELAY_S = 3  # then level 1 again (repeat_count 1) -- unless someone acknowledged
SLACK_PATH = "/services/T000/B000/krisenstab"
HOOK_PATH = "/hooks/krisen-tool"


@pytest.fixture(scope="module")
def triage_model() -> Any:
    """The real model (the bundled encoder and the committed heads), loaded once."""
    return load_default_triager(make_settings("sqlite+aiosqlite://", triage_enabled=True))


@pytest.fixture(params=["sqlite-inprocess", "postgresql-redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for one of the two deployments the story must work on."""
    if request.param == "sqlite-inprocess":
        return {"database_url": request.getfixturevalue("sqlite_url"), "redis_url": None}
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return {"database_url": url, "redis_url": request.getfixturevalue("redis_url")}


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Socket:
    """A signed-in user's websocket, read in the background; every event kept in order
    with the monotonic time it arrived."""

    ws: Any
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> Socket:
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self.events.append((time.monotonic(), json.loads(raw)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for _, event in self.events if event["type"] == kind]

    def arrival(self, event: dict[str, Any]) -> float:
        return next(at for at, e in self.events if e is event)

    async def first(self, kind: str, *, timeout_s: float = 20.0) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            matching = self.of(kind)
            return matching[0] if matching else None

        event: dict[str, Any] = await wait_for(found, timeout_s=timeout_s)
        return event


@contextlib.asynccontextmanager
async def signed_in(url: str, token: str) -> AsyncIterator[Socket]:
    async with websockets.connect(f"{url}?token={token}") as ws:
        socket_ = Socket(ws)
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        socket_.start()
        try:
            yield socket_
        finally:
            assert socket_.task is not None
            socket_.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await socket_.task


def facebook_comment(text: str, comment_id: str) -> bytes:
    """A Page feed comment delivery as Meta sends it (cf. ../shared/webhooks/facebook)."""
    now = int(time.time())
    post = f"{PAGE_ID}_901097836652708"
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": now,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": comment_id,
                                "post_id": post,
                                "parent_id": post,
                                "from": {"id": "100004711", "name": "Eine Mutter"},
                                "created_time": now,
                                "message": text,
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


async def created(client: Any, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def level_from_reason(reason: str) -> int:
    """The policy level of a notification, from its reason ("level 2 of 'X', round 1")."""
    return int(reason.split("level ", 1)[1].split(" ", 1)[0])


async def test_critical_facebook_comment_escalates_until_level_2_acknowledges(
    backend: dict[str, Any], smtp_server: tuple[Inbox, int], triage_model: Any
) -> None:
    mails, smtp_port = smtp_server
    settings = make_settings(
        backend["database_url"],
        redis_url=backend["redis_url"],
        triage_enabled=True,
        escalation_tick_s=0.5,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_from="alarm@leitstand.test",
    )
    async with (
        Recorder() as receiver,
        live_server(settings, triager=triage_model) as server,
    ):
        services, client = server.services, server.client
        # People: the PR person on call (level 1) and the head of communications (level 2,
        # an admin, who also sets everything up).
        pr_id, pr = await add_user(services, "presse@example.com", Role.pr, teams=["PR"])
        lead_id, lead = await add_user(services, "leitung@example.com", Role.admin)

        channel = await created(
            client,
            "/api/v1/channels",
            lead,
            {"platform": "facebook", "name": "Facebook-Seite", "secret": APP_SECRET},
        )
        slack = await created(
            client,
            "/api/v1/integrations",
            lead,
            {"kind": "slack", "name": "#krisenstab", "url": receiver.url(SLACK_PATH)},
        )
        hook = await created(
            client,
            "/api/v1/integrations",
            lead,
            {"kind": "webhook", "name": "Krisen-Tool", "url": receiver.url(HOOK_PATH)},
        )
        integrations = [slack["id"], hook["id"]]
        policy = await created(
            client,
            "/api/v1/escalation-policies",
            pr,
            {
                "name": "Krisenstab",
                "levels": [
                    {
                        "delay_s": LEVEL1_DELAY_S,
                        "user_ids": [pr_id],
                        "integration_ids": integrations,
                    },
                    {
                        "delay_s": LEVEL2_DELAY_S,
                        "user_ids": [lead_id],
                        "integration_ids": integrations,
                    },
                ],
                "repeat_count": 1,
            },
        )
        rule_body = copy.deepcopy(CRITICAL_RULE)
        rule_body["actions"].append({"type": "start_policy", "policy_id": policy["id"]})
        rule = await created(client, "/api/v1/escalation-rules", pr, rule_body)

        async with (
            signed_in(server.ws_url, pr) as pr_ws,
            signed_in(server.ws_url, lead) as lead_ws,
        ):
            body = facebook_comment(CRITICAL_TEXT, f"{PAGE_ID}_903438993085259")
            posted = await client.post(
                f"/webhooks/{channel['id']}", content=body, headers=meta_headers(APP_SECRET, body)
            )
            assert posted.status_code == 200, posted.text

            # --- an incident opens; level 1 is alerted at once, everywhere ----------------
            opened = await pr_ws.first("incident.opened")
            incident_id = opened["data"]["incident"]["id"]
            assert opened["data"]["incident"]["severity"] == "critical"
            assert (await lead_ws.first("incident.opened"))["data"]["incident"]["id"] == incident_id
            alert_1 = await pr_ws.first("escalation.alert")
            assert alert_1["data"]["incident_id"] == incident_id
            assert alert_1["data"]["severity"] == "critical"
            assert (alert_1["data"]["level"], alert_1["data"]["round"]) == (1, 1)
            assert "Krankenhaus" in alert_1["data"]["title"]

            # The message was triaged critical by the real model.
            detail = (
                await client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(pr))
            ).json()
            (message,) = detail["messages"]
            assert message["text"] == CRITICAL_TEXT and message["kind"] == "comment"
            assert message["channel_id"] == channel["id"]
            triage = message["triage"]
            assert triage["urgency"] >= 85, triage
            top2 = sorted(triage["categories"], key=triage["categories"].get, reverse=True)[:2]
            assert set(top2) == {"safety", "legal"}, triage["categories"]
            assert triage["reasons"] and all(r.strip() for r in triage["reasons"])
            assert triage["sentiment"] == "negative" and triage["language"] == "de"
            assert triage["model_version"] == triage_model.model_version
            # the real model: the bundled encoder (int8 ONNX, the default runtime) and heads
            assert triage["model_version"].startswith("multilingual-e5-small-int8+heads-")
            assert message["urgency"] == 100  # the rule's set_priority
            stored_version = await scalar(
                services, "SELECT model_version FROM message WHERE id = :i", i=message["id"]
            )
            assert stored_version == triage_model.model_version
            (fired,) = (
                await client.get(f"/api/v1/messages/{message['id']}", headers=bearer(pr))
            ).json()["escalation"]
            assert fired["rule_id"] == rule["id"]
            opened_action = next(a for a in fired["actions"] if a["type"] == "open_incident")
            assert opened_action["incident_id"] == incident_id and opened_action["opened"]

            # Level 1 by e-mail, on Slack and by the signed webhook.
            def mail_to(address: str) -> Any:
                return next((m for to, m in mails.messages if to == [address]), None)

            async def level_1_delivered() -> bool:
                return (
                    mail_to("presse@example.com") is not None
                    and len(receiver.on(SLACK_PATH)) >= 1
                    and len(receiver.on(HOOK_PATH)) >= 1
                )

            await wait_for(level_1_delivered, timeout_s=15)
            mail = mail_to("presse@example.com")
            assert mail["Subject"] == (
                f"[Leitstand] CRITICAL incident #{incident_id}: {detail['title']}"
            )
            assert "level 1 of 'Krisenstab', round 1" in mail.get_content()
            slack_text = json.loads(receiver.on(SLACK_PATH)[0].body)["text"]
            assert f"CRITICAL incident #{incident_id}" in slack_text
            first_hook = receiver.on(HOOK_PATH)[0]
            assert verify_standard_webhook(hook["secret"], first_hook.headers, first_hook.body)
            hook_payload = json.loads(first_hook.body)
            assert hook_payload["type"] == "incident.alert"
            assert hook_payload["data"]["incident"]["id"] == incident_id
            assert hook_payload["data"]["context"]["level"] == 1

            # --- nobody acknowledges: level 2 after the delay -----------------------------
            alert_2 = await lead_ws.first("escalation.alert", timeout_s=LEVEL1_DELAY_S + 15)
            assert alert_2["data"]["incident_id"] == incident_id
            assert (alert_2["data"]["level"], alert_2["data"]["round"]) == (2, 1)
            waited_s = lead_ws.arrival(alert_2) - pr_ws.arrival(alert_1)
            assert waited_s >= LEVEL1_DELAY_S - 0.3, waited_s

            async def level_2_mailed() -> Any:
                return mail_to("leitung@example.com")

            level_2_mail = await wait_for(level_2_mailed, timeout_s=15)
            assert "level 2 of 'Krisenstab', round 1" in level_2_mail.get_content()

            # --- level 2 acknowledges through the API -------------------------------------
            acked = await client.post(
                f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(lead)
            )
            assert acked.status_code == 200, acked.text
            assert acked.json()["status"] == "acknowledged"
            assert acked.json()["acknowledged_by"] == lead_id
            assert acked.json()["pending_timers"] == []
            acknowledged = await pr_ws.first("incident.acknowledged")
            assert acknowledged["data"]["incident"]["status"] == "acknowledged"
            assert [(e["kind"], e["actor_id"]) for e in acknowledged["data"]["timeline"]] == [
                ("incident.acknowledged", lead_id)
            ]

            # Level 2's e-mail, Slack and webhook were queued before the acknowledgement:
            # they go out; once they have, nothing else may.
            async def all_notifications_settled() -> bool:
                found = await rows(
                    services,
                    "SELECT status FROM notification WHERE incident_id = :i",
                    i=incident_id,
                )
                return len(found) == 8 and all(r["status"] in ("sent", "delivered") for r in found)

            await wait_for(all_notifications_settled, timeout_s=15)
            mails_before, requests_before = len(mails.messages), len(receiver.requests)
            events_before = len(pr_ws.events), len(lead_ws.events)
            timeline_before = len(
                (await client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(lead))).json()[
                    "timeline"
                ]
            )

            # Longer than the next step (level 1 again, round 2) would have taken.
            await asyncio.sleep(LEVEL2_DELAY_S + 1.5)

            assert len(mails.messages) == mails_before == 2
            assert len(receiver.requests) == requests_before == 4
            assert len(receiver.on(SLACK_PATH)) == 2 and len(receiver.on(HOOK_PATH)) == 2
            for request in receiver.on(HOOK_PATH):
                assert verify_standard_webhook(hook["secret"], request.headers, request.body)
            assert [e["data"]["level"] for e in pr_ws.of("escalation.alert")] == [1]
            assert [e["data"]["level"] for e in lead_ws.of("escalation.alert")] == [2]
            new_events = [e["type"] for _, e in pr_ws.events[events_before[0] :]]
            new_events += [e["type"] for _, e in lead_ws.events[events_before[1] :]]
            assert not [t for t in new_events if t.startswith(("escalation.", "incident."))]
            pending = await scalar(
                services,
                "SELECT count(*) FROM escalation_timer "
                "WHERE fired_at IS NULL AND cancelled_at IS NULL",
            )
            assert pending == 0
            timers = await rows(
                services,
                "SELECT kind, fired_at, cancelled_at FROM escalation_timer "
                "WHERE incident_id = :i ORDER BY id",
                i=incident_id,
            )
            # Level 1's timer fired (level 2 alerted); level 2's was cancelled by the ack.
            assert [(t["kind"], t["fired_at"] is not None) for t in timers] == [
                ("escalate", True),
                ("escalate", False),
            ]
            assert timers[1]["cancelled_at"] is not None

        # --- the timeline: every step, in order -----------------------------------------
        final = (await client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(lead))).json()
        assert final["status"] == "acknowledged" and final["pending_timers"] == []
        assert final["escalation_level"] == 2
        timeline = final["timeline"]
        assert len(timeline) == timeline_before
        assert [e["id"] for e in timeline] == sorted(e["id"] for e in timeline)
        kinds = [e["kind"] for e in timeline]
        assert kinds[:4] == ["incident.opened", "rule.fired", "message.attached", "policy.started"]
        assert timeline[1]["data"]["rule_id"] == rule["id"]
        assert timeline[2]["data"]["message_id"] == message["id"]
        assert not {"escalation.stopped", "notification.failed", "notification.retrying"} & set(
            kinds
        )

        def index(kind: str, **data: Any) -> int:
            (found,) = [
                i
                for i, e in enumerate(timeline)
                if e["kind"] == kind and all(e["data"].get(k) == v for k, v in data.items())
            ]
            return found

        notified_1 = index("escalation.notified", level=1)
        notified_2 = index("escalation.notified", level=2)
        acked_at = index("incident.acknowledged")
        assert kinds.count("escalation.notified") == 2
        assert timeline[notified_1]["data"]["trigger"] == "policy.started"
        assert timeline[notified_1]["data"]["user_ids"] == [pr_id]
        assert timeline[notified_2]["data"]["trigger"] == "timer"
        assert timeline[notified_2]["data"]["user_ids"] == [lead_id]
        assert timeline[acked_at]["actor_id"] == lead_id
        assert 3 < notified_1 < notified_2 < acked_at
        level_2_after_s = (
            datetime.fromisoformat(timeline[notified_2]["at"])
            - datetime.fromisoformat(timeline[notified_1]["at"])
        ).total_seconds()
        assert LEVEL1_DELAY_S <= level_2_after_s < LEVEL1_DELAY_S + 5, level_2_after_s

        notification_entries = [
            (i, e) for i, e in enumerate(timeline) if e["kind"].startswith("notification.")
        ]
        # Queued (or, for the websocket, delivered) entries carry the reason; outcomes
        # refer to the notification by id.
        level_by_notification = {
            e["data"]["notification_id"]: level_from_reason(e["data"]["reason"])
            for _, e in notification_entries
            if "reason" in e["data"]
        }
        assert len(level_by_notification) == 8
        for level, (start, end) in {
            1: (notified_1, notified_2),
            2: (notified_2, len(kinds)),
        }.items():
            mine = [
                (i, e)
                for i, e in notification_entries
                if level_by_notification[e["data"]["notification_id"]] == level
            ]
            # Recorded: the websocket alert (delivered at once) and three queued ...
            first_four = sorted(
                (e["data"]["channel"], e["kind"].split(".")[1]) for _, e in mine[:4]
            )
            assert first_four == [
                ("email", "queued"),
                ("slack", "queued"),
                ("webhook", "queued"),
                ("websocket", "delivered"),
            ]
            # ... then each queued one's outcome: e-mail accepted by the SMTP server,
            # Slack and the webhook answered 2xx.
            outcomes = sorted((e["data"]["channel"], e["kind"].split(".")[1]) for _, e in mine[4:])
            assert outcomes == [("email", "sent"), ("slack", "delivered"), ("webhook", "delivered")]
            # Level 1's all before level 2 was notified; level 2's queued before the
            # acknowledgement (their outcomes may follow it).
            assert all(start < i < end for i, _ in mine), (level, kinds)
            assert all(i < acked_at for i, _ in mine[:4])
        # After the acknowledgement, only level 2's deliveries being recorded.
        assert all(
            k in ("notification.sent", "notification.delivered") for k in kinds[acked_at + 1 :]
        )
