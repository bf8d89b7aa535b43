"""The dashboard with the real triage model and the escalation engine: a critical Facebook
comment becomes a live inbox row and an alert for the PR person on call, who acknowledges
it so that the next level is never notified; the model's result is corrected in one click.
The module ends by photographing every main page in German and English at 1440×900 and
1280×800 (``var/screenshots/``), filled by ``leitstand demo``'s traffic."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import expect

from app.db import unit_of_work, utcnow
from inbox.demo import CRITICAL, DemoChannel, _meta_headers, ensure_demo_channels, facebook_comment
from inbox.demo import replay as demo_replay
from inbox.models import Channel, Message
from tests.conftest import live_server, make_settings, wait_for
from tests.helpers import bearer
from tests.web.conftest import open_page, screenshot, set_language, sign_in
from tests.web.report import FIGURES
from tests.web.seed import Person, Seeded, _history, seed_people

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

LEVEL_DELAY_S = 8  # long enough to acknowledge by hand on a busy 2-core machine


@dataclass
class Live:
    server: live_server
    people: dict[str, Person]
    channels: dict[str, DemoChannel]
    escalation: bool
    critical_posts: list[str]

    @property
    def url(self) -> str:
        return self.server.url

    async def api(self, method: str, path: str, who: str = "admin", **kwargs: Any) -> Any:
        response = await self.server.client.request(
            method, path, headers=bearer(self.people[who].token), **kwargs
        )
        assert response.status_code < 400, (path, response.status_code, response.text)
        return response.json() if response.content else None

    async def post_critical(self, text: str = CRITICAL) -> str:
        """The story's comment, on a post of its own (so: its own conversation)."""
        post = f"100200300_{len(self.critical_posts) + 900}"
        self.critical_posts.append(post)
        channel = self.channels["facebook"]
        body = facebook_comment(
            text, post=post, author=("4711", "Sandra Keller"), now_s=int(time.time())
        )
        response = await self.server.client.post(
            f"/webhooks/{channel.id}", content=body, headers=_meta_headers(channel.secret, body)
        )
        assert response.status_code == 200
        return post

    async def settled(self) -> None:
        """Every stored message triaged."""

        async def done() -> bool:
            async with self.server.services.sessionmaker() as session:
                waiting = (
                    await session.execute(
                        sa.select(sa.func.count()).where(
                            Message.__table__.c.processed_at.is_(None)  # type: ignore[attr-defined]
                        )
                    )
                ).scalar_one()
            return waiting == 0

        await wait_for(done, timeout_s=180, interval_s=0.25)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(module_db: str) -> AsyncIterator[Live]:
    settings = make_settings(
        module_db,
        triage_enabled=True,
        escalation_tick_s=0.2,
        notify_tick_s=0.2,
        ws_heartbeat_s=5.0,
    )
    async with live_server(settings) as server:  # loads the real model
        people = await seed_people(server.services)
        async with unit_of_work(server.services.sessionmaker) as session:
            channels = await ensure_demo_channels(session)
            rows = {
                c.platform: c
                for c in (await session.execute(sa.select(Channel))).scalars()
                if c.id in {d.id for d in channels.values()}
            }
            await _history(session, Seeded(channels=rows), utcnow())
        state = Live(server, people, channels, escalation=False, critical_posts=[])
        paths = (await server.client.get("/openapi.json")).json()["paths"]
        if "/api/v1/escalation-rules" in paths and "/api/v1/escalation-policies" in paths:
            state.escalation = True
            await _escalation(state)
        await demo_replay(
            server.url, channels, pause_s=0.02, shitstorm_size=40, echo=lambda _: None
        )
        await state.settled()
        yield state


