"""The dashboard's server side without a browser: every page URL answers the app shell,
with its security headers, the optional APIs it may use, and 403 for a role it lacks."""

from __future__ import annotations

import re

from people.models import Role
from tests.conftest import Running
from tests.helpers import add_user
from web.routes import inbox_preload


async def test_every_page_url_serves_the_shell(running: Running) -> None:
    for path in ("/", "/signin", "/inbox", "/conversations/12", "/overview", "/incidents",
                 "/incidents/3", "/admin", "/admin/channels"):  # fmt: skip
        response = await running.client.get(path)
        assert response.status_code == 200, path
        assert '<script type="module" src="/static/js/main.js">' in response.text
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy
        assert response.headers["x-frame-options"] == "DENY"
    assert (await running.client.get("/nowhere")).status_code == 404


async def test_the_shell_names_the_optional_apis_it_can_use(running: Running) -> None:
    response = await running.client.get("/inbox")
    features = re.search(r'data-features="([^"]*)"', response.text)
    assert features is not None
    offered = dict(token.split("=", 1) for token in features.group(1).split())
    paths = (await running.client.get("/openapi.json")).json()["paths"]
    for name, path in offered.items():
        assert path in paths, name
    assert "/api/v1/stats/overview" in paths


async def test_a_page_for_another_role_answers_403(running: Running) -> None:
    client = running.client
    await add_user(running.services, "a@example.com", Role.agent)
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": "a@example.com", "password": "correct horse battery"}
    )
    assert signed_in.status_code == 200
    assert "leitstand_token" in client.cookies  # the session cookie, as a browser keeps it
    for path in ("/admin", "/admin/users", "/incidents", "/incidents/1"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "/static/js/main.js" in response.text  # the page explains it in words
    inbox = await client.get("/inbox")
    assert inbox.status_code == 200
    assert '<link rel="preload" as="fetch" crossorigin="anonymous" href="/api/v1/me">' in inbox.text
    assert "/api/v1/conversations?status=open&amp;limit=50" in inbox.text


async def test_static_files_are_revalidated_and_typed(running: Running) -> None:
    for path, kind in (
        ("/static/js/main.js", "javascript"),
        ("/static/app.css", "css"),
        ("/static/icons/sprite.svg", "svg"),
        ("/static/i18n/de.js", "javascript"),
    ):
        response = await running.client.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"]
        assert response.headers["cache-control"] == "no-cache"
        again = await running.client.get(path, headers={"if-none-match": response.headers["etag"]})
        assert again.status_code == 304
    assert (await running.client.get("/static/../app/settings.py")).status_code == 404


def test_the_preloaded_inbox_request_is_the_one_the_page_makes() -> None:
    assert inbox_preload({}) == "/api/v1/conversations?status=open&limit=50"
    assert (
        inbox_preload(
            {"status": "all", "category": "press", "min_urgency": "80", "assignee": "none"}
        )
        == "/api/v1/conversations?category=press&min_urgency=80&limit=50&unassigned=true"
    )
    assert inbox_preload({"assignee": "me"}) is None  # the page knows who "me" is
    assert inbox_preload({"q": "a b"}) is None


def test_both_languages_have_every_key() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "web" / "static" / "i18n"
    key = re.compile(r'^  "([\w.]+)":', re.MULTILINE)
    de = set(key.findall((folder / "de.js").read_text(encoding="utf-8")))
    en = set(key.findall((folder / "en.js").read_text(encoding="utf-8")))
    assert de == en and len(de) > 300
    used = set()
    for script in (folder.parent / "js").rglob("*.js"):
        used |= set(re.findall(r'\bt\(\s*"([\w.]+)"', script.read_text(encoding="utf-8")))
    assert used <= de, sorted(used - de)
