"""The rule engine as a processing hook, on SQLite and PostgreSQL: actions, the trace on the
message, and one incident for a wave of messages."""

from __future__ import annotations

import asyncio
import copy

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from escalation.engine import IncidentRequest, RuleEngine
from tests.conftest import Running
from tests.escalation.conftest import Staff
from tests.escalation.support import (
    CRITICAL_RULE,
    manual_clock,
    rows,
    scalar,
    store,
    store_and_process,
    timeline,
)
from tests.helpers import add_channel, bearer


async def test_a_critical_message_fires_the_rule_and_the_trace_is_on_the_message(
    app: Running, staff: Staff
) -> None:
    client, services = app.client, app.services
    response = await client.post(
        "/api/v1/escalation-rules", json=CRITICAL_RULE, headers=bearer(staff.pr)
    )
    assert response.status_code == 201, response.text
    rule_id = response.json()["id"]
    channel = await add_channel(services, "facebook", secret="s")
    calm = await store_and_process(services, channel, "Danke für die schnelle Lieferung")
    critical = await store_and_process(
        services,
        channel,
        "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich",
    )

    message = (await client.get(f"/api/v1/messages/{critical}", headers=bearer(staff.pr))).json()
    (trace,) = message["escalation"]
    assert trace["rule_id"] == rule_id and trace["rule_name"] == "Safety or legal threat"
    assert {"field": "urgency", "op": "gte", "value": 80, "actual": 96, "matched": True} in trace[
        "conditions"
    ]
    assert [a["type"] for a in trace["actions"]] == ["set_priority", "add_labels", "open_incident"]
    opened = trace["actions"][2]
    assert opened["opened"] is True and opened["dedup_key"] == f"critical:{channel.id}:safety"
    assert message["urgency"] == 100
    calm_message = (await client.get(f"/api/v1/messages/{calm}", headers=bearer(staff.pr))).json()
    assert calm_message["escalation"] is None

    conversation = (
        await client.get(
            f"/api/v1/conversations/{message['conversation_id']}", headers=bearer(staff.pr)
        )
    ).json()
    assert conversation["urgency"] == 100 and conversation["labels"] == ["krise"]
    assert conversation["messages"][0]["escalation"][0]["rule_id"] == rule_id

    incident = (
        await client.get(f"/api/v1/incidents/{opened['incident_id']}", headers=bearer(staff.pr))
    ).json()
    assert incident["severity"] == "critical" and incident["status"] == "open"
    assert incident["title"].startswith("Kritisch auf facebook: Euer Babybrei")
    assert [m["id"] for m in incident["messages"]] == [critical]
    assert [c["id"] for c in incident["conversations"]] == [message["conversation_id"]]
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds == ["incident.opened", "rule.fired", "message.attached"]
    events = await rows(services, "SELECT type, audience FROM event ORDER BY id")
    assert {"type": "incident.opened", "audience": "staff"} in events
    assert {"type": "incident.updated", "audience": "staff"} in events


async def test_conversation_actions_later_rules_and_stop(app: Running, staff: Staff) -> None:
    client, services = app.client, app.services
    team_id = await scalar(services, "SELECT id FROM team WHERE name = 'Care'")
    rules = [
        {
            "name": "prices to care, labelled",
            "position": 10,
            "conditions": {"field": "text", "op": "contains_any", "value": ["PREIS"]},
            "actions": [
                {"type": "route_team", "team_id": team_id},
                {"type": "add_labels", "labels": ["preise"]},
            ],
        },
        {
            "name": "labelled ones assigned",
            "position": 20,
            "stop": True,
            "conditions": {
                "field": "conversation.labels",
                "op": "contains_any",
                "value": ["preise"],
            },
            "actions": [{"type": "assign", "user_id": staff.agent_id}],
        },
        {
            "name": "never reached after stop",
            "position": 30,
            "conditions": {"field": "conversation.team_id", "op": "eq", "value": team_id},
            "actions": [{"type": "set_priority", "urgency": 99}],
        },
        {
            "name": "followers",
            "position": 40,
            "conditions": {"field": "author.followers", "op": "gt", "value": 10000},
            "actions": [{"type": "set_priority", "urgency": 70}],
        },
    ]
    for rule in rules:
        response = await client.post(
            "/api/v1/escalation-rules", json=rule, headers=bearer(staff.admin)
        )
        assert response.status_code == 201, response.text
    channel = await add_channel(services, "instagram", secret="s")
    price = await store_and_process(services, channel, "Der neue Preis ist eine Frechheit")
    famous = await store_and_process(services, channel, "nice", followers=48_000)
    unknown = await store_and_process(services, channel, "nice too", author="anon")

    (row,) = await rows(
        services,
        "SELECT c.team_id, c.assignee_id, c.urgency FROM conversation c "
        "JOIN message m ON m.conversation_id = c.id WHERE m.id = :m",
        m=price,
    )
    assert row == {"team_id": team_id, "assignee_id": staff.agent_id, "urgency": 40}
    trace = (await client.get(f"/api/v1/messages/{price}", headers=bearer(staff.pr))).json()[
        "escalation"
    ]
    assert [t["rule_name"] for t in trace] == ["prices to care, labelled", "labelled ones assigned"]
    assert (await client.get(f"/api/v1/messages/{famous}", headers=bearer(staff.pr))).json()[
        "urgency"
    ] == 70
    # No follower count known: the predicate has no value and matches nothing.
    assert (await client.get(f"/api/v1/messages/{unknown}", headers=bearer(staff.pr))).json()[
        "escalation"
    ] is None
    assert (
        await scalar(services, "SELECT count(*) FROM event WHERE type = 'conversation.updated'")
        >= 2
    )


