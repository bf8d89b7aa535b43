"""What the inbox filters read per conversation, kept in step by ingest (the search
document) and the worker (the categories), and backfilled by migration 0004; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

import inbox.ingest
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.migrate import alembic_config, upgrade_async
from inbox.channels import ChannelInfo
from inbox.ingest import store_delivery
from inbox.models import Conversation, ConversationCategory, Message
from inbox.normalize import Action, Direction, Kind, NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from inbox.queries import InboxFilter, Visibility, list_conversations
from tests.conftest import PG_ADMIN_DSN, Running, unavailable
from tests.helpers import add_channel

EVERYTHING = Visibility(everything=True)


@dataclass(frozen=True)
class _Result:
    categories: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "urgency": 50,
            "categories": self.categories,
            "reasons": [],
            "sentiment": "neutral",
            "language": "de",
            "model_version": "fake",
        }


class FakeTriager:
    """Categories by keyword: what the text says decides, so an edit can change them."""

    def score(self, inputs: list[Any]) -> list[_Result]:
        return [
            _Result(
                {
                    "safety": 0.9 if "krankenhaus" in i.text.lower() else 0.1,
                    "question": 0.7 if "?" in i.text else 0.2,
                    "praise": 0.5 if "danke" in i.text.lower() else 0.49,
                }
            )
            for i in inputs
        ]


async def _channel(running: Running) -> ChannelInfo:
    channel = await add_channel(running.services, "facebook", secret="s")
    return ChannelInfo(channel.id, channel.platform, None, ChannelCredentials(None, None))


async def _store(running: Running, channel: ChannelInfo, *messages: NormalizedMessage) -> Any:
    async with unit_of_work(running.services.sessionmaker) as session:
        return await store_delivery(session, channel=channel, messages=messages)


def _message(
    external_id: str,
    text: str,
    *,
    thread: str = "t-a",
    action: Action = Action.create,
    direction: Direction = Direction.inbound,
) -> NormalizedMessage:
    return NormalizedMessage(
        external_id=external_id,
        thread_key=thread,
        kind=Kind.comment,
        text=text,
        action=action,
        direction=direction,
    )


async def _found(running: Running, **filters: Any) -> set[str]:
    async with running.services.sessionmaker() as session:
        items, _ = await list_conversations(
            session, visibility=EVERYTHING, filters=InboxFilter(**filters), limit=200
        )
    return {item.thread_key for item in items}


async def test_search_follows_what_arrives_is_edited_and_removed(running: Running) -> None:
    channel = await _channel(running)
    await _store(
        running,
        channel,
        _message("a1", "Meine Lieferung ist kaputt"),
        _message("a2", "Bitte um Erstattung"),
        _message("b1", "Hallo zusammen", thread="t-b"),
    )
    await _store(running, channel, _message("a3", "Wir kümmern uns", direction=Direction.outbound))
    # every word must match, anywhere in the conversation's inbound messages
    assert await _found(running, q="lieferung erstattung") == {"t-a"}
    assert await _found(running, q="lieferung hallo") == set()
    assert await _found(running, q="kümmern") == set()  # our replies are not searched
    # a later message is appended to the document
    await _store(running, channel, _message("b2", "Wo bleibt mein Paket?", thread="t-b"))
    assert await _found(running, q="hallo paket") == {"t-b"}

    await _store(running, channel, _message("a1", "Paket angekommen", action=Action.edit))
    assert await _found(running, q="lieferung") == set()
    assert await _found(running, q="paket") == {"t-a", "t-b"}
    await _store(running, channel, _message("a2", "", action=Action.delete))
    assert await _found(running, q="erstattung") == set()
    # an edit or removal of content never seen arrives as new content
    await _store(running, channel, _message("c1", "Neuer Text", thread="t-c", action=Action.edit))
    await _store(running, channel, _message("d1", "Entfernt", thread="t-d", action=Action.delete))
    assert await _found(running, q="neuer") == {"t-c"}
    assert await _found(running, q="entfernt") == set()


async def test_a_long_thread_is_found_by_what_it_says_lately(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL keeps one document per conversation, rebuilt from the latest messages when
    it would grow too long; SQLite indexes every message (a row each, nothing to rebuild)."""
    monkeypatch.setattr(inbox.ingest, "SEARCH_DOC_CHARS", 400)
    monkeypatch.setattr(inbox.ingest, "SEARCH_KEEP_CHARS", 200)
    channel = await _channel(running)
    await _store(running, channel, _message("m0", "Zuerst ein Kinderwagen"))
    for batch in range(10):
        await _store(
            running,
            channel,
            *(
                _message(f"m{batch}-{i}", f"Nachricht nummer{batch}x{i} " + "bla " * 8)
                for i in range(3)
            ),
        )
    assert await _found(running, q="nummer9x2") == {"t-a"}
    assert await _found(running, q="nummer0x0 nummer9x2") == (
        set() if _postgresql(running) else {"t-a"}
    )
    async with running.services.sessionmaker() as session:
        chars = (await session.execute(sa.select(Conversation.search_chars))).scalar_one()
    if _postgresql(running):
        assert await _found(running, q="kinderwagen") == set()  # fell out of the document
        assert 0 < chars <= 400
    else:
        assert await _found(running, q="kinderwagen") == {"t-a"}
        assert chars == 0


