"""Dialect-aware SQL helpers shared by the domains (both SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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


async def claim_leases(
    session: AsyncSession,
    table: sa.Table,
    *,
    due: Sequence[sa.ColumnElement[bool]],
    order_by: Sequence[sa.ColumnElement[Any]],
    limit: int,
    owner: str,
    now: datetime,
    lease_s: float,
    returning: Sequence[sa.ColumnElement[Any]],
) -> list[sa.Row[Any]]:
    """Lease up to ``limit`` due rows to ``owner`` and return them.

    The table needs ``lease_owner``, ``lease_until`` and ``attempts`` columns. A row whose
    lease has run out (its holder died) is due again. PostgreSQL skips rows another claimer
    has locked; SQLite's single writer makes the UPDATE atomic by itself.
    """
    c = table.c
    candidates = (
        sa.select(c.id)
        .where(*due, sa.or_(c.lease_until.is_(None), c.lease_until < now))
        .order_by(*order_by)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = await session.execute(
        sa.update(table)
        .where(c.id.in_(candidates.scalar_subquery()))
        .values(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=c.attempts + 1,
        )
        .returning(*returning)
    )
    return list(rows)
