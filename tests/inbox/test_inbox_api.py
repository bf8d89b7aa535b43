"""The inbox list, a thread and a message through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.db import unit_of_work
from inbox.channels import ChannelInfo
from inbox.ingest import store_delivery
from inbox.models import Conversation
from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from people.models import Role
from tests.conftest import Running
from tests.helpers import add_channel, add_user, bearer

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def seed(running: Running) -> dict[str, int]:
    """Five conversations with known urgencies, languages, teams and texts."""
    ids, _ = await seed_with_channels(running)
    return ids


# Minutes since each thread's last activity (``sort=newest``): an order unlike the urgency
# order, with a tie (t-low, t-mid-old) that the conversation id breaks, highest first.
LAST_ACTIVE_MINUTES = {"t-low": 3, "t-crit": 30, "t-mid-old": 3, "t-mid-new": 20, "t-zero": 60}
URGENCY_ORDER = ("t-crit", "t-mid-old", "t-mid-new", "t-low", "t-zero")
NEWEST_ORDER = ("t-mid-old", "t-low", "t-mid-new", "t-crit", "t-zero")


async def seed_with_channels(running: Running) -> tuple[dict[str, int], dict[str, str]]:
    """``seed``, and the channel ids by name (``fb``: t-low and t-crit, ``mail``: the rest)."""
    services = running.services
    fb = await add_channel(services, "facebook", secret="s")
    mail = await add_channel(services, "standard-webhooks")
    rows = [
        # thread, channel, urgency, language, text, minutes waiting
        ("t-low", fb, 10, "en", "Love the new flavour", 50),
        ("t-crit", fb, 95, "de", "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht", 5),
        ("t-mid-old", mail, 60, "de", "Meine Lieferung ist seit Tagen verspätet", 40),
        ("t-mid-new", mail, 60, "en", "Where is my parcel, order 4711?", 10),
        ("t-zero", mail, 0, "en", "hello", 1),
    ]
    ids: dict[str, int] = {}
    async with unit_of_work(services.sessionmaker) as session:
        for thread, channel, urgency, language, text, minutes in rows:
            info = ChannelInfo(
                id=channel.id,
                platform=channel.platform,
                team_id=None,
                credentials=ChannelCredentials(None, None),
            )
            await store_delivery(
                session,
                channel=info,
                messages=[
                    NormalizedMessage(
                        external_id=f"{thread}-m1",
                        thread_key=thread,
                        kind=Kind.comment,
                        text=text,
                        language=language,
                        author=NormalizedAuthor(platform_id=f"u-{thread}", display_name=thread),
                    )
                ],
            )
            await session.execute(
                sa.update(Conversation)
                .where(Conversation.thread_key == thread)
                .values(
                    urgency=urgency,
                    waiting_since=T0 - timedelta(minutes=minutes),
                    last_message_at=T0 - timedelta(minutes=LAST_ACTIVE_MINUTES[thread]),
                )
            )
            ids[thread] = (
                await session.execute(
                    sa.select(Conversation.id).where(Conversation.thread_key == thread)
                )
            ).scalar_one()
    return ids, {"fb": fb.id, "mail": mail.id}


async def test_list_sorted_by_urgency_then_waiting_time(running: Running) -> None:
    ids = await seed(running)
    _, token = await add_user(running.services, "pr@example.com", Role.pr)
    response = await running.client.get("/api/v1/conversations", headers=bearer(token))
    assert response.status_code == 200
    order = [item["id"] for item in response.json()["items"]]
    assert order == [ids[t] for t in URGENCY_ORDER]
    assert response.json()["next_cursor"] is None


async def test_newest_first_is_most_recent_activity_then_id(running: Running) -> None:
    ids = await seed(running)
    _, token = await add_user(running.services, "pr@example.com", Role.pr)
    response = await running.client.get(
        "/api/v1/conversations", params={"sort": "newest"}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [ids[t] for t in NEWEST_ORDER]


async def test_cursor_pages_through_everything_once(running: Running) -> None:
    ids = await seed(running)
    _, token = await add_user(running.services, "pr@example.com", Role.pr)
    for sort, expected in (("urgency", URGENCY_ORDER), ("newest", NEWEST_ORDER)):
        seen: list[int] = []
        cursor = None
        while True:
            params = {"limit": 2, "sort": sort} | ({"cursor": cursor} if cursor else {})
            page = (
                await running.client.get(
                    "/api/v1/conversations", params=params, headers=bearer(token)
                )
            ).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        # Every conversation once, and the pages joined are the documented order.
        assert seen == [ids[t] for t in expected], sort


async def test_filters(running: Running) -> None:
    ids = await seed(running)
    _, token = await add_user(running.services, "pr@example.com", Role.pr)

    async def listed(**params: object) -> set[int]:
        response = await running.client.get(
            "/api/v1/conversations", params=params, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await listed(min_urgency=60) == {ids["t-crit"], ids["t-mid-old"], ids["t-mid-new"]}
    assert await listed(language="de") == {ids["t-crit"], ids["t-mid-old"]}
    assert await listed(platform="facebook") == {ids["t-low"], ids["t-crit"]}
    assert await listed(q="krankenhaus") == {ids["t-crit"]}
    assert await listed(q="Lieferung verspätet") == {ids["t-mid-old"]}
    assert await listed(q="parcel") == {ids["t-mid-new"]}
    assert await listed(q="nothing-matches-this") == set()
    assert await listed(status="resolved") == set()
    assert len(await listed(status="open")) == 5

    patched = await running.client.patch(
        f"/api/v1/conversations/{ids['t-low']}",
        json={"labels": ["lob", "produkt"], "status": "resolved"},
        headers=bearer(token),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["labels"] == ["lob", "produkt"]
    assert await listed(label="lob") == {ids["t-low"]}
    assert await listed(status="resolved") == {ids["t-low"]}


async def test_channel_assignee_unassigned_and_team_filters(running: Running) -> None:
    ids, channels = await seed_with_channels(running)
    services = running.services
    pr_id, token = await add_user(services, "pr@example.com", Role.pr)
    agent_id, _ = await add_user(services, "agent@example.com", Role.agent, teams=["care"])
    await add_user(services, "other@example.com", Role.agent, teams=["sales"])
    async with services.sessionmaker() as session:
        team_ids = dict((await session.execute(sa.text("SELECT name, id FROM team"))).all())

    async def listed(**params: object) -> list[int]:
        response = await running.client.get(
            "/api/v1/conversations", params=params, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    async def patch(thread: str, **body: object) -> None:
        response = await running.client.patch(
            f"/api/v1/conversations/{ids[thread]}", json=body, headers=bearer(token)
        )
        assert response.status_code == 200, response.text

    def threads(*names: str) -> list[int]:
        return [ids[t] for t in names]

    assert await listed(channel_id=channels["fb"]) == threads("t-crit", "t-low")
    assert await listed(channel_id=channels["mail"]) == threads("t-mid-old", "t-mid-new", "t-zero")
    assert await listed(channel_id="ch_doesnotexist") == []

    await patch("t-mid-new", assignee_id=agent_id)
    await patch("t-zero", assignee_id=pr_id)
    await patch("t-crit", team_id=team_ids["sales"])
    await patch("t-low", team_id=team_ids["care"], assignee_id=agent_id)

    assert await listed(assignee_id=agent_id) == threads("t-mid-new", "t-low")
    assert await listed(assignee_id=pr_id) == threads("t-zero")
    assert await listed(unassigned=True) == threads("t-crit", "t-mid-old")
    assert await listed(unassigned=False) == threads(*URGENCY_ORDER)
    assert await listed(team_id=team_ids["sales"]) == threads("t-crit")
    assert await listed(team_id=team_ids["care"]) == threads("t-low")
    # Filters combine (AND), with each other and with the others.
    assert await listed(team_id=team_ids["care"], unassigned=True) == []
    assert await listed(channel_id=channels["mail"], unassigned=True) == threads("t-mid-old")
    assert await listed(channel_id=channels["fb"], assignee_id=agent_id) == threads("t-low")
    assert await listed(assignee_id=agent_id, sort="newest") == threads("t-low", "t-mid-new")


async def test_bad_filters_are_422(running: Running) -> None:
    _, token = await add_user(running.services, "pr@example.com", Role.pr)
    for params in ({"min_urgency": 101}, {"status": "closed"}, {"cursor": "garbage"}, {"limit": 0}):
        response = await running.client.get(
            "/api/v1/conversations", params=params, headers=bearer(token)
        )
        assert response.status_code == 422, params


async def test_search_input_cannot_break_the_query(running: Running) -> None:
    await seed(running)
    _, token = await add_user(running.services, "pr@example.com", Role.pr)
    for q in ('"', "NEAR(", "a OR", "*", "'; drop table message; --", "ä ö ü"):
        response = await running.client.get(
            "/api/v1/conversations", params={"q": q}, headers=bearer(token)
        )
        assert response.status_code in (200, 422), (q, response.text)


async def test_agents_see_their_teams_and_unrouted_conversations(running: Running) -> None:
    ids = await seed(running)
    services = running.services
    _, agent = await add_user(services, "agent@example.com", Role.agent, teams=["care"])
    _, other = await add_user(services, "other@example.com", Role.agent, teams=["sales"])
    async with unit_of_work(services.sessionmaker) as session:
        team_ids = dict((await session.execute(sa.text("SELECT name, id FROM team"))).all())
        await session.execute(
            sa.update(Conversation)
            .where(Conversation.id == ids["t-crit"])
            .values(team_id=team_ids["sales"])
        )
    mine = await running.client.get("/api/v1/conversations", headers=bearer(agent))
    assert ids["t-crit"] not in {i["id"] for i in mine.json()["items"]}
    assert len(mine.json()["items"]) == 4
    hidden = await running.client.get(
        f"/api/v1/conversations/{ids['t-crit']}", headers=bearer(agent)
    )
    assert hidden.status_code == 404
    theirs = await running.client.get(
        f"/api/v1/conversations/{ids['t-crit']}", headers=bearer(other)
    )
    assert theirs.status_code == 200


async def test_conversation_detail_and_message(running: Running) -> None:
    ids = await seed(running)
    _, token = await add_user(running.services, "pr@example.com", Role.pr)
    detail = await running.client.get(
        f"/api/v1/conversations/{ids['t-crit']}", headers=bearer(token)
    )
    assert detail.status_code == 200
    body = detail.json()
    assert body["urgency"] == 95 and body["platform"] == "facebook"
    (message,) = body["messages"]
    assert set(message) >= {"id", "text", "direction", "kind", "author", "created_at", "triage"}
    assert message["author"]["display_name"] == "t-crit"
    single = await running.client.get(f"/api/v1/messages/{message['id']}", headers=bearer(token))
    assert single.status_code == 200 and single.json()["text"].startswith("Euer Babybrei")
    missing = await running.client.get("/api/v1/messages/999999", headers=bearer(token))
    assert missing.status_code == 404
