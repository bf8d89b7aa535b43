"""Deliveries through the real HTTP endpoint into rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa

from inbox.models import Author, Conversation, Message
from tests.conftest import Running, wait_for
from tests.helpers import add_channel, count_rows, meta_headers, standard_headers

TABLES = ("message", "conversation", "author")


def generic_body(msg_id: str, text: str, *, thread: str = "t-1", followers: int = 48_000) -> bytes:
    return json.dumps(
        {
            "type": "message.created",
            "timestamp": "2026-11-23T08:00:00Z",
            "data": {
                "id": msg_id,
                "text": text,
                "author": {
                    "id": "a-1",
                    "name": "Erika Muster",
                    "handle": "erika",
                    "followers": followers,
                },
                "thread_id": thread,
                "created_at": "2026-11-23T07:59:58Z",
            },
        }
    ).encode()


async def test_generic_delivery_is_stored_once_and_processed(running: Running) -> None:
    services = running.services
    channel = await add_channel(services, "standard-webhooks")
    body = generic_body("m-1", "Wo bleibt meine Bestellung?")
    headers = standard_headers(channel.secret, body, msg_id="msg_a")

    first = await running.client.post(f"/webhooks/{channel.id}", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1
    again = await running.client.post(f"/webhooks/{channel.id}", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == {"created": 0, "updated": 0, "deleted": 0, "duplicates": 1}
    assert await count_rows(services, *TABLES) == {"message": 1, "conversation": 1, "author": 1}

    async def processed() -> bool:
        async with services.sessionmaker() as session:
            return (await session.execute(sa.select(Message.processed_at))).scalar_one() is not None

    await wait_for(processed)
    async with services.sessionmaker() as session:
        message = (await session.execute(sa.select(Message))).scalar_one()
        author = (await session.execute(sa.select(Author))).scalar_one()
        conversation = (await session.execute(sa.select(Conversation))).scalar_one()
    assert message.text == "Wo bleibt meine Bestellung?"
    assert message.external_id == "m-1"
    assert message.kind == "comment"
    assert message.platform_created_at is not None
    assert message.platform_created_at.isoformat() == "2026-11-23T07:59:58+00:00"
    assert author.reach_followers == 48_000 and author.handle == "erika"
    assert conversation.thread_key == "t-1" and conversation.message_count == 1


async def test_edit_updates_and_delete_marks(running: Running) -> None:
    services = running.services
    channel = await add_channel(services, "standard-webhooks")
    created = generic_body("m-1", "first words")
    await running.client.post(
        f"/webhooks/{channel.id}",
        content=created,
        headers=standard_headers(channel.secret, created),
    )
    edited = json.loads(generic_body("m-1", "second words"))
    edited["type"] = "message.updated"
    body = json.dumps(edited).encode()
    response = await running.client.post(
        f"/webhooks/{channel.id}",
        content=body,
        headers=standard_headers(channel.secret, body, msg_id="msg_2"),
    )
    assert response.json()["updated"] == 1
    deleted = dict(edited, type="message.deleted")
    body = json.dumps(deleted).encode()
    response = await running.client.post(
        f"/webhooks/{channel.id}",
        content=body,
        headers=standard_headers(channel.secret, body, msg_id="msg_3"),
    )
    assert response.json()["deleted"] == 1
    async with services.sessionmaker() as session:
        message = (await session.execute(sa.select(Message))).scalar_one()
    assert message.text == "second words"
    assert message.edited_at is not None and message.deleted_at is not None
    assert await count_rows(services, "message") == {"message": 1}


async def test_meta_batch_stores_every_message(running: Running) -> None:
    services = running.services
    channel = await add_channel(services, "facebook", secret="app-secret", verify_token="vt")
    changes = [
        {
            "field": "feed",
            "value": {
                "item": "comment",
                "verb": "add",
                "comment_id": f"post_{i}",
                "post_id": "page_post",
                "parent_id": "page_post",
                "from": {"id": f"user{i % 7}", "name": f"User {i % 7}"},
                "created_time": 1_700_000_000 + i,
                "message": f"Kommentar Nummer {i}",
            },
        }
        for i in range(50)
    ]
    body = json.dumps(
        {"object": "page", "entry": [{"id": "page", "time": 1_700_000_100, "changes": changes}]}
    ).encode()
    response = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers("app-secret", body)
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 50
    retry = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers("app-secret", body)
    )
    assert retry.json()["duplicates"] == 50
    assert await count_rows(services, *TABLES) == {"message": 50, "conversation": 1, "author": 7}


async def test_nul_characters_and_overlong_values_are_stored_safely(running: Running) -> None:
    services = running.services
    channel = await add_channel(services, "facebook", secret="s")
    long_id = "9" * 500
    value = {
        "item": "comment",
        "verb": "add",
        "comment_id": long_id,
        "post_id": "p\u0000ost",
        "parent_id": "p\u0000ost",
        "from": {"id": "1", "name": "N" * 1000},
        "created_time": 1_700_000_000,
        "message": "null\u0000byte",
    }
    body = json.dumps(
        {
            "object": "page",
            "entry": [{"id": "page", "time": 1, "changes": [{"field": "feed", "value": value}]}],
        }
    ).encode()
    response = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers("s", body)
    )
    assert response.status_code == 200, response.text
    again = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers("s", body)
    )
    assert again.json()["duplicates"] == 1
    async with services.sessionmaker() as session:
        message = (await session.execute(sa.select(Message))).scalar_one()
        author = (await session.execute(sa.select(Author))).scalar_one()
    assert message.text == "nullbyte"
    assert message.external_id.startswith("sha256:") and len(message.external_id) < 300
    assert len(author.display_name or "") == 300