def _postgresql(running: Running) -> bool:
    return str(running.services.sessionmaker.kw["bind"].url).startswith("postgresql")


async def _categories(running: Running) -> dict[str, set[str]]:
    async with running.services.sessionmaker() as session:
        rows = await session.execute(
            sa.select(Conversation.thread_key, ConversationCategory.category).join(
                ConversationCategory,
                ConversationCategory.conversation_id == Conversation.id,  # type: ignore[arg-type]
            )
        )
        found: dict[str, set[str]] = {}
        for thread, category in rows:
            found.setdefault(thread, set()).add(category)
        return found


async def _process(running: Running, result: Any) -> None:
    processor = running.services.processor
    processor.triager = FakeTriager()
    await processor.process(result.to_process)


async def test_categories_follow_triage_edits_and_removals(running: Running) -> None:
    channel = await _channel(running)
    stored = await _store(
        running,
        channel,
        _message("a1", "Mein Sohn ist im Krankenhaus"),
        _message("a2", "Wann kommt das Paket?"),
        _message("b1", "Danke, alles gut", thread="t-b"),
    )
    await _process(running, stored)
    assert await _categories(running) == {"t-a": {"safety", "question"}, "t-b": {"praise"}}
    assert await _found(running, category="safety") == {"t-a"}
    assert await _found(running, category="praise") == {"t-b"}
    assert await _found(running, category="toxic") == set()

    # re-triaged after an edit: what the message no longer says goes
    edited = await _store(running, channel, _message("a1", "Alles wieder gut", action=Action.edit))
    await _process(running, edited)
    assert await _categories(running) == {"t-a": {"question"}, "t-b": {"praise"}}
    # a removed message no longer gives its conversation categories
    await _store(running, channel, _message("a2", "", action=Action.delete))
    assert await _categories(running) == {"t-b": {"praise"}}
    assert await _found(running, category="question") == set()


# --- the migration ------------------------------------------------------------------------

BEFORE = ("0003", "0003r", "0003w")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"leitstand_test_migration_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _seed_before_0004(url: str) -> None:
    """Rows the way 0003 left them: messages with triage, nothing per conversation."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO channel (id, platform, name, is_active, created_at) "
                    "VALUES ('ch', 'facebook', 'fb', true, :at)"
                ),
                {"at": "2026-11-20 09:00:00"},
            )
            for cid, thread in ((1, "t-a"), (2, "t-b")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO conversation (id, channel_id, platform, thread_key, kind, "
                        "status, urgency, message_count, waiting_since, last_message_at, "
                        "created_at, updated_at) VALUES (:id, 'ch', 'facebook', :thread, "
                        "'comment', 'open', 10, 2, :at, :at, :at, :at)"
                    ),
                    {"id": cid, "thread": thread, "at": "2026-11-20 09:00:00"},
                )
            messages = [
                # id, conversation, direction, text, triage categories, deleted
                (1, 1, "inbound", "Meine Lieferung ist kaputt", {"complaint": 0.8}, False),
                (2, 1, "outbound", "Wir kümmern uns", None, False),
                (3, 1, "inbound", "Gelöschter Kinderwagen", {"safety": 0.9}, True),
                (4, 2, "inbound", "Danke für die Hilfe", {"praise": 0.5, "spam": 0.1}, False),
            ]
            for mid, cid, direction, text, categories, deleted in messages:
                triage = None if categories is None else {"categories": categories}
                await conn.execute(
                    sa.insert(Message.__table__).values(  # type: ignore[attr-defined]
                        id=mid,
                        channel_id="ch",
                        conversation_id=cid,
                        external_id=f"m{mid}",
                        direction=direction,
                        kind="comment",
                        text=text,
                        attachments=[],
                        context={},
                        raw={},
                        received_at=sa.func.current_timestamp(),
                        deleted_at=sa.func.current_timestamp() if deleted else None,
                        triage=triage,
                    )
                )
    finally:
        await engine.dispose()


async def _state(url: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(categories by thread, threads found by each search word)"""
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            rows = await session.execute(
                sa.text(
                    "SELECT c.thread_key, cc.category FROM conversation_category cc "
                    "JOIN conversation c ON c.id = cc.conversation_id"
                )
            )
            categories: dict[str, set[str]] = {}
            for thread, category in rows:
                categories.setdefault(thread, set()).add(category)
            found: dict[str, set[str]] = {}
            for word in ("lieferung", "kümmern", "kinderwagen", "hilfe"):
                items, _ = await list_conversations(
                    session, visibility=EVERYTHING, filters=InboxFilter(q=word)
                )
                found[word] = {item.thread_key for item in items}
        return categories, found
    finally:
        await engine.dispose()


async def test_0004_backfills_search_and_categories_and_downgrades(empty_database: str) -> None:
    url = empty_database
    for head in BEFORE:
        await upgrade_async(url, head)
    await _seed_before_0004(url)
    await upgrade_async(url)
    categories, found = await _state(url)
    assert categories == {"t-a": {"complaint"}, "t-b": {"praise"}}
    assert found == {
        "lieferung": {"t-a"},
        "kümmern": set(),  # our replies are not searched
        "kinderwagen": set(),  # removed messages are not searched
        "hilfe": {"t-b"},
    }
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0003")
    await upgrade_async(url)
    assert await _state(url) == (categories, found)