async def _escalation(state: Live) -> None:
    """PR on call: Paul first, Petra if Paul does not acknowledge in time."""
    pr, pr2 = state.people["pr"].id, state.people["pr2"].id
    level = {"team_ids": [], "rotation_ids": [], "integration_ids": []}
    # On the admin pages (and their screenshots); the policy below does not use them.
    await state.api(
        "POST",
        "/api/v1/oncall-rotations",
        json={
            "name": "PR-Wochendienst",
            "participant_ids": [pr, pr2],
            "handover_at": "2026-01-05T08:00:00Z",
            "shift_s": 7 * 86400,
        },
    )
    await state.api(
        "POST",
        "/api/v1/integrations",
        json={"kind": "slack", "name": "Krisenstab (Slack)", "url": "https://hooks.example/T0/B0"},
    )
    policy = await state.api(
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "PR-Bereitschaft",
            "levels": [
                {"delay_s": LEVEL_DELAY_S, "user_ids": [pr], **level},
                {"delay_s": LEVEL_DELAY_S, "user_ids": [pr2], **level},
            ],
        },
    )
    await state.api(
        "POST",
        "/api/v1/escalation-rules",
        json={
            "name": "Gesundheit, Drohung oder Anwalt",
            "conditions": {
                "any": [
                    {"field": "category.safety", "op": "gte", "value": 0.5},
                    {"field": "category.threat", "op": "gte", "value": 0.5},
                    {"field": "category.legal", "op": "gte", "value": 0.5},
                ]
            },
            "actions": [
                {"type": "set_priority", "urgency": 95},
                {"type": "open_incident", "severity": "critical"},
                {"type": "start_policy", "policy_id": policy["id"]},
            ],
        },
    )


async def _conversation_of(live: Live, post: str) -> dict[str, Any]:
    found = await live.api("GET", "/api/v1/conversations", params={"q": "Krankenhaus", "limit": 50})
    for item in found["items"]:
        if item["thread_key"] == post:
            return dict(item)
    raise AssertionError(f"no conversation for post {post}")


async def _triaged_conversation_of(live: Live, post: str) -> dict[str, Any] | None:
    try:
        conversation = await _conversation_of(live, post)
    except AssertionError:
        return None
    top = conversation.get("top_message") or {}
    return conversation if top.get("urgency") is not None else None


async def test_a_critical_message_arrives_live_and_alerts_pr(live: Live, browser: Any) -> None:
    async with open_page(browser, live.url) as page:
        await sign_in(page, "paul@example.com")
        await page.wait_for_selector(".rows a.row")
        await page.wait_for_selector(".live--live")
        await page.evaluate("window.__sameDocument = true")
        started = time.monotonic()
        post = await live.post_critical()

        # Which conversation the comment became (the page does not know it in advance).
        conversation = await wait_for(lambda: _triaged_conversation_of(live, post), timeout_s=30)
        row = page.locator(f".rows a.row[data-id='{conversation['id']}']")
        await expect(row.locator(".badge")).to_have_text(
            str(conversation["urgency"]), timeout=20_000
        )
        row_s = time.monotonic() - started
        assert await page.evaluate("window.__sameDocument") is True
        top = await page.locator(".rows a.row .badge").first.inner_text()
        assert int(top) == conversation["urgency"], "the critical message is not on top"
        assert "row--critical" in (await row.get_attribute("class") or "")
        FIGURES.append(f"webhook → inbox row in the browser: {row_s * 1000:.0f} ms")
        # A new critical item stands out: the alarm row, its pill and a critical toast.
        await expect(row).to_have_class(re.compile(r"\brow--alarm\b"))
        await expect(row.locator(".pill--alarm")).to_have_text("Neu · kritisch")
        critical_toast = page.locator(".toast--critical", has_text="Sandra Keller")
        await expect(critical_toast).to_contain_text("Neue kritische Nachricht von Sandra Keller")
        assert await critical_toast.get_attribute("role") == "alert"

        assert live.escalation, "the escalation API (rules and policies) is missing on this server"
        alert = page.locator(".alert").first
        await alert.wait_for(timeout=20_000)
        FIGURES.append(
            f"webhook → alert banner in the browser: {(time.monotonic() - started) * 1000:.0f} ms"
        )
        assert "Eskalation" in (await alert.text_content() or "")
        played = await page.evaluate("(window.__leitstand || {}).alarmsPlayed || 0")
        enable_sound = alert.locator("button:has-text('Ton einzuschalten')")
        assert played > 0 or await enable_sound.is_visible(), (
            "neither a sound nor a way to enable it"
        )

        # Paul acknowledges from the banner, within the level's delay.
        await alert.locator("button:has-text('Bestätigen')").click()
        await expect(alert).to_contain_text("Bestätigt", timeout=10_000)
        incidents = await live.api("GET", "/api/v1/incidents", who="pr", params={"limit": 200})
        incident = next(
            i
            for i in incidents["items"]
            if i["status"] == "acknowledged" and "Krankenhaus" in i["title"]
        )
        assert incident["acknowledged_by"] == live.people["pr"].id

        await asyncio.sleep(LEVEL_DELAY_S + 3)  # past the moment level 2 would have come
        detail = await live.api("GET", f"/api/v1/incidents/{incident['id']}", who="pr")
        notified = [e for e in detail["timeline"] if e["kind"] == "escalation.notified"]
        assert [e["data"]["level"] for e in notified] == [1], notified  # never level 2
        log = await live.api(
            "GET", "/api/v1/notifications", who="pr", params={"incident_id": incident["id"]}
        )
        assert all(n["user_id"] != live.people["pr2"].id for n in log["items"]), log["items"]
        assert detail["status"] == "acknowledged"


