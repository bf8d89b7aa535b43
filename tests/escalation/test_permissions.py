"""Every forbidden escalation action gets 403 and changes nothing (rows counted), on SQLite
and PostgreSQL: agents on incidents, rules, policies, the delivery log; PR on rotations and
integrations; nobody without a token."""

from __future__ import annotations

from tests.conftest import Running
from tests.escalation.conftest import Staff
from tests.escalation.support import T0, store_and_process
from tests.helpers import add_channel, bearer, count_rows

TABLES = (
    "escalation_rule",
    "escalation_policy",
    "oncall_rotation",
    "oncall_override",
    "integration",
    "incident",
    "incident_message",
    "incident_conversation",
    "incident_event",
    "escalation_timer",
    "notification",
    "event",
)


async def test_forbidden_actions_are_403_and_change_nothing(app: Running, staff: Staff) -> None:
    client, services = app.client, app.services
    admin = bearer(staff.admin)
    channel = await add_channel(services, "facebook", secret="s")
    message_id = await store_and_process(services, channel, "Mein Anwalt meldet sich")
    rule = await client.post(
        "/api/v1/escalation-rules",
        json={
            "name": "r",
            "conditions": {"field": "urgency", "op": "gte", "value": 99},
            "actions": [{"type": "set_priority", "urgency": 100}],
        },
        headers=admin,
    )
    policy = await client.post(
        "/api/v1/escalation-policies",
        json={"name": "p", "levels": [{"delay_s": 60, "user_ids": [staff.pr_id]}]},
        headers=admin,
    )
    rotation = await client.post(
        "/api/v1/oncall-rotations",
        json={"name": "o", "participant_ids": [staff.pr_id], "handover_at": T0.isoformat()},
        headers=admin,
    )
    integration = await client.post(
        "/api/v1/integrations",
        json={"kind": "slack", "name": "s", "url": "http://127.0.0.1:9/hook"},
        headers=admin,
    )
    incident = await client.post(
        "/api/v1/incidents", json={"title": "t", "message_ids": [message_id]}, headers=admin
    )
    for created in (rule, policy, rotation, integration, incident):
        assert created.status_code == 201, created.text
    rule_id, policy_id, rotation_id = rule.json()["id"], policy.json()["id"], rotation.json()["id"]
    integration_id, incident_id = integration.json()["id"], incident.json()["id"]
    conversation_id = incident.json()["conversations"][0]["id"]

    rule_body = {
        "name": "x",
        "conditions": {"field": "urgency", "op": "gte", "value": 1},
        "actions": [{"type": "set_priority", "urgency": 1}],
    }
    policy_body = {"name": "x", "levels": [{"delay_s": 60, "user_ids": [staff.agent_id]}]}
    rotation_body = {
        "name": "x",
        "participant_ids": [staff.agent_id],
        "handover_at": T0.isoformat(),
    }
    override_body = {
        "user_id": staff.agent_id,
        "start_at": T0.isoformat(),
        "end_at": "2027-01-01T00:00:00Z",
    }
    agent_may_not = [
        ("GET", "/api/v1/incidents", None),
        ("POST", "/api/v1/incidents", {"title": "mine"}),
        ("GET", f"/api/v1/incidents/{incident_id}", None),
        ("PATCH", f"/api/v1/incidents/{incident_id}", {"severity": "low"}),
        ("POST", f"/api/v1/incidents/{incident_id}/acknowledge", None),
        ("POST", f"/api/v1/incidents/{incident_id}/resolve", None),
        ("POST", f"/api/v1/incidents/{incident_id}/notes", {"text": "hi"}),
        ("POST", f"/api/v1/incidents/{incident_id}/messages", {"message_ids": [message_id]}),
        ("DELETE", f"/api/v1/incidents/{incident_id}/messages/{message_id}", None),
        (
            "POST",
            f"/api/v1/incidents/{incident_id}/conversations",
            {"conversation_ids": [conversation_id]},
        ),
        ("DELETE", f"/api/v1/incidents/{incident_id}/conversations/{conversation_id}", None),
        (
            "POST",
            f"/api/v1/incidents/{incident_id}/policy",
            {"policy_id": policy_id},
        ),
        ("GET", "/api/v1/notifications", None),
        ("GET", "/api/v1/escalation-rules", None),
        ("POST", "/api/v1/escalation-rules", rule_body),
        ("PATCH", f"/api/v1/escalation-rules/{rule_id}", {"enabled": False}),
        ("DELETE", f"/api/v1/escalation-rules/{rule_id}", None),
        ("GET", "/api/v1/escalation-policies", None),
        ("POST", "/api/v1/escalation-policies", policy_body),
        ("PATCH", f"/api/v1/escalation-policies/{policy_id}", {"repeat_count": 3}),
        ("DELETE", f"/api/v1/escalation-policies/{policy_id}", None),
        ("GET", "/api/v1/oncall-rotations", None),
        ("GET", "/api/v1/integrations", None),
    ]
    pr_may_not = [
        ("POST", "/api/v1/oncall-rotations", rotation_body),
        ("PATCH", f"/api/v1/oncall-rotations/{rotation_id}", {"shift_s": 3600}),
        ("DELETE", f"/api/v1/oncall-rotations/{rotation_id}", None),
        ("POST", f"/api/v1/oncall-rotations/{rotation_id}/overrides", override_body),
        ("POST", "/api/v1/integrations", {"kind": "slack", "name": "y", "url": "http://x/y"}),
        ("PATCH", f"/api/v1/integrations/{integration_id}", {"is_active": False}),
        ("DELETE", f"/api/v1/integrations/{integration_id}", None),
    ]
    before = await count_rows(services, *TABLES)
    for token, forbidden in ((staff.agent, agent_may_not), (staff.pr, pr_may_not)):
        for method, url, body in forbidden:
            response = await client.request(method, url, json=body, headers=bearer(token))
            assert response.status_code == 403, (method, url, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    for method, url, body in agent_may_not[:3]:
        response = await client.request(method, url, json=body)
        assert response.status_code == 401, (method, url)
    assert await count_rows(services, *TABLES) == before
    # What is not forbidden works: PR reads rotations and integrations.
    assert (
        await client.get("/api/v1/oncall-rotations", headers=bearer(staff.pr))
    ).status_code == 200
    assert (await client.get("/api/v1/integrations", headers=bearer(staff.pr))).status_code == 200
