"""A person's own language, the colleague directory, and what admins change about users
and teams."""

from __future__ import annotations

from people.models import Role
from tests.conftest import Running
from tests.helpers import add_user, bearer


async def test_a_person_changes_their_language(running: Running) -> None:
    _, token = await add_user(running.services, "a@example.com", Role.agent)
    client = running.client
    changed = await client.patch("/api/v1/me", json={"locale": "en"}, headers=bearer(token))
    assert changed.status_code == 200 and changed.json()["locale"] == "en"
    assert (await client.get("/api/v1/me", headers=bearer(token))).json()["locale"] == "en"
    for bad in ({"locale": "fr"}, {"role": "admin"}, {"display_name": ""}):
        refused = await client.patch("/api/v1/me", json=bad, headers=bearer(token))
        assert refused.status_code == 422, bad
    assert (await client.get("/api/v1/me", headers=bearer(token))).json()["role"] == "agent"


async def test_every_signed_in_person_sees_the_directory(running: Running) -> None:
    _, agent = await add_user(running.services, "a@example.com", Role.agent, teams=["Social"])
    await add_user(running.services, "b@example.com", Role.pr)
    listed = await running.client.get("/api/v1/directory", headers=bearer(agent))
    assert listed.status_code == 200
    people = {p["email"]: p for p in listed.json()["items"]}
    assert set(people) == {"a@example.com", "b@example.com"}
    assert people["a@example.com"]["team_ids"] and "password_hash" not in people["a@example.com"]
    assert (await running.client.get("/api/v1/directory")).status_code == 401


async def test_admins_change_roles_teams_and_activity(running: Running) -> None:
    admin_id, admin = await add_user(running.services, "admin@example.com", Role.admin)
    agent_id, agent = await add_user(running.services, "a@example.com", Role.agent)
    client = running.client
    changed = await client.patch(
        f"/api/v1/users/{agent_id}",
        json={"role": "pr", "teams": ["PR", "Social"], "display_name": "Anna"},
        headers=bearer(admin),
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["role"] == "pr" and len(body["team_ids"]) == 2 and body["display_name"] == "Anna"
    teams = (await client.get("/api/v1/teams", headers=bearer(admin))).json()["items"]
    assert {t["name"] for t in teams} == {"PR", "Social"}

    fewer = await client.patch(
        f"/api/v1/users/{agent_id}", json={"teams": ["PR"]}, headers=bearer(admin)
    )
    assert len(fewer.json()["team_ids"]) == 1

    off = await client.patch(
        f"/api/v1/users/{agent_id}", json={"is_active": False}, headers=bearer(admin)
    )
    assert off.json()["is_active"] is False
    assert (await client.get("/api/v1/me", headers=bearer(agent))).status_code == 401

    myself = await client.patch(
        f"/api/v1/users/{admin_id}", json={"role": "agent"}, headers=bearer(admin)
    )
    assert myself.status_code == 409
    assert (
        await client.patch("/api/v1/users/9999", json={}, headers=bearer(admin))
    ).status_code == 404


async def test_only_admins_manage_people_and_teams(running: Running) -> None:
    agent_id, agent = await add_user(running.services, "a@example.com", Role.agent)
    _, pr = await add_user(running.services, "p@example.com", Role.pr)
    client = running.client
    for token in (agent, pr):
        refused = await client.patch(
            f"/api/v1/users/{agent_id}", json={"role": "admin"}, headers=bearer(token)
        )
        assert refused.status_code == 403
        refused = await client.post("/api/v1/teams", json={"name": "X"}, headers=bearer(token))
        assert refused.status_code == 403
    assert (await client.get("/api/v1/me", headers=bearer(agent))).json()["role"] == "agent"


async def test_teams_are_created_once(running: Running) -> None:
    _, admin = await add_user(running.services, "admin@example.com", Role.admin)
    client = running.client
    made = await client.post("/api/v1/teams", json={"name": "Nacht"}, headers=bearer(admin))
    assert made.status_code == 201 and made.json()["name"] == "Nacht"
    again = await client.post("/api/v1/teams", json={"name": "Nacht"}, headers=bearer(admin))
    assert again.status_code == 409