async def test_the_model_result_is_corrected_in_one_click(live: Live, browser: Any) -> None:
    post = live.critical_posts[0] if live.critical_posts else await live.post_critical()
    await live.settled()
    conversation = await _conversation_of(live, post)
    async with open_page(browser, live.url) as page:
        await sign_in(page, "lena@example.com", lang="en")
        await page.goto(f"/conversations/{conversation['id']}")
        message = page.locator(".msg--in").last
        await message.locator(".triage .badge").wait_for()
        assert await message.locator(".triage__reasons li").count() >= 1  # the model says why
        await message.locator(".triage__correct").click()
        await message.locator(".band-btn--critical").click()
        correction = message.locator(".correction")
        await correction.wait_for()
        assert "urgency 90 (Critical)" in await correction.inner_text()
    saved = await live.api(
        "GET", f"/api/v1/conversations/{conversation['id']}/triage-feedback", who="agent"
    )
    assert [f["urgency"] for f in saved["items"]] == [90]


async def test_the_incident_page_shows_severity_timeline_and_resolves(
    live: Live, browser: Any
) -> None:
    """After the story above: the incident list groups by severity, the incident has its
    timeline (notified, acknowledged) and conversation, and Resolve closes it."""
    assert live.escalation, "the escalation API is missing on this server"
    incidents = await live.api("GET", "/api/v1/incidents", who="pr", params={"limit": 200})
    incident = next((i for i in incidents["items"] if i["status"] == "acknowledged"), None) or next(
        i for i in incidents["items"] if i["status"] == "open"
    )
    async with open_page(browser, live.url) as page:
        await sign_in(page, "paul@example.com")
        await page.goto("/incidents")
        group = page.locator(
            ".sev-group", has=page.locator(f"a[href='/incidents/{incident['id']}']")
        )
        await expect(group.locator("h2")).to_contain_text("Kritisch")
        titles = await page.locator(".sev-group h2").all_inner_texts()
        order = ["Kritisch", "Hoch", "Mittel", "Niedrig"]
        ranks = [next(i for i, word in enumerate(order) if word in title) for title in titles]
        assert ranks == sorted(ranks), titles  # most severe first
        card = group.locator(
            ".incident-card", has=page.locator(f"a[href='/incidents/{incident['id']}']")
        )
        await expect(card.locator(".pill")).to_have_text(
            "Bestätigt" if incident["status"] == "acknowledged" else "Offen"
        )

        await card.locator(f"a[href='/incidents/{incident['id']}']").click()
        await page.wait_for_url(re.compile(rf"/incidents/{incident['id']}$"))
        timeline = page.locator(".timeline")
        await timeline.wait_for()
        notified = timeline.locator(".timeline__item--escalation-notified")
        await expect(notified.first).to_contain_text("Benachrichtigt")
        await expect(notified.first).to_contain_text("Paul Presse")
        if incident["status"] == "acknowledged":
            acknowledged = timeline.locator(".timeline__item--incident-acknowledged")
            await expect(acknowledged).to_contain_text("Bestätigt")
            await expect(acknowledged).to_contain_text("Paul Presse")
        attached = page.locator("section[aria-labelledby='attached-title'] .mini-list a.mini")
        await expect(attached.first).to_contain_text("Sandra Keller")
        assert await attached.first.get_attribute("href") is not None

        await page.locator(".incident__head button", has_text="Erledigen").click()
        await expect(page.locator(".incident__head .pill")).to_have_text("Erledigt")
        await expect(page.locator(".timeline__item--incident-resolved")).to_contain_text("Paul")
        await expect(page.locator(".incident__head button", has_text="Erledigen")).to_have_count(0)
    detail = await live.api("GET", f"/api/v1/incidents/{incident['id']}", who="pr")
    assert detail["status"] == "resolved" and detail["resolved_by"] == live.people["pr"].id


