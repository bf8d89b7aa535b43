"""Batches of new content are written without a session (``app.sql.RawTransactions``):
committed or rolled back as a whole, events and jobs only after the commit; PostgreSQL
writes two batches at a time, but never beside a batch with edits or removals."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import psycopg
import pytest
import sqlalchemy as sa

import inbox.writer
from app.db import utcnow
from app.sql import RawConnection, json_text
from inbox.channels import ChannelInfo
from inbox.ingest import Delivery, IngestResult, store_new_deliveries
from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from realtime.events import RawEvents
from tests.conftest import make_settings, serve
from tests.helpers import add_channel, count_rows

TABLES = ("message", "conversation", "author", "event")


def message(external_id: str, action: Action = Action.create) -> NormalizedMessage:
    return NormalizedMessage(
        external_id=external_id,
        thread_key="t-1",
        kind=Kind.comment,
        action=action,
        text=f"Hallo {external_id} – ü",
        author=NormalizedAuthor(platform_id="a-1", display_name="Erika"),
        raw={"id": external_id, "n": 2**70, "ok": True},
    )


class Published:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)


async def test_a_batch_commits_then_publishes_and_enqueues(database_url: str) -> None:
    async with serve(make_settings(database_url), run_worker=False) as r:
        row = await add_channel(r.services, "facebook", secret="s")
        channel = ChannelInfo(row.id, row.platform, None, ChannelCredentials("s", None))
        writer = r.services.ingest
        assert writer._lanes[0] is not None  # the raw path
        assert len(writer._lanes) == (2 if database_url.startswith("postgresql") else 1)
        published = Published()
        writer._publisher = published
        results = await writer._write(
            [
                Delivery(channel, [message("m-1"), message("m-2")], "cid-1"),
                Delivery(channel, [message("m-1")], "cid-2"),  # the same content again
            ],
            writer._lanes[0],
        )
        assert [(len(x.created), x.duplicates) for x in results] == [(2, 0), (0, 1)]
        assert await count_rows(r.services, *TABLES) == {
            "message": 2,
            "conversation": 1,
            "author": 1,
            "event": 2,
        }
        assert [e["type"] for e in published.events] == ["message.created"] * 2
        assert [e["data"]["message_id"] for e in published.events] == sorted(results[0].created)
        assert await r.services.queue.pending_count() == 2
        async with r.services.sessionmaker() as session:
            raw, cid = (
                await session.execute(sa.text("SELECT raw, correlation_id FROM message LIMIT 1"))
            ).one()
        raw = json.loads(raw) if isinstance(raw, str) else raw  # JSON text on SQLite
        assert raw == {"id": "m-1", "n": 2**70, "ok": True} and cid == "cid-1"


async def test_a_failing_batch_leaves_nothing_and_the_next_one_is_stored(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(make_settings(database_url), run_worker=False) as r:
        row = await add_channel(r.services, "facebook", secret="s")
        channel = ChannelInfo(row.id, row.platform, None, ChannelCredentials("s", None))
        writer = r.services.ingest
        published = Published()
        writer._publisher = published
        store = inbox.writer.store_new_deliveries

        def written_then_broken(
            db: RawConnection, deliveries: Any, *, created_event: str
        ) -> tuple[list[IngestResult], RawEvents]:
            store(db, deliveries, created_event=created_event)  # rows written ...
            raise RuntimeError("disk on fire")  # ... and then the batch fails

        monkeypatch.setattr(inbox.writer, "store_new_deliveries", written_then_broken)
        with pytest.raises(RuntimeError, match="disk on fire"):
            await writer._write([Delivery(channel, [message("m-1")], None)], writer._lanes[0])
        assert await count_rows(r.services, *TABLES) == dict.fromkeys(TABLES, 0)
        assert published.events == [] and await r.services.queue.pending_count() == 0
        lane = writer._lanes[0]
        assert lane._pooled is None and lane._postgres is None  # not used again

        monkeypatch.setattr(inbox.writer, "store_new_deliveries", store)
        result = await writer.store(Delivery(channel, [message("m-1")], None))
        assert len(result.created) == 1 and len(published.events) == 1


async def test_a_batch_with_edits_waits_for_batches_being_written(database_url: str) -> None:
    async with serve(make_settings(database_url), run_worker=False) as r:
        writer = r.services.ingest
        order: list[str] = []
        release = asyncio.Event()

        async def slow_create() -> None:
            async with writer._gate.shared():
                order.append("create started")
                await release.wait()
                order.append("create done")

        async def edit() -> None:
            async with writer._gate.exclusive():
                order.append("edit")

        creating = asyncio.create_task(slow_create())
        await asyncio.sleep(0.01)
        editing = asyncio.create_task(edit())
        await asyncio.sleep(0.01)
        late_create = asyncio.create_task(slow_create())  # held back behind the edit
        await asyncio.sleep(0.01)
        assert order == ["create started"]
        release.set()
        await asyncio.gather(creating, editing, late_create)
        assert order == ["create started", "create done", "edit", "create started", "create done"]


async def test_an_edit_waits_for_the_batch_of_its_original_through_the_writer(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The original's batch is held inside its raw transaction (uncommitted) while the edit
    arrives: on PostgreSQL the other lane takes the edit, and only the gate keeps it from
    running beside the batch (it would then not see the original, wait for its row and
    count the edit as a repeat)."""
    async with serve(make_settings(database_url), run_worker=False) as r:
        row = await add_channel(r.services, "facebook", secret="s")
        channel = ChannelInfo(row.id, row.platform, None, ChannelCredentials("s", None))
        writer = r.services.ingest
        assert writer._tasks  # the writer loops run
        inside, release = threading.Event(), threading.Event()
        store = inbox.writer.store_new_deliveries

        def held(
            db: RawConnection, deliveries: Any, *, created_event: str
        ) -> tuple[list[IngestResult], RawEvents]:
            out = store(db, deliveries, created_event=created_event)
            inside.set()
            release.wait(10)
            return out

        monkeypatch.setattr(inbox.writer, "store_new_deliveries", held)
        try:
            created = asyncio.create_task(writer.store(Delivery(channel, [message("m-1")], None)))
            assert await asyncio.to_thread(inside.wait, 10)
            edited_message = NormalizedMessage(
                external_id="m-1",
                thread_key="t-1",
                kind=Kind.comment,
                action=Action.edit,
                text="neu",
            )
            edited = asyncio.create_task(writer.store(Delivery(channel, [edited_message], None)))
            await asyncio.sleep(0.3)
            assert not created.done() and not edited.done()
        finally:
            release.set()
        (message_id,) = (await created).created
        assert (await edited).updated == [message_id]
        async with r.services.sessionmaker() as session:
            text = (
                await session.execute(
                    sa.text("SELECT text FROM message WHERE id = :id"), {"id": message_id}
                )
            ).scalar_one()
        assert text == "neu"


