"""Alembic, driven from code so that ``leitstand migrate`` works from any directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def _upgrade_sync(database_url: str, revision: str) -> None:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Bring the schema to ``revision``; safe to call when already there."""
    _upgrade_sync(database_url, revision)


async def upgrade_async(database_url: str, revision: str = "heads") -> None:
    # env.py runs its own event loop, so migrations run in a worker thread.
    await asyncio.to_thread(_upgrade_sync, database_url, revision)
