"""The wiring end to end, in one served process: a critical message posted to the real
webhook endpoint is processed by the in-process worker, the rule opens an incident and
starts the policy, level 1 is alerted on its websocket at once, level 2 after the delay by
the background scheduler; acknowledging stops it. Agents see none of it.

(The product's acceptance story with the real model is the lead's end-to-end test.)
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import websockets

from people.models import Role
from tests.conftest import live_server, make_settings
from tests.escalation.support import CRITICAL_RULE, FakeTriager, add_user, timeline
from tests.helpers import add_channel, bearer, standard_headers


def delivery(text: str) -> bytes:
    return json.dumps(
        {
            "type": "message.created",
            "timestamp": "2026-11-24T08:00:00Z",
            "data": {
                "id": "fb-1",
                "text": text,
                "author": {"id": "mutter", "name": "Eine Mutter"},
                "created_at": "2026-11-24T08:00:00Z",
            },
        }
    ).encode()


async def next_of(ws: Any, wanted: str, *, timeout_s: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == wanted:
                return message


async def types_within(ws: Any, seconds: float) -> list[str]:
    got = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                got.append(json.loads(await ws.recv())["type"])
    except TimeoutError:
        return got


async def test_webhook_to_incident_to_alerts_and_acknowledgement(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, escalation_tick_s=0.2)
    async with live_server(settings, triager=FakeTriager()) as server:
        services, client = server.services, server.client
        admin_id, admin = await add_user(services, "admin@example.com", Role.admin)
        pr_id, pr = await add_user(services, "pr@example.com", Role.pr)
        _, agent = await add_user(services, "agent@example.com", Role.agent, teams=["Care"])
        policy = await client.post(
            "/api/v1/escalation-policies",
            json={
                "name": "Krisenstab",
                "levels": [
                    {"delay_s": 1, "user_ids": [pr_id]},
                    {"delay_s": 600, "user_ids": [admin_id]},
                ],
            },
            headers=bearer(admin),
        )
        rule = copy.deepcopy(CRITICAL_RULE)
        rule["actions"].append({"type": "start_policy", "policy_id": policy.json()["id"]})
        assert (
            await client.post("/api/v1/escalation-rules", json=rule, headers=bearer(pr))
        ).status_code == 201
        channel = await add_channel(services, "standard-webhooks")

        async with (
            websockets.connect(f"{server.ws_url}?token={pr}") as pr_ws,
            websockets.connect(f"{server.ws_url}?token={admin}") as admin_ws,
            websockets.connect(f"{server.ws_url}?token={agent}") as agent_ws,
        ):
            for ws in (pr_ws, admin_ws, agent_ws):
                assert json.loads(await ws.recv())["type"] == "hello"
            body = delivery(
                "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich"
            )
            posted = await client.post(
                f"/webhooks/{channel.id}",
                content=body,
                headers=standard_headers(channel.secret, body),
            )
            assert posted.status_code == 200

            opened = await next_of(pr_ws, "incident.opened")
            incident_id = opened["data"]["incident"]["id"]
            alert = await next_of(pr_ws, "escalation.alert")
            assert alert["data"]["incident_id"] == incident_id
            assert alert["data"]["severity"] == "critical"
            assert alert["data"]["level"] == 1 and alert["data"]["round"] == 1
            assert alert["id"] > opened["id"]

            second = await next_of(admin_ws, "escalation.alert", timeout_s=10)
            assert second["data"]["level"] == 2 and "level 2" in second["data"]["reason"]
            acked = await client.post(
                f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(admin)
            )
            assert acked.json()["status"] == "acknowledged"
            assert (await next_of(pr_ws, "incident.acknowledged"))["data"]["incident"][
                "status"
            ] == "acknowledged"
            seen_by_agent = await types_within(agent_ws, 0.3)
            assert not [t for t in seen_by_agent if t.startswith(("incident.", "escalation."))]

        kinds = await timeline(services, incident_id)
        assert kinds[:3] == ["incident.opened", "rule.fired", "message.attached"]
        assert kinds.count("escalation.notified") == 2
        assert kinds[-1] == "incident.acknowledged"