async def test_edits_in_a_batch_go_through_a_session(sqlite_url: str) -> None:
    async with serve(make_settings(sqlite_url), run_worker=False) as r:
        row = await add_channel(r.services, "facebook", secret="s")
        channel = ChannelInfo(row.id, row.platform, None, ChannelCredentials("s", None))
        writer = r.services.ingest
        (created,) = await writer._write([Delivery(channel, [message("m-1")], None)], None)
        edit = replace(message("m-1", Action.edit), text="neu")
        (edited,) = await writer._write([Delivery(channel, [edit], None)], writer._lanes[0])
        assert edited.updated == created.created and len(created.created) == 1
        async with r.services.sessionmaker() as session:
            text = (await session.execute(sa.text("SELECT text FROM message"))).scalar_one()
        assert text == "neu"


class Recording:
    """A PostgreSQL ``RawConnection`` that keeps the rows each statement was given."""

    dialect = "postgresql"

    def __init__(self) -> None:
        self.inserted: list[tuple[str, list[Sequence[Any]]]] = []
        self.next_id = 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, returning: bool
    ) -> list[tuple[Any, ...]]:
        if sql.startswith("SELECT id, channel_id, thread_key"):  # find_conversations
            keys = list(zip(params[::2], params[1::2], strict=True))
            return [(self._id(), channel_id, thread_key, 0) for channel_id, thread_key in keys]
        return []

    def execute_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        return []

    def insert_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        table = sql.split()[2]
        self.inserted.append((table, list(rows)))
        if table == "author" or table == "message":  # RETURNING id and the unique key
            return [(self._id(), row[0], row[1] if table == "author" else row[2]) for row in rows]
        return []

    @staticmethod
    def timestamp(value: Any) -> Any:
        return value


