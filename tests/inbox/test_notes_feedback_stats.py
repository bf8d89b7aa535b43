"""Internal notes, triage corrections, the category filter and the overview's figures,
through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.db import unit_of_work, utcnow
from inbox.ingest import reindex_conversations
from inbox.models import Conversation, Message
from inbox.notes import triage_corrections
from people.models import Role
from tests.conftest import Running
from tests.helpers import add_channel, add_user, bearer
from tests.web.seed import _message, triage


async def _conversation(
    running: Running,
    channel: Any,
    *,
    urgency: int,
    categories: dict[str, float],
    minutes_ago: int = 5,
    team_id: int | None = None,
    status: str = "open",
) -> tuple[int, int]:
    at = utcnow() - timedelta(minutes=minutes_ago)
    async with unit_of_work(running.services.sessionmaker) as session:
        conversation_id = (
            await session.execute(
                sa.insert(Conversation.__table__)  # type: ignore[attr-defined]
                .values(
                    channel_id=channel.id,
                    platform=channel.platform,
                    thread_key=f"t-{urgency}-{minutes_ago}-{status}",
                    kind="comment",
                    status=status,
                    urgency=urgency,
                    team_id=team_id,
                    message_count=1,
                    waiting_since=at,
                    last_message_at=at,
                    created_at=at,
                    updated_at=at,
                )
                .returning(Conversation.__table__.c.id)  # type: ignore[attr-defined]
            )
        ).scalar_one()
        message_id = (
            await session.execute(
                sa.insert(Message.__table__)  # type: ignore[attr-defined]
                .values(
                    **_message(
                        channel.id,
                        conversation_id,
                        None,
                        f"m-{conversation_id}",
                        "comment",
                        f"Nachricht {conversation_id}",
                        "de",
                        at,
                        triage(urgency, categories, ["reason"]),
                    )
                )
                .returning(Message.__table__.c.id)  # type: ignore[attr-defined]
            )
        ).scalar_one()
        await reindex_conversations(session, {conversation_id})  # as ingest and the worker
    return int(conversation_id), int(message_id)


async def test_notes_are_kept_in_order_and_visible_to_who_sees_the_conversation(
    running: Running,
) -> None:
    _, agent = await add_user(running.services, "a@example.com", Role.agent, teams=["Social"])
    _, outsider = await add_user(running.services, "o@example.com", Role.agent, teams=["Other"])
    channel = await add_channel(running.services, "facebook", secret="s")
    async with running.services.sessionmaker() as session:
        other_team = (
            await session.execute(sa.text("SELECT id FROM team WHERE name = 'Social'"))
        ).scalar_one()
    conversation_id, _ = await _conversation(
        running, channel, urgency=40, categories={}, team_id=other_team
    )
    client = running.client
    for text in ("Erste Notiz", "Zweite Notiz"):
        response = await client.post(
            f"/api/v1/conversations/{conversation_id}/notes",
            json={"text": text},
            headers=bearer(agent),
        )
        assert response.status_code == 201
        assert response.json()["author_name"] == "a"
    listed = await client.get(
        f"/api/v1/conversations/{conversation_id}/notes", headers=bearer(agent)
    )
    assert [n["text"] for n in listed.json()["items"]] == ["Erste Notiz", "Zweite Notiz"]

    hidden = await client.get(
        f"/api/v1/conversations/{conversation_id}/notes", headers=bearer(outsider)
    )
    assert hidden.status_code == 404
    refused = await client.post(
        f"/api/v1/conversations/{conversation_id}/notes",
        json={"text": "x"},
        headers=bearer(outsider),
    )
    assert refused.status_code == 404
    empty = await client.post(
        f"/api/v1/conversations/{conversation_id}/notes", json={"text": ""}, headers=bearer(agent)
    )
    assert empty.status_code == 422


async def test_triage_corrections_are_stored_and_feed_training(running: Running) -> None:
    _, agent = await add_user(running.services, "a@example.com", Role.agent)
    channel = await add_channel(running.services, "facebook", secret="s")
    conversation_id, message_id = await _conversation(
        running, channel, urgency=80, categories={"safety": 0.9}
    )
    client = running.client
    url = f"/api/v1/messages/{message_id}/triage-feedback"
    first = await client.post(url, json={"urgency": 10}, headers=bearer(agent))
    assert first.status_code == 201 and first.json()["urgency"] == 10
    second = await client.post(
        url, json={"categories": ["question", "complaint"]}, headers=bearer(agent)
    )
    assert second.json()["categories"] == ["complaint", "question"]
    for bad in ({}, {"urgency": 101}, {"categories": ["nonsense"]}, {"urgency": 5, "x": 1}):
        refused = await client.post(url, json=bad, headers=bearer(agent))
        assert refused.status_code == 422, bad
    missing = await client.post(
        "/api/v1/messages/999999/triage-feedback", json={"urgency": 1}, headers=bearer(agent)
    )
    assert missing.status_code == 404

    listed = await client.get(
        f"/api/v1/conversations/{conversation_id}/triage-feedback", headers=bearer(agent)
    )
    assert [(f["urgency"], f["categories"]) for f in listed.json()["items"]] == [
        (10, None),
        (None, ["complaint", "question"]),
    ]
    async with running.services.sessionmaker() as session:
        corrections = await triage_corrections(session)
    assert corrections == [
        {"text": f"Nachricht {conversation_id}", "categories": ["complaint", "question"]}
    ]


async def test_the_inbox_filters_by_category(running: Running) -> None:
    _, agent = await add_user(running.services, "a@example.com", Role.agent)
    channel = await add_channel(running.services, "facebook", secret="s")
    safety, _ = await _conversation(running, channel, urgency=90, categories={"safety": 0.9})
    question, _ = await _conversation(
        running, channel, urgency=10, categories={"question": 0.8}, minutes_ago=7
    )
    client = running.client
    found = await client.get(
        "/api/v1/conversations", params={"category": "safety"}, headers=bearer(agent)
    )
    assert [c["id"] for c in found.json()["items"]] == [safety]
    top = found.json()["items"][0]["top_message"]
    assert top["urgency"] == 90 and top["categories"]["safety"] == 0.9
    found = await client.get(
        "/api/v1/conversations", params={"category": "question"}, headers=bearer(agent)
    )
    assert [c["id"] for c in found.json()["items"]] == [question]
    refused = await client.get(
        "/api/v1/conversations", params={"category": "drop table"}, headers=bearer(agent)
    )
    assert refused.status_code == 422


async def test_the_overview_counts_volume_urgency_and_unanswered_critical(
    running: Running,
) -> None:
    _, agent = await add_user(running.services, "a@example.com", Role.agent)
    facebook = await add_channel(running.services, "facebook", secret="s")
    instagram = await add_channel(running.services, "instagram", secret="s")
    await _conversation(running, facebook, urgency=90, categories={"safety": 0.9})
    await _conversation(running, facebook, urgency=30, categories={}, minutes_ago=125)
    await _conversation(running, instagram, urgency=50, categories={}, minutes_ago=60 * 30)
    await _conversation(
        running, instagram, urgency=85, categories={}, minutes_ago=10, status="resolved"
    )
    client = running.client
    day = (
        await client.get("/api/v1/stats/overview", params={"range": "24h"}, headers=bearer(agent))
    ).json()
    assert day["bucket"] == "hour" and len(day["buckets"]) == 24
    by_channel = {c["id"]: c for c in day["channels"]}
    assert by_channel[facebook.id]["total"] == 2
    assert by_channel[facebook.id]["max_urgency_total"] == 90
    assert by_channel[facebook.id]["avg_urgency_total"] == 60.0
    assert sum(by_channel[facebook.id]["messages"]) == 2
    assert by_channel[instagram.id]["total"] == 1  # the 30-hour-old one is outside
    assert day["totals"] == {"messages": 3, "critical": 2, "avg_urgency": 68.3, "max_urgency": 90}
    assert day["unanswered_critical"]["total"] == 1  # the resolved one does not count
    assert day["unanswered_critical"]["items"][0]["urgency"] == 90
    assert day["open_incidents"]["total"] == 0

    week = (
        await client.get(
            "/api/v1/stats/overview",
            params={"range": "7d", "tz": "Europe/Berlin"},
            headers=bearer(agent),
        )
    ).json()
    assert week["bucket"] == "day" and len(week["buckets"]) == 7
    assert week["totals"]["messages"] == 4
    assert sum(c["total"] for c in week["channels"]) == 4
    bad = await client.get(
        "/api/v1/stats/overview", params={"tz": "Mars/Olympus"}, headers=bearer(agent)
    )
    assert bad.status_code == 422
    assert (await client.get("/api/v1/stats/overview")).status_code == 401
