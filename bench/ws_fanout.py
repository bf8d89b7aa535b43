"""Websocket fan-out: 1,000 connected clients, one event, time until each client has it.

A real `leitstand` server (uvicorn, one process, SQLite, in-process pub/sub, no model) and
1,000 websocket clients in a second process on 127.0.0.1. Each round posts one signed
webhook (a new message) and measures, per client, the time from just before the POST to
the arrival of its `message.created` event: ingest, commit, fan-out and delivery. A client
whose event has not come within `--timeout` counts with the time waited (a lower bound) and
the figures are reported as not met, rather than the run ending without its JSON lines.

    .venv/bin/python bench/ws_fanout.py [--clients 1000] [--rounds 5] [--timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, log, percentile, start_uvicorn


def signed(secret: str, body: bytes, msg_id: str) -> dict[str, str]:
    ts = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


async def setup(db_url: str) -> tuple[str, str, str]:
    from app.db import make_engine, make_sessionmaker, unit_of_work
    from app.migrate import upgrade_async
    from inbox.channels import create_channel
    from people.models import Role, TokenKind
    from people.service import create_user, issue_token

    await upgrade_async(db_url)
    engine = make_engine(db_url)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        user = await create_user(
            session, email="pr@bench.local", password="bench-password-1", role=Role.pr
        )
        token, _ = await issue_token(session, user=user, kind=TokenKind.api)
        channel = await create_channel(session, platform="standard-webhooks", name="bench")
    await engine.dispose()
    assert channel.secret is not None
    return token, channel.id, channel.secret


async def run(args: argparse.Namespace) -> None:
    import httpx
    import websockets

    tmp = Path(tempfile.mkdtemp(prefix="leitstand-fanout-"))
    db_url = f"sqlite+aiosqlite:///{tmp / 'fanout.db'}"
    token, channel_id, secret = await setup(db_url)
    server = start_uvicorn(
        "leitstand",
        "app.main:create_app",
        factory=True,
        env={
            "LEITSTAND_DATABASE_URL": db_url,
            "LEITSTAND_TRIAGE_ENABLED": "false",
            "LEITSTAND_LOG_LEVEL": "WARNING",
        },
        log_dir=tmp,
    )
    ws_url = f"ws://127.0.0.1:{server.port}/ws?token={token}"
    try:
        log(f"connecting {args.clients} clients")
        connections = []
        for start in range(0, args.clients, 100):
            batch = await asyncio.gather(
                *(
                    websockets.connect(ws_url, max_queue=None, ping_interval=None)
                    for _ in range(start, min(start + 100, args.clients))
                )
            )
            for ws in batch:
                assert json.loads(await ws.recv())["type"] == "hello"
            connections += batch
        log(f"{len(connections)} connected")

        samples: list[float] = []
        missed = 0
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            for round_no in range(args.rounds):
                marker = f"fanout-{round_no}"
                body = json.dumps(
                    {
                        "type": "message.created",
                        "timestamp": "2026-11-23T08:00:00Z",
                        "data": {
                            "id": marker,
                            "text": marker,
                            "author": {"id": "bench", "name": "Bench"},
                            "created_at": "2026-11-23T08:00:00Z",
                        },
                    }
                ).encode()

                async def wait_for_marker(ws: object, marker: str = marker) -> float:
                    while True:
                        event = json.loads(await ws.recv())  # type: ignore[attr-defined]
                        if (
                            event.get("type") == "message.created"
                            and event["data"]["excerpt"] == marker
                        ):
                            return time.perf_counter()

                waiters = [asyncio.create_task(wait_for_marker(ws)) for ws in connections]
                await asyncio.sleep(0.2)
                sent_at = time.perf_counter()
                response = await client.post(
                    f"/webhooks/{channel_id}", content=body, headers=signed(secret, body, marker)
                )
                assert response.status_code == 200, response.text
                done, pending = await asyncio.wait(waiters, timeout=args.timeout)
                gave_up_at = time.perf_counter()
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                # A missing event (late, or its connection failed) counts with the time
                # waited for it, a lower bound.
                got = [t in done and not t.cancelled() and t.exception() is None for t in waiters]
                arrivals = [
                    t.result() if ok else gave_up_at for t, ok in zip(waiters, got, strict=True)
                ]
                round_ms = [(t - sent_at) * 1000 for t in arrivals]
                samples += round_ms
                lost = got.count(False)
                missed += lost
                log(
                    f"round {round_no}: p50 {percentile(round_ms, 50):.1f} ms, "
                    f"p99 {percentile(round_ms, 99):.1f} ms, max {max(round_ms):.1f} ms"
                    + (f"; {lost} clients had nothing after {args.timeout} s" if lost else "")
                )
                await asyncio.sleep(0.5)
        for ws in connections:
            await ws.close()
    finally:
        server.stop()

    p99 = percentile(samples, 99)
    all_in = missed == 0
    figure(
        "ws_fanout_clients",
        len(connections),
        "clients",
        bar="1,000 connected clients",
        met=len(connections) >= 1000,
    )
    figure("ws_fanout_p50_ms", percentile(samples, 50), "ms", bar="informational", met=True)
    figure(
        "ws_fanout_p99_ms",
        p99,
        "ms",
        bar="1,000 connected clients all receive an event, p99 < 200 ms",
        met=p99 < 200 and len(connections) >= 1000 and all_in,
    )
    figure(
        "ws_fanout_missed",
        missed,
        "deliveries",
        bar=f"every client receives every event within {args.timeout:g} s",
        met=all_in,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="s to wait for a round")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