def test_postgres_inserts_every_table_in_its_unique_key_order() -> None:
    """Two lanes write batches side by side: rows of the same keys must be locked in the same
    order by both (lane A [m1, m2] against lane B [m2, m1] deadlocks)."""
    channels = [
        ChannelInfo(cid, "facebook", None, ChannelCredentials("s", None)) for cid in ("c-b", "c-a")
    ]
    messages = [
        NormalizedMessage(
            external_id=f"m-{i}",
            thread_key=f"t-{i % 3}",
            kind=Kind.comment,
            text=f"text {i}",
            author=NormalizedAuthor(platform_id=f"a-{i % 4}"),
        )
        for i in range(12)
    ]
    random.Random(7).shuffle(messages)
    deliveries = [Delivery(channels[i % 2], [m], None) for i, m in enumerate(messages)]
    db = Recording()
    store_new_deliveries(cast(RawConnection, db), deliveries, created_event="message.created")
    tables = {table: rows for table, rows in db.inserted}
    assert list(tables) == ["author", "conversation", "message"]
    author_keys = [(row[0], row[1]) for row in tables["author"]]
    conversation_keys = [(row[0], row[2]) for row in tables["conversation"]]
    message_keys = [(row[0], row[2]) for row in tables["message"]]
    assert len(message_keys) == 12 and len(conversation_keys) == 6 and len(author_keys) == 4
    for keys in (author_keys, conversation_keys, message_keys):
        assert keys == sorted(keys)


async def test_a_deadlocked_batch_is_retried_whole_once(database_url: str) -> None:
    async with serve(make_settings(database_url), run_worker=False) as r:
        writer = r.services.ingest
        calls: list[int] = []
        error: Exception = psycopg.errors.DeadlockDetected("deadlock detected")

        async def conflicted_once(deliveries: Any, raw: Any) -> list[IngestResult]:
            calls.append(len(deliveries))
            if len(calls) == 1:
                raise error
            return [IngestResult() for _ in deliveries]

        writer._write = conflicted_once  # type: ignore[method-assign]
        assert len(await writer._write_retrying([cast(Delivery, None)] * 3, None)) == 3
        assert calls == [3, 3]  # the whole batch again, not one by one

        calls.clear()  # a serialization failure, wrapped by SQLAlchemy (a session's batch)
        error = sa.exc.OperationalError("UPDATE ...", None, psycopg.errors.SerializationFailure())
        assert len(await writer._write_retrying([cast(Delivery, None)] * 2, None)) == 2
        assert calls == [2, 2]

        calls.clear()  # only once
        error = psycopg.errors.DeadlockDetected("deadlock detected")

        async def always_conflicted(deliveries: Any, raw: Any) -> list[IngestResult]:
            calls.append(len(deliveries))
            raise error

        writer._write = always_conflicted  # type: ignore[method-assign]
        with pytest.raises(psycopg.errors.DeadlockDetected):
            await writer._write_retrying([cast(Delivery, None)] * 2, None)
        assert calls == [2, 2]

        calls.clear()  # anything else is not retried whole
        error = RuntimeError("disk on fire")
        with pytest.raises(RuntimeError):
            await writer._write_retrying([cast(Delivery, None)] * 2, None)
        assert calls == [2]


async def test_statements_return_rows_when_asked_whatever_their_text(database_url: str) -> None:
    """The caller says whether a statement returns rows (no guessing from its SQL text)."""
    async with serve(make_settings(database_url), run_worker=False) as r:
        lane = r.services.ingest._lanes[0]
        assert lane is not None

        def asked(db: RawConnection) -> list[Any]:
            return [
                db.execute("WITH x AS (SELECT 1 AS n) SELECT n + 1 FROM x", returning=True),
                db.execute(
                    "INSERT INTO author (platform, platform_id, first_seen_at, updated_at)\n"
                    "VALUES ('facebook', 'a-9', ?, ?)\nRETURNING platform_id",
                    [db.timestamp(utcnow())] * 2,
                    returning=True,
                ),
                db.execute(
                    "UPDATE author SET handle = 'h' WHERE platform_id = ?", ["a-9"], returning=False
                ),
            ]

        assert await lane.run(asked) == [[(2,)], [("a-9",)], []]


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True], "b": {"c": "ü\x00\u2028"}},
        [],
        {"big": 2**70, "neg": -(2**70)},
        {"surrogate": "\udc80"},
        {1: "int key"},
        "plain",
        1e16,
    ],
)
def test_json_text_is_the_document_json_dumps_writes(value: Any) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))
