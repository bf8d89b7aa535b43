"""Rules and policies through the API: validation on save with the bad field named,
references checked against the database, CRUD and evaluation order."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Running
from tests.escalation.conftest import Staff, ids
from tests.escalation.support import CRITICAL_RULE, scalar
from tests.helpers import bearer

GOOD = {
    "name": "lawyer",
    "conditions": {"field": "text", "op": "matches", "value": r"\banwalt\b"},
    "actions": [{"type": "add_labels", "labels": ["recht"]}],
}


def problems(response: Any) -> str:
    """Everything the 422 says, as one string to search."""
    assert response.status_code == 422, response.text
    return str(response.json()["error"])


async def test_rules_are_validated_on_save_with_the_bad_field_named(
    app: Running, staff: Staff
) -> None:
    client = app.client

    async def post(body: dict[str, Any]) -> Any:
        return await client.post("/api/v1/escalation-rules", json=body, headers=bearer(staff.pr))

    def with_conditions(conditions: Any) -> dict[str, Any]:
        return GOOD | {"conditions": conditions}

    def with_action(action: dict[str, Any]) -> dict[str, Any]:
        return GOOD | {"actions": [action]}

    said = problems(await post(with_conditions({"field": "followers", "op": "gt", "value": 1})))
    assert "unknown field 'followers'" in said and "author.followers" in said
    said = problems(
        await post(with_conditions({"all": [{"field": "urgency", "op": "matches", "value": "9"}]}))
    )
    assert "op 'matches' is not valid for 'urgency'" in said and "conditions" in said
    said = problems(await post(with_conditions({"field": "text", "op": "matches", "value": "a("})))
    assert "does not compile" in said
    said = problems(await post(with_action({"type": "escalate_to_ceo"})))
    assert "escalate_to_ceo" in said and "actions" in said
    said = problems(await post(with_action({"type": "set_priority", "urgency": 101})))
    assert "urgency" in said and "less than or equal to 100" in said
    said = problems(await post(GOOD | {"color": "red"}))
    assert "color" in said

    unknown = {
        "route_team": ({"type": "route_team", "team_id": 999}, "actions.0.team_id", "team"),
        "assign": ({"type": "assign", "user_id": 999}, "actions.0.user_id", "user"),
        "notify": (
            {"type": "notify", "integration_ids": [999]},
            "actions.0.integration_ids",
            "integration",
        ),
    }
    for action, where, kind in unknown.values():
        said = problems(await post(with_action(action)))
        assert f"unknown {kind} id 999 at body.{where}" in said
    said = problems(
        await post(
            GOOD
            | {
                "actions": [
                    {"type": "open_incident"},
                    {"type": "start_policy", "policy_id": 4242},
                ]
            }
        )
    )
    assert "unknown policy id 4242 at body.actions.1.policy_id" in said
    said = problems(
        await post(with_conditions({"field": "conversation.team_id", "op": "in", "value": [77]}))
    )
    assert "unknown team id 77" in said
    assert await scalar(app.services, "SELECT count(*) FROM escalation_rule") == 0


async def test_rule_and_policy_crud_and_evaluation_order(app: Running, staff: Staff) -> None:
    client = app.client
    pr = bearer(staff.pr)
    late = await client.post(
        "/api/v1/escalation-rules", json=GOOD | {"name": "late", "position": 50}, headers=pr
    )
    early = await client.post(
        "/api/v1/escalation-rules", json=GOOD | {"name": "early", "position": 5}, headers=pr
    )
    appended = await client.post("/api/v1/escalation-rules", json=GOOD, headers=pr)
    assert appended.json()["position"] == 60 and appended.json()["created_by"] == staff.pr_id
    listed = await client.get("/api/v1/escalation-rules", headers=pr)
    assert ids(listed) == [early.json()["id"], late.json()["id"], appended.json()["id"]]

    changed = await client.patch(
        f"/api/v1/escalation-rules/{late.json()['id']}",
        json={"position": 1, "enabled": False, "conditions": {"not": GOOD["conditions"]}},
        headers=pr,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["conditions"] == {"not": GOOD["conditions"]}
    assert not changed.json()["enabled"] and changed.json()["position"] == 1
    bad = await client.patch(
        f"/api/v1/escalation-rules/{late.json()['id']}",
        json={"conditions": {"field": "nope", "op": "eq", "value": 1}},
        headers=pr,
    )
    assert bad.status_code == 422
    assert (
        await client.delete(f"/api/v1/escalation-rules/{early.json()['id']}", headers=pr)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/escalation-rules/{early.json()['id']}", headers=pr)
    ).status_code == 404

    policy = await client.post(
        "/api/v1/escalation-policies",
        json={
            "name": "Bereitschaft",
            "levels": [{"delay_s": 60, "user_ids": [staff.pr_id], "team_ids": []}],
        },
        headers=pr,
    )
    assert policy.status_code == 201, policy.text
    policy_id = policy.json()["id"]
    said = problems(
        await client.post(
            "/api/v1/escalation-policies",
            json={"name": "x", "levels": [{"delay_s": 60, "rotation_ids": [5]}]},
            headers=pr,
        )
    )
    assert "unknown rotation id 5 at body.levels.0.rotation_ids" in said
    said = problems(
        await client.post(
            "/api/v1/escalation-policies",
            json={"name": "x", "levels": [{"delay_s": 60}]},
            headers=pr,
        )
    )
    assert "at least one target" in said
    rule = copy.deepcopy(CRITICAL_RULE)
    rule["actions"].append({"type": "start_policy", "policy_id": policy_id})
    created = await client.post("/api/v1/escalation-rules", json=rule, headers=pr)
    assert created.status_code == 201, created.text
    # A policy a rule starts cannot be deleted from under it.
    refused = await client.delete(f"/api/v1/escalation-policies/{policy_id}", headers=pr)
    assert (
        refused.status_code == 409
        and created.json()["id"] in refused.json()["error"]["details"]["rule_ids"]
    )
    patched = await client.patch(
        f"/api/v1/escalation-policies/{policy_id}",
        json={"repeat_count": 2, "ack_timeout_s": 900},
        headers=pr,
    )
    assert patched.json()["repeat_count"] == 2 and patched.json()["ack_timeout_s"] == 900
