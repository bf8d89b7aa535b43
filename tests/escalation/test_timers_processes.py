"""Durable timers with real scheduler processes, on SQLite and PostgreSQL: two processes
fire each timer exactly once, and a scheduler killed in the middle of firing leaves the timer
to another one, which fires it once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.db import unit_of_work
from escalation.incidents import open_incident
from escalation.models import Severity
from escalation.policies import create_policy, start_policy
from escalation.schemas import PolicyCreate
from people.models import Role
from tests.conftest import Running, make_settings, serve
from tests.escalation.support import add_user, notified_levels, rows, scalar

REPO = Path(__file__).resolve().parents[2]


def spawn_scheduler(database_url: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.escalation.scheduler_proc"],
        cwd=REPO,
        env=os.environ
        | {
            "LEITSTAND_DATABASE_URL": database_url,
            "LEITSTAND_TRIAGE_ENABLED": "false",
            "LEITSTAND_LOG_LEVEL": "ERROR",
            "LEITSTAND_ESCALATION_TICK_S": "0.1",
        }
        | env,
        stdout=subprocess.PIPE,
        text=True,
    )


async def ready(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "ready"


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def prepare(app: Running, incidents: int, *, first_delay_s: int) -> list[int]:
    """Incidents whose policy escalates to level 2 after ``first_delay_s``."""
    admin_id, _ = await add_user(app.services, "admin@example.com", Role.admin)
    pr_id, _ = await add_user(app.services, "pr@example.com", Role.pr)
    runtime = app.services.escalation
    ids = []
    async with unit_of_work(app.services.sessionmaker) as session:
        policy_id = await create_policy(
            session,
            env=runtime,
            body=PolicyCreate.model_validate(
                {
                    "name": "two levels",
                    "levels": [
                        {"delay_s": first_delay_s, "user_ids": [pr_id]},
                        {"delay_s": 3600, "user_ids": [admin_id]},
                    ],
                }
            ),
        )
        for n in range(incidents):
            incident = await open_incident(
                session, env=runtime, title=f"incident {n}", severity=Severity.high
            )
            assert incident is not None
            await start_policy(
                session, env=runtime, incident_id=incident["id"], policy_id=policy_id
            )
            ids.append(incident["id"])
    return ids


async def level_two_counts(app: Running) -> dict[int, int]:
    counts: dict[int, int] = {}
    for incident_id, level in await notified_levels(app.services):
        if level == 2:
            counts[incident_id] = counts.get(incident_id, 0) + 1
    return counts


async def wait_until(predicate: Any, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.1)


async def test_two_scheduler_processes_fire_each_timer_exactly_once(database_url: str) -> None:
    async with serve(make_settings(database_url), run_worker=False) as app:
        # Small batches, so that both processes take part.
        env = {"LEITSTAND_ESCALATION_TIMER_BATCH": "2", "TEST_FIRE_SLEEP_S": "0.02"}
        first = spawn_scheduler(database_url, **env)
        second = spawn_scheduler(database_url, **env)
        try:
            incident_ids = await prepare(app, 24, first_delay_s=1)
            await ready(first, second)

            async def all_fired() -> bool:
                fired = await scalar(
                    app.services,
                    "SELECT count(*) FROM escalation_timer WHERE fired_at IS NOT NULL",
                )
                return bool(fired == len(incident_ids))

            await wait_until(all_fired)
            await asyncio.sleep(0.5)  # time for a duplicate, were there one
        finally:
            stop(first)
            stop(second)
        assert await level_two_counts(app) == dict.fromkeys(incident_ids, 1)
        assert await scalar(app.services, "SELECT count(*) FROM escalation_timer") == 24
        alerts = await scalar(
            app.services, "SELECT count(*) FROM event WHERE type = 'escalation.alert'"
        )
        assert alerts == 48  # level 1 at opening, level 2 once each
        owners = await scalar(
            app.services, "SELECT count(DISTINCT lease_owner) FROM escalation_timer"
        )
        if database_url.startswith("postgresql"):
            # SQLite serialises writers (one process tends to win every claim); PostgreSQL's
            # SKIP LOCKED lets both work side by side.
            assert owners == 2, "both processes fired timers"


async def test_a_scheduler_killed_mid_fire_leaves_the_timer_to_another(database_url: str) -> None:
    async with serve(make_settings(database_url), run_worker=False) as app:
        (incident_id,) = await prepare(app, 1, first_delay_s=1)
        lease = {"LEITSTAND_ESCALATION_TIMER_LEASE_S": "2"}
        victim = spawn_scheduler(database_url, TEST_FIRE_SLEEP_S="60", **lease)
        try:
            await ready(victim)
            assert victim.stdout is not None
            line = await asyncio.to_thread(victim.stdout.readline)
            assert line.startswith("firing")
            stop(victim, signal.SIGKILL)
        finally:
            stop(victim, signal.SIGKILL)
        # The killed transaction did not land: the timer is unfired, level 2 not alerted.
        assert await level_two_counts(app) == {}
        assert (
            await scalar(
                app.services, "SELECT count(*) FROM escalation_timer WHERE fired_at IS NULL"
            )
            == 1
        )

        survivor = spawn_scheduler(database_url, **lease)
        try:
            await ready(survivor)

            async def fired() -> bool:
                return bool(
                    await scalar(
                        app.services,
                        "SELECT count(*) FROM escalation_timer WHERE fired_at IS NOT NULL",
                    )
                )

            await wait_until(fired)
            await asyncio.sleep(0.5)
        finally:
            stop(survivor)
        assert await level_two_counts(app) == {incident_id: 1}
        (timer,) = await rows(app.services, "SELECT attempts FROM escalation_timer")
        assert timer["attempts"] == 2
