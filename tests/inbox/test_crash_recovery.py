"""A worker killed in the middle of processing: after a restart the message is processed once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import make_engine
from tests.conftest import make_settings, serve
from tests.helpers import add_channel, standard_headers

REPO = Path(__file__).resolve().parents[2]


def start_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.slow_worker"],
        cwd=REPO,
        env=os.environ | env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def wait_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, "the worker exited early"
        if line.startswith(prefix):
            return line


async def effects_and_processed(url: str) -> tuple[list[int], int]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        effects = [r for (r,) in await conn.execute(sa.text("SELECT message_id FROM test_effect"))]
        processed = (
            await conn.execute(
                sa.text("SELECT count(*) FROM message WHERE processed_at IS NOT NULL")
            )
        ).scalar_one()
    await engine.dispose()
    return effects, processed


@pytest.mark.parametrize("backend", ["redis", "in-process"])
async def test_worker_killed_mid_processing_processes_once_after_restart(
    database_url: str, backend: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE IF EXISTS test_effect"))
        await conn.execute(sa.text("CREATE TABLE test_effect (message_id INTEGER NOT NULL)"))
    await engine.dispose()

    settings = make_settings(
        database_url,
        redis_url=redis_url,
        queue_visibility_timeout_s=1.0,
        sweeper_grace_s=0.5,
        sweeper_interval_s=0.3,
    )
    env: dict[str, Any] = {
        "LEITSTAND_DATABASE_URL": database_url,
        "LEITSTAND_REDIS_URL": redis_url or "",
        "LEITSTAND_TRIAGE_ENABLED": "false",
        "LEITSTAND_QUEUE_STREAM_PREFIX": settings.queue_stream_prefix,
        "LEITSTAND_QUEUE_VISIBILITY_TIMEOUT_S": "1.0",
        "LEITSTAND_SWEEPER_GRACE_S": "0.5",
        "LEITSTAND_SWEEPER_INTERVAL_S": "0.3",
        "LEITSTAND_WORKER_CONCURRENCY": "1",
        "LEITSTAND_LOG_LEVEL": "WARNING",
    }
    if not redis_url:
        env.pop("LEITSTAND_REDIS_URL")
    # The API side stores and enqueues; it runs no worker of its own.
    async with serve(settings, run_worker=False) as r:
        channel = await add_channel(r.services, "standard-webhooks")
        body = json.dumps(
            {
                "type": "message.created",
                "timestamp": "2026-11-23T08:00:00Z",
                "data": {
                    "id": "m-crash",
                    "text": "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht",
                    "author": {"id": "a", "name": "A"},
                    "created_at": "2026-11-23T08:00:00Z",
                },
            }
        ).encode()
        victim = start_worker(env | {"TEST_PROCESSING_SLEEP_S": "30"})
        try:
            stored = await r.client.post(
                f"/webhooks/{channel.id}",
                content=body,
                headers=standard_headers(channel.secret, body),
            )
            assert stored.status_code == 200
            # With Redis the worker gets the job; with the in-process queue (which lives in
            # the API process) the worker's sweeper finds the stored, unprocessed message.
            wait_line(victim, "processing")
            stop(victim)
        finally:
            stop(victim)

        effects, processed = await effects_and_processed(database_url)
        assert effects == [] and processed == 0, "the killed transaction must not have landed"

        survivor = start_worker(env | {"TEST_PROCESSING_SLEEP_S": "0"})
        try:
            wait_line(survivor, "processing")
            # Long enough for a duplicate delivery, if there were one, to show up too.
            await asyncio.sleep(2.5)
            effects, processed = await effects_and_processed(database_url)
        finally:
            stop(survivor, signal.SIGTERM)
        assert processed == 1
        assert len(effects) == 1, f"processed {len(effects)} times"
