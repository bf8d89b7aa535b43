"""Sign-in, tokens and roles on the API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from people.models import Role
from tests.conftest import Running
from tests.helpers import add_user, bearer, count_rows


async def test_every_api_route_needs_a_token(running: Running) -> None:
    api_routes = [
        (method.upper(), path)
        for path, operations in running.app.openapi()["paths"].items()
        if path.startswith("/api/v1") and path != "/api/v1/auth/login"
        for method in operations
    ]
    assert len(api_routes) >= 8
    for method, path in api_routes:
        url = path.replace("{conversation_id}", "1").replace("{message_id}", "1")
        response = await running.client.request(method, url)
        assert response.status_code == 401, (method, path, response.status_code)
        response = await running.client.request(method, url, headers=bearer("lst_forged"))
        assert response.status_code == 401, (method, path)


async def test_sign_in_issues_a_token_that_works_until_sign_out(running: Running) -> None:
    await add_user(running.services, "erika@example.com", Role.pr)
    wrong = await running.client.post(
        "/api/v1/auth/login", json={"email": "erika@example.com", "password": "nope nope nope"}
    )
    assert wrong.status_code == 401
    unknown = await running.client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope nope nope"}
    )
    assert unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]

    ok = await running.client.post(
        "/api/v1/auth/login",
        json={"email": "Erika@Example.com", "password": "correct horse battery"},
    )
    assert ok.status_code == 200
    token = ok.json()["token"]
    me = await running.client.get("/api/v1/me", headers=bearer(token))
    assert me.json()["email"] == "erika@example.com" and me.json()["role"] == "pr"
    assert (
        await running.client.post("/api/v1/auth/logout", headers=bearer(token))
    ).status_code == 204
    assert (await running.client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_api_tokens_can_be_created_and_used(running: Running) -> None:
    _, token = await add_user(running.services, "a@example.com")
    created = await running.client.post(
        "/api/v1/tokens", json={"name": "script"}, headers=bearer(token)
    )
    assert created.status_code == 201
    second = created.json()["token"]
    assert second != token and second.startswith("lst_")
    assert (await running.client.get("/api/v1/me", headers=bearer(second))).status_code == 200


@pytest.mark.parametrize("role", [Role.agent, Role.pr])
async def test_only_admins_manage_users_and_channels(running: Running, role: Role) -> None:
    _, token = await add_user(running.services, "someone@example.com", role)
    before = await count_rows(running.services, "user", "channel")
    forbidden = [
        await running.client.post(
            "/api/v1/users",
            json={"email": "x@example.com", "password": "long enough pw", "role": "admin"},
            headers=bearer(token),
        ),
        await running.client.post(
            "/api/v1/channels",
            json={"platform": "facebook", "name": "page"},
            headers=bearer(token),
        ),
        await running.client.get("/api/v1/users", headers=bearer(token)),
    ]
    assert [r.status_code for r in forbidden] == [403, 403, 403]
    assert await count_rows(running.services, "user", "channel") == before


async def test_channel_secrets_are_shown_once_and_never_listed(running: Running) -> None:
    _, token = await add_user(running.services, "admin@example.com", Role.admin)
    created = await running.client.post(
        "/api/v1/channels",
        json={
            "platform": "facebook",
            "name": "Page",
            "secret": "app-secret-123",
            "verify_token": "vt-456",
        },
        headers=bearer(token),
    )
    assert created.status_code == 201
    assert created.json()["secret"] == "app-secret-123"
    assert created.json()["webhook_url"].endswith(f"/webhooks/{created.json()['id']}")
    listed = await running.client.get("/api/v1/channels", headers=bearer(token))
    text = listed.text
    assert "app-secret-123" not in text and "vt-456" not in text
    assert listed.json()["items"][0]["has_secret"] is True


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(running: Running) -> None:
    _, token = await add_user(running.services, "admin@example.com", Role.admin)
    before = await count_rows(running.services, "user", "channel")
    bad = [
        await running.client.post("/api/v1/users", json={"email": "x"}, headers=bearer(token)),
        await running.client.post(
            "/api/v1/users",
            json={"email": "x@example.com", "password": "short"},
            headers=bearer(token),
        ),
        await running.client.post(
            "/api/v1/channels", json={"platform": "myspace", "name": "x"}, headers=bearer(token)
        ),
        await running.client.post(
            "/api/v1/users",
            content=b"{not json",
            headers=bearer(token) | {"content-type": "application/json"},
        ),
    ]
    assert [r.status_code for r in bad] == [422, 422, 422, 422]
    assert all("error" in r.json() for r in bad)
    assert await count_rows(running.services, "user", "channel") == before


async def test_passwords_are_stored_as_argon2id(running: Running) -> None:
    from argon2 import PasswordHasher

    user_id, _ = await add_user(running.services, "erika@example.com", Role.pr)
    async with running.services.sessionmaker() as session:
        stored = (
            await session.execute(
                sa.text('SELECT password_hash FROM "user" WHERE id = :id'), {"id": user_id}
            )
        ).scalar_one()
    assert stored.startswith("$argon2id$"), stored[:12]
    assert "correct horse battery" not in stored
    assert PasswordHasher().verify(stored, "correct horse battery")
    signed_in = await running.client.post(
        "/api/v1/auth/login",
        json={"email": "erika@example.com", "password": "correct horse battery"},
    )
    assert signed_in.status_code == 200, signed_in.text
