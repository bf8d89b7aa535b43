"""Dialect-aware SQL helpers shared by the domains (both SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_*`` on the session's dialect."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def dialect_name(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def insert_ignore_returning_id(
    session: AsyncSession,
    table: sa.Table,
    values: dict[str, Any],
    *,
    conflict_columns: Sequence[str],
) -> int | None:
    """Insert a row unless one with the same unique key exists; the new id, or None."""
    statement = (
        insert_for(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(table.c.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()