async def test_a_wave_of_50_makes_one_incident_with_50_messages_and_one_alert(
    app: Running, staff: Staff
) -> None:
    client, services = app.client, app.services
    policy = await client.post(
        "/api/v1/escalation-policies",
        json={"name": "PR", "levels": [{"delay_s": 300, "user_ids": [staff.pr_id]}]},
        headers=bearer(staff.admin),
    )
    rule = copy.deepcopy(CRITICAL_RULE)
    rule["actions"].append({"type": "start_policy", "policy_id": policy.json()["id"]})
    assert (
        await client.post("/api/v1/escalation-rules", json=rule, headers=bearer(staff.admin))
    ).status_code == 201
    channel = await add_channel(services, "facebook", secret="s")
    manual_clock(services)
    ids = [
        await store(services, channel, f"Mein Kind musste ins Krankenhaus ({i})", thread=f"w{i}")
        for i in range(50)
    ]
    # Five workers process the wave at once: on PostgreSQL their transactions race for the
    # dedup key; exactly one opens the incident, the others join it.
    await asyncio.gather(*(services.processor.process(ids[i::5]) for i in range(5)))

    incidents = await rows(services, "SELECT id, message_count FROM incident")
    assert len(incidents) == 1 and incidents[0]["message_count"] == 50
    incident_id = incidents[0]["id"]
    assert await scalar(services, "SELECT count(*) FROM incident_message") == 50
    assert await scalar(services, "SELECT count(*) FROM incident_conversation") == 50
    alerts = await rows(services, "SELECT user_ids FROM event WHERE type = 'escalation.alert'")
    assert len(alerts) == 1 and alerts[0]["user_ids"] in ([staff.pr_id], f"[{staff.pr_id}]")
    assert await scalar(services, "SELECT count(*) FROM notification") == 1
    kinds = await timeline(services, incident_id)
    assert kinds.count("incident.opened") == 1 and kinds.count("message.attached") == 50
    assert kinds.count("policy.started") == 1 and kinds.count("escalation.notified") == 1
    # One level, no repeats: nothing further is scheduled.
    assert await scalar(services, "SELECT count(*) FROM escalation_timer") == 0


async def test_a_failing_rule_is_undone_and_the_message_still_processed(
    app: Running, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, services = app.client, app.services
    assert (
        await client.post("/api/v1/escalation-rules", json=CRITICAL_RULE, headers=bearer(staff.pr))
    ).status_code == 201

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in an action")

    monkeypatch.setattr(RuleEngine, "_incidents", broken)
    channel = await add_channel(services, "facebook", secret="s")
    message_id = await store_and_process(services, channel, "Mein Sohn im Krankenhaus")
    (row,) = await rows(
        services,
        "SELECT m.processed_at, m.urgency, m.escalation, "
        "(SELECT count(*) FROM conversation_label) AS labels FROM message m WHERE m.id = :m",
        m=message_id,
    )
    # Processed and triaged; the rule's label and priority were rolled back with it.
    assert row["processed_at"] is not None and row["urgency"] == 96
    assert row["escalation"] is None and row["labels"] == 0
    assert await scalar(services, "SELECT count(*) FROM event WHERE type = 'message.triaged'") == 1


async def test_the_events_of_a_failed_rule_are_not_published(
    app: Running, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules run in a savepoint of the processing transaction: when it is rolled back,
    the events its work emitted (the incident, the alert) are rolled back with it and never
    published, while those of the processing itself are, after its commit."""
    client, services = app.client, app.services
    policy = await client.post(
        "/api/v1/escalation-policies",
        json={"name": "p", "levels": [{"delay_s": 60, "user_ids": [staff.pr_id]}]},
        headers=bearer(staff.pr),
    )
    assert policy.status_code == 201, policy.text
    rule = copy.deepcopy(CRITICAL_RULE)
    rule["actions"].append({"type": "start_policy", "policy_id": policy.json()["id"]})
    assert (
        await client.post("/api/v1/escalation-rules", json=rule, headers=bearer(staff.pr))
    ).status_code == 201

    opened: list[int] = []
    real_incidents = RuleEngine._incidents

    async def open_then_fail(
        self: RuleEngine, session: AsyncSession, requests: list[IncidentRequest]
    ) -> None:
        await real_incidents(self, session, requests)
        opened.extend((await session.execute(sa.text("SELECT id FROM incident"))).scalars())
        raise RuntimeError("a bug after the incident was opened")

    monkeypatch.setattr(RuleEngine, "_incidents", open_then_fail)
    published = services.hub.subscribe()
    channel = await add_channel(services, "facebook", secret="s")
    await store_and_process(services, channel, "Mein Sohn im Krankenhaus")
    await asyncio.sleep(0.05)
    got = []
    while not published.queue.empty():
        got.append(published.queue.get_nowait())

    assert opened  # the incident was opened, and its events emitted, in the savepoint
    assert await scalar(services, "SELECT count(*) FROM incident") == 0
    kinds = [e["type"] for e in got]
    assert "message.triaged" in kinds
    assert [k for k in kinds if k.startswith("incident.") or k == "escalation.alert"] == []
    logged = {r["id"] for r in await rows(services, "SELECT id FROM event")}
    assert {e["id"] for e in got} <= logged  # nothing published that is not in the log