PAGES = [
    ("inbox", "/inbox"),
    ("overview-24h", "/overview"),
    ("overview-7d", "/overview?range=7d"),
    ("incidents", "/incidents"),
    ("admin-users", "/admin/users"),
    ("admin-teams", "/admin/teams"),
    ("admin-channels", "/admin/channels"),
    ("admin-rules", "/admin/rules"),
    ("admin-policies", "/admin/policies"),
    ("admin-rotations", "/admin/rotations"),
    ("admin-integrations", "/admin/integrations"),
]


@pytest.mark.parametrize("size", ["desktop", "laptop"])
@pytest.mark.parametrize("lang", ["de", "en"])
async def test_screenshots_of_every_main_page(
    live: Live, browser: Any, lang: str, size: str
) -> None:
    critical = await _conversation_of(live, live.critical_posts[0]) if live.critical_posts else None
    async with open_page(browser, live.url, lang=lang, size=size) as page:
        await page.goto("/signin")
        await page.wait_for_selector("form.signin__form")
        await page.locator(f".signin__card .segmented__item[lang='{lang}']").click()
        await page.wait_for_selector(f"html[lang='{lang}']")
        await screenshot(page, "signin", lang=lang, size=size)
        await sign_in(page, "anna@example.com", lang=lang)
        await set_language(page, lang)
        for name, path in PAGES:
            await page.goto(path)
            await page.wait_for_selector("main#main > *")
            await page.wait_for_load_state("networkidle")
            await screenshot(page, name, lang=lang, size=size)
        if critical is not None:
            await page.goto(f"/conversations/{critical['id']}")
            await page.locator(".msg--in .triage .badge").last.wait_for()
            await screenshot(page, "conversation", lang=lang, size=size)
            await page.locator(".msg--in .triage__correct").last.click()
            await page.locator(".correct").wait_for()
            await screenshot(page, "conversation-correction", lang=lang, size=size)
        incidents = await live.api("GET", "/api/v1/incidents", params={"limit": 1})
        if incidents["items"]:
            await page.goto(f"/incidents/{incidents['items'][0]['id']}")
            await page.wait_for_selector(".timeline")
            await screenshot(page, "incident", lang=lang, size=size)
    async with open_page(browser, live.url, lang=lang, size=size) as page:
        await sign_in(page, "lena@example.com", lang=lang)
        await set_language(page, lang)
        await page.goto("/admin/users")
        await page.wait_for_selector(".status-page")
        await screenshot(page, "forbidden-agent", lang=lang, size=size)
    if live.escalation and size == "desktop":
        async with open_page(browser, live.url, lang=lang, size=size) as page:
            await sign_in(page, "paul@example.com", lang=lang)
            await set_language(page, lang)
            await page.wait_for_selector(".live--live")
            await live.post_critical(
                "Mein Kind hat sich an eurem Heizlüfter verbrannt, das Ding ist explodiert. "
                "Mein Anwalt meldet sich."
            )
            await page.locator(".alert").first.wait_for(timeout=30_000)
            await expect(page.locator(".alert__title").first).to_have_text(re.compile(r"^#\d+ · "))
            await page.locator(".toast--critical").first.wait_for(timeout=20_000)
            await screenshot(page, "alert", lang=lang, size=size)
