"""The SQLite default: write-ahead logging on every connection the service opens."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from app.migrate import upgrade
from tests.conftest import make_settings, serve


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)  # a new file, as `leitstand migrate` makes it
    async with serve(make_settings(url)) as running:
        async with running.services.sessionmaker() as session:
            mode = (await session.execute(sa.text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await session.execute(sa.text("PRAGMA foreign_keys"))).scalar_one()
        assert mode == "wal"
        assert foreign_keys == 1
        ready = await running.client.get("/readyz")
        assert ready.status_code == 200
    # WAL is a property of the file: a plain connection that sets nothing sees it too.
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
