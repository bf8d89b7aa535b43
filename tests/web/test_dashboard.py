"""The dashboard in a real browser, without the triage model (triage results are seeded):
signing in and out, the inbox and its filters, keyboard use, a conversation with notes,
labels, a triage correction and a reply that reaches the platform, live updates, the
overview's charts, administration, and what an agent may not open."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import expect

from app.db import unit_of_work, utcnow
from inbox.channels import create_channel
from inbox.models import Conversation, Message
from tests.conftest import live_server, make_settings
from tests.helpers import bearer, standard_headers
from tests.web.conftest import open_page, screenshot, sign_in, unnamed_controls
from tests.web.seed import Seeded, _message, seed_channels, seed_inbox, seed_people, triage

pytestmark = pytest.mark.asyncio(loop_scope="module")

platform_server = pytest.importorskip("tests.inbox.replies.platform_server")


@dataclass
class Site:
    server: live_server
    seeded: Seeded
    platform: Any
    reply_conversation: int

    @property
    def url(self) -> str:
        return self.server.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(module_db: str) -> AsyncIterator[Site]:
    async with platform_server.PlatformServer() as platform:
        settings = make_settings(
            module_db,
            meta_graph_base_url=f"{platform.url}/v21.0",
            reply_backoff_base_s=0.05,
            reply_retry_poll_s=0.05,
        )
        async with live_server(settings) as server:
            seeded = Seeded()
            seeded.people = await seed_people(server.services)
            seeded.channels = await seed_channels(server.services)
            await seed_inbox(server.services, seeded)
            reply_conversation = await _conversation_that_can_be_answered(server.services)
            yield Site(server, seeded, platform, reply_conversation)


async def _conversation_that_can_be_answered(services: Any) -> int:
    """A Facebook comment on a page whose channel holds a page access token."""
    now = utcnow()
    async with unit_of_work(services.sessionmaker) as session:
        channel = await create_channel(
            session,
            platform="facebook",
            name="Facebook: Antworten",
            secret="app-secret",
            outbound_credentials={"page_access_token": "EAAB-test-token", "page_id": "100200"},
        )
        conversation_id = (
            await session.execute(
                sa.insert(Conversation.__table__)  # type: ignore[attr-defined]
                .values(
                    channel_id=channel.id,
                    platform="facebook",
                    thread_key="100200_777",
                    kind="comment",
                    subject="Wie lange ist der Brei haltbar?",
                    status="open",
                    urgency=20,
                    language="de",
                    message_count=1,
                    waiting_since=now,
                    last_message_at=now,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Conversation.__table__.c.id)  # type: ignore[attr-defined]
            )
        ).scalar_one()
        await session.execute(
            sa.insert(Message.__table__),  # type: ignore[attr-defined]
            [
                _message(
                    channel.id,
                    conversation_id,
                    None,
                    "100200_777_1",
                    "comment",
                    "Wie lange ist der Brei nach dem Öffnen haltbar?",
                    "de",
                    now,
                    triage(22, {"question": 0.97}, ["looks like a question (97%)"]),
                )
            ],
        )
        return int(conversation_id)


async def rows(page: Any) -> list[dict[str, Any]]:
    return list(
        await page.eval_on_selector_all(
            ".rows a.row",
            """els => els.map(a => ({
                id: Number(a.dataset.id),
                badge: a.querySelector('.badge').textContent,
                text: a.querySelector('.row__text').textContent,
                author: a.querySelector('.row__author').textContent,
                chips: [...a.querySelectorAll('.row__meta .chip')].map(c => c.textContent),
                platform: a.querySelector('svg.platform').getAttribute('aria-label'),
                sla: a.querySelector('.row__sla').textContent,
                title: a.getAttribute('title') || '',
            }))""",
        )
    )


async def test_sign_in_shows_who_and_role_then_sign_out(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await page.goto("/inbox")
        await page.wait_for_selector("form.signin__form")  # not signed in: the form
        await page.fill("input[name=email]", "anna@example.com")
        await page.fill("input[name=password]", "not the password")
        await page.click("form.signin__form button[type=submit]")
        error = page.locator("#signin-error")
        await error.wait_for()
        assert "falsch" in (await error.text_content() or "")

        await page.fill("input[name=password]", "correct horse battery")
        await page.click("form.signin__form button[type=submit]")
        await page.wait_for_selector("nav.sidebar")
        assert urlsplit(page.url).path == "/inbox"  # back where she wanted to go
        assert await page.text_content(".me__name") == "Anna Admin"
        assert await page.text_content(".me__role") == "Administrator:in"
        cookies = await page.context.cookies()
        session = next(c for c in cookies if c["name"] == "leitstand_token")
        assert session["httpOnly"] and session["sameSite"] == "Strict"

        await page.click(".me button[aria-label='Abmelden']")
        await page.wait_for_selector("form.signin__form")
        assert "abgemeldet" in (await page.text_content("#signin-error") or "")
        response = await page.request.get("/api/v1/me")
        assert response.status == 401


async def test_inbox_lists_every_channel_most_urgent_first(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.wait_for_selector(".rows a.row")
        listed = await rows(page)
        badges = [int(r["badge"]) for r in listed]
        assert badges == sorted(badges, reverse=True)
        first = listed[0]
        assert first["author"] == "Sandra Keller" and first["badge"] == "94"
        assert first["platform"] == "Facebook"
        assert {"Sicherheit", "Rechtlich"} <= set(first["chips"])
        assert "Krankenhaus und Anwalt" in first["title"]  # the reasons, on hover
        assert await page.locator(".rows a.row").first.locator(".row__sla").is_visible()
        press = listed[1]
        assert (
            press["platform"] == "API"
            and "48.000 Follower" in await page.locator(".rows a.row").nth(1).inner_text()
        )
        assert {r["platform"] for r in listed} >= {"Facebook", "Instagram", "WhatsApp", "API"}
        assert await page.locator(".rows a.row").first.get_attribute("class") is not None
        assert "row--critical" in (await page.locator(".rows a.row").first.get_attribute("class"))
        # The language of each conversation, as a short code.
        assert await page.locator(".rows a.row").first.locator(".row__lang").inner_text() == "DE"
        assert await page.locator(".rows a.row").nth(1).locator(".row__lang").inner_text() == "EN"


async def test_filters_live_in_the_url(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.wait_for_selector(".rows a.row")
        await page.select_option("select[aria-label='Kategorie']", "press")
        await page.wait_for_url(re.compile(r"category=press"))
        await expect(page.locator(".rows a.row")).to_have_count(1)
        assert (await rows(page))[0]["author"] == "Daily Ledger"

        await page.reload()  # the filter survives a reload
        await page.wait_for_selector(".rows a.row")
        assert await page.input_value("select[aria-label='Kategorie']") == "press"
        assert len(await rows(page)) == 1

        await page.click("text=Filter zurücksetzen")
        await page.locator(".rows a.row").nth(3).wait_for()
        await page.keyboard.press("/")
        await page.keyboard.type("glutenfrei")
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"q=glutenfrei"))
        await expect(page.locator(".rows a.row")).to_have_count(1)
        assert "glutenfrei" in (await rows(page))[0]["text"]

        await page.goto("/inbox?min_urgency=80&language=de")
        await page.wait_for_selector(".rows a.row")
        assert [r["author"] for r in await rows(page)] == ["Sandra Keller"]


async def test_the_main_flow_works_with_the_keyboard_alone(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await page.goto("/signin")
        await page.wait_for_selector("input[name=email]:focus")
        await page.keyboard.type("lena@example.com")
        await page.keyboard.press("Tab")
        await page.keyboard.type("correct horse battery")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".rows a.row")

        await page.keyboard.press("j")
        await page.keyboard.press("j")
        await page.keyboard.press("k")
        focused = await page.evaluate("document.activeElement.dataset.id")
        listed = await rows(page)
        assert int(focused) == listed[0]["id"]
        await page.keyboard.press("j")  # the second row: the press enquiry
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(rf"/conversations/{listed[1]['id']}"))
        await page.wait_for_selector("#convo-title")
        assert await page.text_content("#convo-title") == "Daily Ledger"

        await page.keyboard.press("a")  # assign to me
        await expect(page.locator(".convo__actions select[aria-label='Zuständig']")).to_have_value(
            str(site.seeded.people["agent"].id)
        )
        await page.keyboard.press("?")
        dialog = page.locator("dialog[open]")
        await dialog.wait_for()
        assert "Tastenkürzel" in await dialog.inner_text()
        await page.keyboard.press("Escape")
        await dialog.wait_for(state="detached")

        await page.keyboard.press("e")  # resolve
        await page.wait_for_selector(".convo__head .pill--resolved")
        conversation = await page.request.get(f"/api/v1/conversations/{listed[1]['id']}")
        assert (await conversation.json())["status"] == "resolved"

        await page.keyboard.press("Escape")  # back to the list
        await page.wait_for_url(re.compile(r"/inbox$"))
        await expect(page.locator(f".rows a.row[data-id='{listed[1]['id']}']")).to_have_count(0)

        # Every page is reachable by Tab from the navigation.
        for _ in range(120):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.dataset.nav === 'overview'"):
                break
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"/overview"))


async def test_a_conversation_takes_notes_labels_and_a_triage_correction(
    site: Site, browser: Any
) -> None:
    conversation_id = site.seeded.conversations["complaint"]
    message_id = site.seeded.messages["complaint"]
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.goto(f"/conversations/{conversation_id}")
        await page.wait_for_selector("#convo-title")
        assert await page.text_content("#convo-title") == "Mehmet Yilmaz"
        assert "WhatsApp" in await page.inner_text(".convo__sub")

        await page.fill("input[aria-label='Label hinzufügen']", "Lieferung")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".labels .chip:has-text('Lieferung')")

        await page.click("#tab-note")
        await page.fill(
            "textarea[aria-label='Interne Notiz']", "Paket hängt im Zoll, DHL angefragt."
        )
        await page.click(".composer button[type=submit]")
        await page.wait_for_selector(".thread .note:has-text('DHL angefragt')")

        # One click: the urgency should have been low.
        await page.click(f".msg[data-message-id='{message_id}'] .triage__correct")
        await page.click(f"#correct-{message_id} .band-btn--low")
        correction = page.locator(f".msg[data-message-id='{message_id}'] .correction")
        await correction.wait_for()
        assert "Lena Agent" in await correction.inner_text()
        assert "Dringlichkeit 15 (Niedrig)" in await correction.inner_text()

        # And which categories apply.
        await page.click(f".msg[data-message-id='{message_id}'] .triage__correct")
        panel = page.locator(f"#correct-{message_id}")
        await panel.locator("button.toggle:has-text('Frage')").click()  # not a question
        await panel.locator("button.toggle:has-text('Störung')").click()  # but an outage
        await panel.locator("button:has-text('Kategorien speichern')").click()
        await page.wait_for_selector(
            f".msg[data-message-id='{message_id}'] .correction:has-text('Störung')"
        )

        await page.reload()  # stored, not just drawn
        await page.wait_for_selector(f".msg[data-message-id='{message_id}'] .correction")
        assert "Beschwerde, Störung" in await page.inner_text(
            f".msg[data-message-id='{message_id}'] .correction"
        )
    response = await site.server.client.get(
        f"/api/v1/conversations/{conversation_id}/triage-feedback",
        headers=bearer(site.seeded.people["admin"].token),
    )
    saved = response.json()["items"]
    assert [(f["urgency"], f["categories"]) for f in saved] == [
        (15, None),
        (None, ["complaint", "outage"]),
    ]


async def test_a_conversation_shows_platform_context_and_snoozes(site: Site, browser: Any) -> None:
    """Review stars and the message a reply answers; snoozing takes it out of the inbox."""
    outage = site.seeded.conversations["outage"]
    async with unit_of_work(site.server.services.sessionmaker) as session:
        row = _message(
            site.seeded.channels["instagram"].id,
            outage,
            None,
            "msg-outage-reply",
            "reply",
            "Same here, nothing works since 8 am.",
            "en",
            utcnow(),
            triage(40, {"outage": 0.8}, ["mentions an outage"], language="en"),
        )
        await session.execute(
            sa.insert(Message.__table__).values(  # type: ignore[attr-defined]
                **row, parent_external_id="msg-outage"
            )
        )
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.goto(f"/conversations/{site.seeded.conversations['press']}")
        await page.wait_for_selector("#convo-title")
        stars = page.locator(".msg--in .msg__stars")
        await expect(stars).to_have_attribute("aria-label", "2 Sterne")
        assert (await stars.inner_text()).count("★") == 5  # 2 lit, 3 off
        assert await stars.locator(".stars-off").inner_text() == "★★★"

        await page.goto(f"/conversations/{outage}")
        reply = page.locator(".msg--in", has_text="Same here")
        await expect(reply.locator(".msg__reply-to")).to_contain_text("Antwort auf")
        await expect(reply.locator(".msg__reply-to")).to_contain_text("The app has been down")

        spam = site.seeded.conversations["spam"]
        await page.goto(f"/conversations/{spam}")
        await page.wait_for_selector("#convo-title")
        await page.select_option("select[aria-label='Zurückstellen …']", index=1)  # 1 hour
        await expect(page.locator(".convo__head .pill--snoozed")).to_have_text("Zurückgestellt")
        await expect(page.locator(".convo__head")).to_contain_text("Zurückgestellt bis")
        await expect(page.locator(f".rows a.row[data-id='{spam}']")).to_have_count(0)
        saved = await (await page.request.get(f"/api/v1/conversations/{spam}")).json()
        assert saved["status"] == "snoozed" and saved["snoozed_until"]


async def test_a_reply_reaches_the_platform(site: Site, browser: Any) -> None:
    site.platform.reset()
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.goto(f"/conversations/{site.reply_conversation}")
        await page.wait_for_selector("#convo-title")
        await page.fill("textarea[aria-label='Ihre Antwort']", "Geöffnet 3 Tage im Kühlschrank.")
        await page.keyboard.press("Control+Enter")
        await page.wait_for_selector(".msg--out .delivery--sent")
        assert "Geöffnet 3 Tage" in await page.inner_text(".msg--out")
    sent = [r for r in site.platform.requests if r.method == "POST"]
    assert len(sent) == 1
    assert sent[0].path == "/v21.0/100200_777_1/comments"
    assert sent[0].json == {"message": "Geöffnet 3 Tage im Kühlschrank."}


async def test_a_channel_without_replies_says_so(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.goto(f"/conversations/{site.seeded.conversations['question']}")
        await page.fill("textarea[aria-label='Ihre Antwort']", "Ja, der Haferbrei ist glutenfrei.")
        await page.click(".composer button[type=submit]")
        error = page.locator(".composer .form-error")
        await error.wait_for()
        assert "noch nicht verfügbar" in await error.inner_text()
        assert await page.input_value("textarea[aria-label='Ihre Antwort']")  # text kept


async def test_new_messages_appear_without_a_reload(site: Site, browser: Any) -> None:
    channel = site.seeded.channels["standard-webhooks"]
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.wait_for_selector(".rows a.row")
        await page.wait_for_selector(".live--live")
        await page.evaluate("window.__sameDocument = true")
        body = json.dumps(
            {
                "type": "message.created",
                "timestamp": "2026-11-23T08:00:00Z",
                "data": {
                    "id": "live-1",
                    "text": "Ist der Shop gerade offline? Ich komme nicht zur Kasse.",
                    "author": {"id": "kunde-7", "name": "Kim Live", "followers": 120},
                    "thread_id": "live-thread",
                    "created_at": "2026-11-23T08:00:00Z",
                },
            }
        ).encode()
        response = await site.server.client.post(
            f"/webhooks/{channel.id}", content=body, headers=standard_headers(channel.secret, body)
        )
        assert response.status_code == 200
        row = page.locator(".rows a.row", has_text="Kim Live")
        await row.wait_for(timeout=10_000)
        assert await page.evaluate("window.__sameDocument") is True
        # Fresh, not critical: highlighted and marked "Neu", but no alarm and no alarm toast.
        await expect(row).to_have_class(re.compile(r"\brow--fresh\b"))
        await expect(row.locator(".pill--new")).to_have_text("Neu")
        assert "row--alarm" not in (await row.get_attribute("class") or "")
        assert await row.locator(".pill--alarm").count() == 0
        assert await page.locator(".toast--critical").count() == 0
        # The highlight fades after a few seconds; the row stays.
        await expect(row).not_to_have_class(re.compile(r"\brow--fresh\b"), timeout=10_000)
        await expect(row).to_be_visible()


async def test_the_overview_draws_real_figures(site: Site, browser: Any) -> None:
    stats = (
        await site.server.client.get(
            "/api/v1/stats/overview",
            params={"range": "7d", "tz": "Europe/Berlin"},
            headers=bearer(site.seeded.people["agent"].token),
        )
    ).json()
    assert stats["totals"]["messages"] > 100 and len(stats["buckets"]) == 7
    assert stats["unanswered_critical"]["total"] >= 1  # the press enquiry was resolved above
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        await page.goto("/overview?range=7d")
        await page.wait_for_selector(".chart__svg rect.bar")
        assert await page.locator(".chart__svg rect.bar").count() >= 7
        assert await page.locator(".chart__svg path.line").count() >= 3
        shown = await page.inner_text(".stats .stat:first-child .stat__value")
        assert int(shown.replace(".", "")) == stats["totals"]["messages"]
        assert "Sandra Keller" in await page.inner_text("#unanswered-title + ul")
        await page.click(".tabs__item:has-text('Letzte 24 Stunden')")
        await page.wait_for_url(re.compile(r"/overview$"))
        await page.locator(".chart__svg text.tick").nth(10).wait_for()


async def test_an_agent_gets_403_on_admin_pages(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await sign_in(page, "lena@example.com")
        assert await page.locator(".sidebar a[data-nav='admin']").count() == 0
        for path in ("/admin", "/admin/users", "/incidents"):
            response = await page.goto(path)
            assert response is not None and response.status == 403, path
            await page.wait_for_selector(".status-page h1")
            assert await page.text_content(".status-page h1") == "Zugriff verweigert"
            assert "Agent:in" in await page.inner_text(".status-page")
        api = await page.request.get("/api/v1/users")
        assert api.status == 403


async def test_administration(site: Site, browser: Any) -> None:
    async with open_page(browser, site.url) as page:
        await sign_in(page, "anna@example.com")
        await page.goto("/admin/users")
        await page.wait_for_selector(".admin .table tbody tr")
        assert await page.locator(".admin .table tbody tr").count() == 4
        await page.select_option("select[aria-label='Rolle von Petra Pohl']", "agent")
        await page.wait_for_selector(".toast--success")
        petra = (await page.request.get("/api/v1/users")).ok
        assert petra
        users = await (await page.request.get("/api/v1/users")).json()
        assert (
            next(u for u in users["items"] if u["email"] == "petra@example.com")["role"] == "agent"
        )
        await page.select_option("select[aria-label='Rolle von Petra Pohl']", "pr")

        await page.click("a.subnav__link[href='/admin/teams']")
        await page.fill("#add-team-title ~ .field input", "Nachtschicht")
        await page.click("form[aria-labelledby='add-team-title'] button[type=submit]")
        await page.wait_for_selector(".admin .table th:has-text('Nachtschicht')")

        await page.click("a.subnav__link[href='/admin/channels']")
        await page.wait_for_selector(".channel")
        assert await page.locator(".channel code:has-text('/webhooks/ch_')").count() >= 4
        form = page.locator("form[aria-labelledby='add-channel-title']")
        await form.locator("select").first.select_option("telegram")
        await form.locator(".field:has-text('Name') input").fill("Telegram-Bot")
        await form.locator("button[type=submit]").click()
        created = page.locator(".created")
        await created.wait_for()
        text = await created.inner_text()
        assert "Telegram-Bot" in text and "/webhooks/ch_" in text
        assert await created.locator("pre.console").count() == 1


async def test_every_control_has_an_accessible_name(site: Site, browser: Any) -> None:
    headers = bearer(site.seeded.people["admin"].token)
    client = site.server.client
    level = {"team_ids": [], "rotation_ids": [], "integration_ids": []}
    policy = await client.post(
        "/api/v1/escalation-policies",
        headers=headers,
        json={
            "name": "Barrierefreiheit",
            "levels": [{"delay_s": 600, "user_ids": [site.seeded.people["admin"].id], **level}],
        },
    )
    assert policy.status_code == 201, policy.text
    pages = [
        "/inbox",
        f"/conversations/{site.seeded.conversations['critical']}",
        "/overview",
        "/admin/users",
        "/admin/teams",
        "/admin/channels",
        "/admin/rules",
        "/admin/policies",
        "/admin/rotations",
        "/admin/integrations",
        "/incidents",
    ]
    async with open_page(browser, site.url) as page:
        await page.goto("/signin")
        await page.wait_for_selector("form.signin__form")
        assert await unnamed_controls(page) == [], "/signin"
        await sign_in(page, "anna@example.com")
        await page.wait_for_selector(".live--live")
        for path in pages:
            await page.goto(path)
            await page.wait_for_selector("main#main > *")
            await page.wait_for_load_state("networkidle")
            if path.startswith("/conversations"):
                await page.click(".triage__correct")  # the correction panel too
            if path == "/admin/rules":
                await page.locator("form.editor").wait_for()
            assert await unnamed_controls(page) == [], path

        # The shortcut help dialog.
        await page.goto("/inbox")
        await page.wait_for_selector(".rows a.row")
        await page.keyboard.press("?")
        await page.locator("dialog[open]").wait_for()
        assert await unnamed_controls(page) == [], "shortcut help"
        await page.keyboard.press("Escape")

        # An incident that escalates to Anna: its page and the alert banner.
        await page.wait_for_selector(".live--live")
        created = await client.post(
            "/api/v1/incidents",
            headers=headers,
            json={
                "title": "Rückruf Charge 0423",
                "severity": "critical",
                "policy_id": policy.json()["id"],
                "conversation_ids": [site.seeded.conversations["critical"]],
            },
        )
        assert created.status_code == 201, created.text
        alert = page.locator(".alert").first
        await alert.wait_for(timeout=15_000)
        assert await unnamed_controls(page) == [], "alert banner"
        await page.goto(f"/incidents/{created.json()['id']}")
        await page.wait_for_selector(".timeline")
        await page.wait_for_load_state("networkidle")
        assert await unnamed_controls(page) == [], "/incidents/:id"


async def test_rules_policies_and_rotations_are_made_with_forms(site: Site, browser: Any) -> None:
    """No JSON to type: the structured editors build the API's bodies, say what the server
    refuses in words, and edit what exists."""
    people = site.seeded.people
    async with open_page(browser, site.url) as page:
        await sign_in(page, "anna@example.com")

        # An on-call rotation: Paul, then Petra, weekly.
        await page.goto("/admin/rotations")
        form = page.locator("form[aria-labelledby='add-rotation-title']")
        await form.wait_for()
        await form.get_by_label("Name", exact=True).fill("PR-Woche")
        await form.locator("select[multiple]").select_option(
            [str(people["pr"].id), str(people["pr2"].id)]
        )
        await form.get_by_label("Erste Übergabe").fill("2026-01-05T09:00")
        await form.locator("button[type=submit]").click()
        await page.wait_for_selector(".admin .table th:has-text('PR-Woche')")

        # A policy: level 1 the rotation for 5 minutes, level 2 Anna for 10.
        await page.click("a.subnav__link[href='/admin/policies']")
        editor = page.locator("form.editor")
        await editor.wait_for()
        await editor.get_by_label("Name", exact=True).fill("Krisenkette")
        level1 = editor.locator("li.level").nth(0)
        await level1.get_by_label("Zeit zum Bestätigen", exact=True).fill("")
        await editor.locator("button[type=submit]").click()  # no target, no time: said so
        errors = editor.locator(".editor__errors")
        await expect(errors).to_contain_text("Stufe 1 braucht jemanden")
        await expect(errors).to_contain_text("Stufe 1 braucht eine Zeit")
        await level1.get_by_label("PR-Woche").check()
        await level1.get_by_label("Zeit zum Bestätigen", exact=True).fill("5")
        await editor.get_by_role("button", name="Stufe hinzufügen").click()
        level2 = editor.locator("li.level").nth(1)
        await level2.get_by_label("Anna Admin").check()
        await level2.get_by_label("Zeit zum Bestätigen", exact=True).fill("10")
        await editor.get_by_label("Ab Stufe 1 wiederholen").fill("2")
        await editor.get_by_label("Bestätigung läuft ab nach", exact=True).fill("1")
        await editor.get_by_label("Einheit von „Bestätigung läuft ab nach“").select_option("h")
        await screenshot(page, "admin-policy-editor", lang="de", element=editor)
        await editor.locator("button[type=submit]").click()
        await page.wait_for_selector(".admin .table th:has-text('Krisenkette')")

        # A rule that opens an incident and starts the policy.
        await page.click("a.subnav__link[href='/admin/rules']")
        editor = page.locator("form.editor")
        await editor.wait_for()
        await editor.get_by_label("Name", exact=True).fill("Rückruf-Welle")
        await editor.get_by_label("Dringlichkeit mindestens").fill("60")
        await editor.get_by_label("Sicherheit", exact=True).check()
        await editor.get_by_label("Schwelle für Sicherheit in Prozent").fill("80")
        await editor.get_by_label("Rechtlich", exact=True).check()
        await (
            editor.locator("fieldset.checks:has(legend:text('Plattformen'))")
            .get_by_label("Facebook", exact=True)
            .check()
        )
        await editor.get_by_label("Sprachen").fill("de, EN")
        await editor.get_by_label("Stichwörter im Text").fill("Rückruf, Anwalt")
        await editor.get_by_label("Verfasser:in hat mindestens so viele Follower").fill("1000")
        await editor.get_by_label("Dringlichkeit anheben auf mindestens").fill("150")
        await editor.get_by_label("An Team leiten").select_option(label="PR")
        await editor.get_by_label("Labels hinzufügen").fill("Rückruf, Krise")
        assert await editor.get_by_label("Eskalationsrichtlinie starten").is_disabled()
        await editor.get_by_text("Vorfall eröffnen", exact=True).click()
        await editor.get_by_label("Schweregrad").select_option("critical")
        await editor.get_by_label("Eskalationsrichtlinie starten").select_option(
            label="Krisenkette"
        )
        await screenshot(page, "admin-rule-editor", lang="de", element=editor)
        await editor.locator("button[type=submit]").click()
        # The server refuses an urgency of 150, and the form says where, in words.
        await expect(editor.locator(".editor__errors")).to_contain_text(
            "Dringlichkeit anheben · Dringlichkeit: darf höchstens 100 sein"
        )
        await editor.get_by_label("Dringlichkeit anheben auf mindestens").fill("90")
        await editor.locator("button[type=submit]").click()
        row = page.locator(".admin .table tr", has_text="Rückruf-Welle")
        await row.wait_for()
        assert "Vorfall (Kritisch)" in await row.inner_text()
        assert "Sicherheit ≥ 80 % oder Rechtlich ≥ 70 %" in await row.inner_text()

        # The JSON view shows what the form built; editing works in the form.
        await row.get_by_role("button", name="Rückruf-Welle bearbeiten").click()
        editor = page.locator("form.editor")
        await expect(editor.get_by_label("Name", exact=True)).to_have_value("Rückruf-Welle")
        await expect(editor.get_by_label("Schwelle für Sicherheit in Prozent")).to_have_value("80")
        await editor.get_by_role("button", name="JSON (erweitert)").click()
        shown = json.loads(await editor.locator("textarea").input_value())
        assert shown["actions"][-1]["type"] == "start_policy"
        await editor.get_by_role("button", name="Formular").click()
        await editor.get_by_label("Name", exact=True).fill("Rückruf-Welle (Presse)")
        await editor.locator("button[type=submit]").click()
        await page.wait_for_selector(".admin .table th:has-text('Rückruf-Welle (Presse)')")

    headers = bearer(people["admin"].token)
    client = site.server.client
    rotations = (await client.get("/api/v1/oncall-rotations", headers=headers)).json()["items"]
    rotation = next(r for r in rotations if r["name"] == "PR-Woche")
    assert rotation["participant_ids"] == [people["pr"].id, people["pr2"].id]
    assert rotation["shift_s"] == 7 * 86400
    policies = (await client.get("/api/v1/escalation-policies", headers=headers)).json()["items"]
    policy = next(p for p in policies if p["name"] == "Krisenkette")
    assert [(lv["delay_s"], lv["rotation_ids"], lv["user_ids"]) for lv in policy["levels"]] == [
        (300, [rotation["id"]], []),
        (600, [], [people["admin"].id]),
    ]
    assert policy["repeat_count"] == 2 and policy["ack_timeout_s"] == 3600
    rules = (await client.get("/api/v1/escalation-rules", headers=headers)).json()["items"]
    rule = next(r for r in rules if r["name"] == "Rückruf-Welle (Presse)")
    assert rule["conditions"] == {
        "all": [
            {"field": "urgency", "op": "gte", "value": 60},
            {
                "any": [
                    {"field": "category.safety", "op": "gte", "value": 0.8},
                    {"field": "category.legal", "op": "gte", "value": 0.7},
                ]
            },
            {"field": "platform", "op": "in", "value": ["facebook"]},
            {"field": "language", "op": "in", "value": ["de", "en"]},
            {"field": "text", "op": "contains_any", "value": ["Rückruf", "Anwalt"]},
            {"field": "author.followers", "op": "gte", "value": 1000},
        ]
    }
    teams = (await client.get("/api/v1/teams", headers=headers)).json()["items"]
    pr_team = next(tm["id"] for tm in teams if tm["name"] == "PR")
    actions = {a["type"]: a for a in rule["actions"]}
    assert actions["set_priority"]["urgency"] == 90
    assert actions["route_team"]["team_id"] == pr_team
    assert actions["add_labels"]["labels"] == ["Rückruf", "Krise"]
    assert actions["open_incident"]["severity"] == "critical"
    assert actions["start_policy"]["policy_id"] == policy["id"]
