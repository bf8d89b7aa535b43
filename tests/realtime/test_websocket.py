"""The websocket: authentication, per-team visibility, order, reconnect with a cursor,
and fan-out across two server processes through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from app.db import unit_of_work
from inbox.models import Conversation
from people.models import Role
from tests.conftest import live_server, make_settings
from tests.helpers import add_channel, add_user, bearer, standard_headers

REPO = Path(__file__).resolve().parents[2]


def generic(msg_id: str, text: str, thread: str) -> bytes:
    return json.dumps(
        {
            "type": "message.created",
            "timestamp": "2026-11-23T08:00:00Z",
            "data": {
                "id": msg_id,
                "text": text,
                "author": {"id": f"a-{thread}", "name": "Kundin"},
                "thread_id": thread,
                "created_at": "2026-11-23T08:00:00Z",
            },
        }
    ).encode()


async def receive_until(ws: Any, predicate: Any, *, timeout_s: float = 10.0) -> list[dict]:
    """Everything received (heartbeats left out) until ``predicate`` holds for a message."""
    got: list[dict] = []
    async with asyncio.timeout(timeout_s):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "heartbeat":
                continue
            got.append(message)
            if predicate(message):
                return got


async def quiet(ws: Any, seconds: float = 0.5) -> list[dict]:
    got = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "heartbeat":
                    got.append(message)
    except TimeoutError:
        return got


async def test_the_websocket_needs_a_valid_token(sqlite_url: str) -> None:
    async with live_server(make_settings(sqlite_url)) as server:
        for url in (server.ws_url, f"{server.ws_url}?token=lst_forged"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(url):
                    pass
            assert refused.value.response.status_code == 403


async def test_two_teams_each_see_exactly_their_events_in_order(database_url: str) -> None:
    """Care and sales each have a channel; their traffic is interleaved. Each agent gets
    exactly their own team's events (created, then triaged, per message; created in the
    order posted) and none of the other's; PR gets both teams' in the order posted."""
    async with live_server(make_settings(database_url)) as server:
        services = server.services
        channels = {
            team: await add_channel(services, "standard-webhooks") for team in ("care", "sales")
        }
        _, care_token = await add_user(services, "care@example.com", Role.agent, teams=["care"])
        _, sales_token = await add_user(services, "sales@example.com", Role.agent, teams=["sales"])
        _, pr_token = await add_user(services, "pr@example.com", Role.pr)
        async with unit_of_work(services.sessionmaker) as session:
            team_ids = dict((await session.execute(sa.text("SELECT name, id FROM team"))).all())
            for team, channel in channels.items():
                await session.execute(
                    sa.text("UPDATE channel SET team_id = :t WHERE id = :c"),
                    {"t": team_ids[team], "c": channel.id},
                )
        for channel in channels.values():
            services.channels.invalidate(channel.id)

        async with (
            websockets.connect(f"{server.ws_url}?token={care_token}") as care_ws,
            websockets.connect(f"{server.ws_url}?token={sales_token}") as sales_ws,
            websockets.connect(f"{server.ws_url}?token={pr_token}") as pr_ws,
        ):
            hellos = [json.loads(await ws.recv()) for ws in (care_ws, sales_ws, pr_ws)]
            assert [h["type"] for h in hellos] == ["hello"] * 3
            assert [h["user"]["email"] for h in hellos] == [
                "care@example.com",
                "sales@example.com",
                "pr@example.com",
            ]
            posted: list[str] = []
            for i in range(3):
                for team, channel in channels.items():
                    text = f"{team} Frage Nummer {i}"
                    body = generic(f"{team}-{i}", text, thread=f"{team}-t-{i}")
                    response = await server.client.post(
                        f"/webhooks/{channel.id}",
                        content=body,
                        headers=standard_headers(channel.secret, body, msg_id=f"{team}-{i}"),
                    )
                    assert response.status_code == 200
                    posted.append(text)

            def triaged(count: int) -> Any:
                seen: set[str] = set()

                def check(m: dict) -> bool:
                    if m["type"] == "message.triaged":
                        seen.add(m["data"]["excerpt"])
                    return len(seen) == count

                return check

            # PR first: once PR has every event, every client has been offered all of them.
            expected = {
                pr_ws: posted,
                care_ws: [t for t in posted if t.startswith("care ")],
                sales_ws: [t for t in posted if t.startswith("sales ")],
            }
            for ws in (pr_ws, care_ws, sales_ws):
                got = await receive_until(ws, triaged(len(expected[ws])))
                got += await quiet(ws)  # nothing else arrives afterwards
                excerpts = [m["data"]["excerpt"] for m in got]
                assert sorted(set(excerpts)) == sorted(expected[ws])  # none of the other team's
                created = [m["data"]["excerpt"] for m in got if m["type"] == "message.created"]
                assert created == expected[ws]
                for excerpt in expected[ws]:
                    kinds = [m["type"] for m in got if m["data"]["excerpt"] == excerpt]
                    assert kinds == ["message.created", "message.triaged"], (excerpt, kinds)
                ids = [m["id"] for m in got]
                assert len(ids) == len(set(ids))


async def test_reconnect_with_a_cursor_gets_what_was_missed(database_url: str) -> None:
    async with live_server(make_settings(database_url)) as server:
        services = server.services
        channel = await add_channel(services, "standard-webhooks")
        _, token = await add_user(services, "pr@example.com", Role.pr)
        async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
            cursor = json.loads(await ws.recv())["cursor"]
        # Offline: two messages arrive, one conversation changes.
        for i in range(2):
            body = generic(f"m-{i}", f"offline {i}", thread="t")
            await server.client.post(
                f"/webhooks/{channel.id}",
                content=body,
                headers=standard_headers(channel.secret, body, msg_id=f"x{i}"),
            )
        async with services.sessionmaker() as session:
            conversation_id = (await session.execute(sa.select(Conversation.id))).scalar_one()
        patched = await server.client.patch(
            f"/api/v1/conversations/{conversation_id}",
            json={"status": "pending"},
            headers=bearer(token),
        )
        assert patched.status_code == 200

        async with websockets.connect(f"{server.ws_url}?token={token}&cursor={cursor}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            got = await receive_until(ws, lambda m: m["type"] == "conversation.updated")
            created = [m["data"]["excerpt"] for m in got if m["type"] == "message.created"]
            assert created == ["offline 0", "offline 1"]
            assert got[-1]["data"]["status"] == "pending"
            ids = [m["id"] for m in got]
            assert ids == sorted(ids) and min(ids) > cursor

        # A cursor from before the log's retained events asks for a resync.
        async with services.sessionmaker() as session, session.begin():
            await session.execute(sa.text("DELETE FROM event WHERE id < :keep"), {"keep": max(ids)})
        async with websockets.connect(f"{server.ws_url}?token={token}&cursor={cursor}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            assert json.loads(await ws.recv())["type"] == "resync"


async def test_heartbeats_arrive_when_nothing_happens(sqlite_url: str) -> None:
    async with live_server(make_settings(sqlite_url, ws_heartbeat_s=0.2)) as server:
        _, token = await add_user(server.services, "pr@example.com", Role.pr)
        async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            async with asyncio.timeout(2):
                assert json.loads(await ws.recv())["type"] == "heartbeat"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_event_crosses_server_processes_through_redis(
    pg_database: str, redis_url: str
) -> None:
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    settings = make_settings(pg_database, redis_url=redis_url)
    env = os.environ | {
        "LEITSTAND_DATABASE_URL": pg_database,
        "LEITSTAND_REDIS_URL": redis_url,
        "LEITSTAND_TRIAGE_ENABLED": "false",
        "LEITSTAND_QUEUE_STREAM_PREFIX": settings.queue_stream_prefix,
        "LEITSTAND_LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            for port in ports:
                for _ in range(200):
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail(f"server on {port} did not start")
            from app.services import Services

            services = Services.build(settings)
            channel = await add_channel(services, "standard-webhooks")
            _, token = await add_user(services, "pr@example.com", Role.pr)
            await services.close()

            a, b = ports
            async with websockets.connect(f"ws://127.0.0.1:{a}/ws?token={token}") as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                body = generic("cross-1", "über Prozessgrenzen", thread="t")
                posted = await client.post(
                    f"http://127.0.0.1:{b}/webhooks/{channel.id}",
                    content=body,
                    headers=standard_headers(channel.secret, body),
                )
                assert posted.status_code == 200
                got = await receive_until(ws, lambda m: m["type"] == "message.created")
                assert got[-1]["data"]["excerpt"] == "über Prozessgrenzen"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
