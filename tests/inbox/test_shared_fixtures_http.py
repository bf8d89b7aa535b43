"""Every Meta and Standard Webhooks fixture in ../shared/webhooks, signed and posted through
the real endpoint, becomes the expected rows; posting it again adds nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from inbox.models import Author, Conversation, Message
from inbox.normalize import Action
from tests.conftest import Running
from tests.fixtures_shared import shared_path
from tests.helpers import add_channel, count_rows, meta_headers, standard_headers
from tests.inbox.platforms.test_meta import SHARED_META_CASES, the_fragment, wrap_fragment

SECRET = "app-secret-for-fixtures"
TABLES = ("message", "conversation", "author")


async def stored(running: Running) -> list[dict[str, Any]]:
    async with running.services.sessionmaker() as session:
        rows = await session.execute(
            sa.select(Message, Conversation, Author)
            .join(Conversation, Conversation.id == Message.conversation_id)  # type: ignore[arg-type]
            .outerjoin(Author, Author.id == Message.author_id)  # type: ignore[arg-type]
            .order_by(Message.id)  # type: ignore[arg-type]
        )
        return [
            {
                "external_id": m.external_id,
                "thread_key": c.thread_key,
                "kind": m.kind,
                "direction": m.direction,
                "text": m.text,
                "author": (a.platform_id, a.handle, a.display_name) if a else None,
                "created_at": m.platform_created_at,
                "parent": m.parent_external_id,
                "deleted": m.deleted_at is not None,
                "edited": m.edited_at is not None,
            }
            for m, c, a in rows
        ]


@pytest.mark.parametrize("fixture", sorted(SHARED_META_CASES))
async def test_meta_fixture_through_the_endpoint(running: Running, fixture: str) -> None:
    platform, _ = fixture.split("/")
    path = shared_path("webhooks", *fixture.split("/"))
    body = path.read_bytes()
    _, expected = SHARED_META_CASES[fixture]
    if SHARED_META_CASES[fixture][0] is the_fragment:
        body = json.dumps(wrap_fragment(json.loads(body))).encode()
    channel = await add_channel(running.services, platform, secret=SECRET)

    response = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers(SECRET, body)
    )
    assert response.status_code == 200, response.text
    rows = await stored(running)
    assert rows == [
        {
            "external_id": m.external_id,
            "thread_key": m.thread_key,
            "kind": m.kind.value,
            "direction": m.direction.value,
            "text": m.text,
            "author": (m.author.platform_id, m.author.handle, m.author.display_name)
            if m.author
            else None,
            "created_at": m.platform_created_at,
            "parent": m.parent_external_id,
            "deleted": m.action is Action.delete,
            "edited": m.action is Action.edit,
        }
        for m in expected
    ]
    before = await count_rows(running.services, *TABLES)
    again = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers(SECRET, body)
    )
    assert again.status_code == 200
    assert again.json()["created"] == 0
    assert await count_rows(running.services, *TABLES) == before


async def test_whatsapp_escaped_emoji_verifies_over_the_raw_bytes(running: Running) -> None:
    body = shared_path("webhooks", "whatsapp", "message_reaction_emoji_escaped.json").read_bytes()
    assert b"\\ud83d" in body
    channel = await add_channel(running.services, "whatsapp", secret=SECRET)
    ok = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers(SECRET, body)
    )
    assert ok.status_code == 200
    reencoded = json.dumps(json.loads(body), ensure_ascii=False).encode()
    forged = await running.client.post(
        f"/webhooks/{channel.id}", content=body, headers=meta_headers(SECRET, reencoded)
    )
    assert forged.status_code == 403


async def test_standard_webhooks_test_vector(running: Running) -> None:
    vector = json.loads(
        shared_path("webhooks", "standard-webhooks", "test_vector.json").read_text()
    )
    channel = await add_channel(running.services, "standard-webhooks", secret=vector["secret"])
    body = vector["payload"].encode()
    headers = standard_headers(
        vector["secret"], body, msg_id=vector["msg_id"], timestamp=vector["timestamp"]
    )
    assert headers["webhook-signature"] == vector["expected_signature_header"]
    # The vector's timestamp is from 2021: outside the tolerance today, so refused...
    stale = await running.client.post(f"/webhooks/{channel.id}", content=body, headers=headers)
    assert stale.status_code == 403
    # ...and accepted when the timestamp is current (its body is not a message: stores nothing).
    fresh = await running.client.post(
        f"/webhooks/{channel.id}",
        content=body,
        headers=standard_headers(vector["secret"], body, msg_id=vector["msg_id"]),
    )
    assert fresh.status_code == 200
    assert await count_rows(running.services, *TABLES) == dict.fromkeys(TABLES, 0)
