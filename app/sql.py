"""Dialect-aware SQL helpers shared by the domains (both SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

T = TypeVar("T")


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


def json_placeholder(dialect: str) -> str:
    """Where raw SQL takes a JSON value given as text (see :func:`json_text`)."""
    return "CAST(? AS JSONB)" if dialect == "postgresql" else "?"


_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def json_text(value: Any) -> str:
    """A JSON parameter for raw SQL: the same document SQLAlchemy's JSON type would write
    (``json.dumps``), compact. orjson (about a tenth of the time, on the ingest path for
    every message) takes what ``json.dumps`` takes; the rest (integers past 64 bits, lone
    surrogates, keys that are not strings, subclasses) goes to ``json.dumps`` itself."""
    try:
        return orjson.dumps(value, option=_ORJSON_STRICT).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


class RawConnection(Protocol):
    """The session's own database connection, in its transaction, with no SQLAlchemy in
    between: for hot paths whose per-row type processing would cost more than the database
    (``inbox.ingest``). SQL uses ``?`` placeholders and positional parameters, which must
    already be driver-native: ``timestamp`` converts times, :func:`json_text` and
    :func:`json_placeholder` carry JSON."""

    dialect: str

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, returning: bool
    ) -> list[tuple[Any, ...]]:
        """One statement; with ``returning`` (a SELECT, a RETURNING clause), its result rows,
        else nothing, unread (in PostgreSQL's pipeline mode a statement whose answer is not
        needed is not waited for). PostgreSQL plans it for these parameters (never prepared:
        a generic plan made while a table was small can stay a sequential scan)."""
        ...

    def execute_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        """One statement for each of ``rows``; with ``returning``, all their result rows."""
        ...

    def insert_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        """An ``INSERT ... VALUES (?, ...) ...`` for all ``rows`` as one multi-row statement
        (a few for very many rows). Rows with the same key must not repeat (a multi-row
        upsert would apply to its own rows); RETURNING rows come in no promised order."""
        ...

    def timestamp(self, value: datetime | None) -> Any: ...


class _SqliteConnection:
    """Runs inside aiosqlite's thread (see :func:`run_raw`)."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, returning: bool
    ) -> list[tuple[Any, ...]]:
        rows = self._connection.execute(sql, params).fetchall()  # runs it to the end
        return rows if returning else []

    def execute_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        if not returning:
            self._connection.executemany(sql, rows)
            return []
        execute = self._connection.execute
        out: list[tuple[Any, ...]] = []
        for row in rows:  # sqlite3's executemany drops RETURNING rows; a loop in C is cheap
            out.extend(execute(sql, row).fetchall())
        return out

    def insert_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        # Each sqlite3 call gives up the GIL and waits to get it back: one statement for
        # many rows, not one per row.
        out: list[tuple[Any, ...]] = []
        for statement, params in _multi_row(sql, rows):
            cursor = self._connection.execute(statement, params)
            if returning:
                out.extend(cursor.fetchall())
        return out

    @staticmethod
    def timestamp(value: datetime | None) -> str | None:
        """As SQLAlchemy's SQLite DATETIME stores it (``app.db.UTCDateTime``: naive UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


SQLITE_MAX_PARAMS = 32766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32 (PostgreSQL: 65535)
SQLITE_MAX_ROWS = 500


def _multi_row(sql: str, rows: Sequence[Sequence[Any]]) -> list[tuple[str, list[Any]]]:
    """``INSERT ... VALUES (?, ...) rest`` for ``rows`` as a few multi-row statements, each
    with its flat parameters."""
    if not rows:
        return []
    head, group, tail = _values_group(sql)
    per = max(1, min(SQLITE_MAX_ROWS, SQLITE_MAX_PARAMS // max(1, len(rows[0]))))
    return [
        (
            f"{head}{', '.join([group] * len(rows[start : start + per]))}{tail}",
            [v for row in rows[start : start + per] for v in row],
        )
        for start in range(0, len(rows), per)
    ]


# Bounded: a statement's text differs with its number of rows (multi-row statements).
@functools.lru_cache(maxsize=256)
def _values_group(sql: str) -> tuple[str, str, str]:
    """``INSERT ... VALUES (?, ...) rest`` split around its one row of values."""
    start = sql.index(" VALUES (") + len(" VALUES ")
    depth = 0
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            return sql[:start], sql[start : end + 1], sql[end + 1 :]
    raise ValueError(f"no VALUES group in {sql!r}")


def _insert_many(
    connection: RawConnection, sql: str, rows: Sequence[Sequence[Any]], returning: bool
) -> list[tuple[Any, ...]]:
    """PostgreSQL: one statement for many rows; a pipelined executemany still costs the
    server a statement per row (about 3 ms for 30 messages, against 1 ms or less)."""
    out: list[tuple[Any, ...]] = []
    for statement, params in _multi_row(sql, rows):
        out.extend(connection.execute(statement, params, returning=returning))
    return out


@functools.lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresConnection:
    """Runs in SQLAlchemy's greenlet (``run_sync``); ``execute_many`` is one pipelined round
    trip (psycopg's executemany), ``insert_many`` one multi-row statement."""

    dialect = "postgresql"

    def __init__(self, adapted: Any) -> None:
        self._adapted = adapted  # SQLAlchemy's AdaptedConnection around psycopg's

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, returning: bool
    ) -> list[tuple[Any, ...]]:
        async def run(connection: Any) -> list[tuple[Any, ...]]:
            async with connection.cursor() as cursor:
                await cursor.execute(_pg_sql(sql), params, prepare=False)
                return list(await cursor.fetchall()) if returning else []

        result: list[tuple[Any, ...]] = self._adapted.run_async(run)
        return result

    def execute_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        if not rows:
            return []

        async def run(connection: Any) -> list[tuple[Any, ...]]:
            out: list[tuple[Any, ...]] = []
            async with connection.cursor() as cursor:
                await cursor.executemany(_pg_sql(sql), rows, returning=returning)
                if returning:
                    while True:
                        out.extend(await cursor.fetchall())
                        if not cursor.nextset():
                            break
            return out

        result: list[tuple[Any, ...]] = self._adapted.run_async(run)
        return result

    def insert_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        return _insert_many(self, sql, rows, returning)

    @staticmethod
    def timestamp(value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value


async def run_raw(session: AsyncSession, fn: Callable[[RawConnection], T]) -> T:
    """Run ``fn`` on the session's connection, in its transaction, without SQLAlchemy's
    per-statement and per-row work.

    SQLite: all of ``fn`` runs in aiosqlite's thread, so a batch costs one hand-over between
    threads instead of one per statement (each of which, while the event loop is busy, waits
    for the loop and for the GIL). ``fn`` must not touch the event loop. PostgreSQL: ``fn``
    runs in SQLAlchemy's greenlet; each statement (or pipelined ``execute_many``) is one
    round trip.
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # aiosqlite.Connection
        # aiosqlite has no public "run this in your thread"; _execute is what its own
        # methods use (aiosqlite 0.22).
        return cast(T, await driver._execute(lambda: fn(_SqliteConnection(driver._conn))))
    return await connection.run_sync(
        lambda sync: fn(_PostgresConnection(sync.connection.dbapi_connection))
    )


class _PostgresSyncConnection:
    """A plain (synchronous) psycopg connection, in :class:`RawTransactions`' thread."""

    dialect = "postgresql"
    timestamp = staticmethod(_PostgresConnection.timestamp)

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, returning: bool
    ) -> list[tuple[Any, ...]]:
        with self._connection.cursor() as cursor:
            cursor.execute(_pg_sql(sql), params, prepare=False)
            # In pipeline mode a statement whose rows are not asked for is not waited for:
            # it goes to the server with the next one that is (or the commit). Asked for
            # rows a statement does not return, fetchall raises.
            return list(cursor.fetchall()) if returning else []

    def execute_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        if not rows:
            return []
        out: list[tuple[Any, ...]] = []
        with self._connection.cursor() as cursor:
            cursor.executemany(_pg_sql(sql), rows, returning=returning)
            if returning:
                while True:
                    out.extend(cursor.fetchall())
                    if not cursor.nextset():
                        break
        return out

    def insert_many(
        self, sql: str, rows: Sequence[Sequence[Any]], *, returning: bool = False
    ) -> list[tuple[Any, ...]]:
        return _insert_many(self, sql, rows, returning)


class RawTransactions:
    """Whole transactions for one hot path (``inbox.writer``) on a connection of its own, with
    no SQLAlchemy session in between: ``run(fn)`` is ``fn`` and the commit (or the rollback)
    in one hand-over to another thread, where a session costs a round trip through the event
    loop for each statement (PostgreSQL) or several hand-overs (SQLite: begin, statements,
    commit, the pool's reset), and its bookkeeping. The event loop is free meanwhile; it
    only waits for the one answer.

    - SQLite: a connection from the engine's pool, held; ``fn`` runs in aiosqlite's thread.
    - PostgreSQL: a plain psycopg connection to the engine's database (outside the pool: one
      more connection per ``RawTransactions``, so two per process with the ingest writer's
      two lanes), used by one thread of its own, in pipeline mode.
      ``synchronous_commit`` stays as the server has it: the commit is durable before
      ``run`` returns.

    The caller owns the transaction like ``app.db.unit_of_work``'s caller: what must follow
    the commit runs after ``run`` returns, and nothing does when it raises. After a failure
    the connection is not used again (a broken one would fail every later batch).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no raw transactions on {self.dialect}")
        self._pooled: PoolProxiedConnection | None = None  # SQLite
        self._connecting = asyncio.Lock()  # SQLite: one connection, however many first calls
        self._postgres: psycopg.Connection[Any] | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[[RawConnection], T]) -> T:
        if self.dialect == "sqlite":
            return await self._run_sqlite(fn)
        return await self._run_postgres(fn)

    async def _run_sqlite(self, fn: Callable[[RawConnection], T]) -> T:
        async with self._connecting:
            if self._pooled is None:
                self._pooled = await self._engine.raw_connection()
            pooled = self._pooled
        driver: Any = pooled.driver_connection  # aiosqlite.Connection

        def transaction() -> T:
            connection: sqlite3.Connection = driver._conn
            try:
                result = fn(_SqliteConnection(connection))
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            return result

        try:
            # aiosqlite's own methods run this way (see run_raw)
            return cast(T, await driver._execute(transaction))
        except BaseException:
            if self._pooled is pooled:  # not yet replaced by a concurrent call's failure
                self._pooled = None
                await greenlet_spawn(pooled.invalidate)
            raise

    async def _run_postgres(self, fn: Callable[[RawConnection], T]) -> T:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-transactions")

        def transaction() -> T:
            if self._postgres is None:
                url = self._engine.url.set(drivername="postgresql")
                self._postgres = psycopg.connect(
                    url.render_as_string(hide_password=False), connect_timeout=10
                )
            connection = self._postgres
            try:
                # Pipeline mode: BEGIN goes out with the first statement, and a statement
                # whose answer is not needed goes out with the next one (about 9 round
                # trips for a batch down to 6).
                with connection.pipeline():
                    result = fn(_PostgresSyncConnection(connection))
                connection.commit()
            except BaseException:
                self._postgres = None
                with contextlib.suppress(Exception):
                    connection.rollback()
                connection.close()
                raise
            return result

        return await asyncio.get_running_loop().run_in_executor(self._thread, transaction)

    async def close(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            await greenlet_spawn(pooled.close)
        thread, self._thread = self._thread, None
        if thread is not None:

            def close_postgres() -> None:
                connection, self._postgres = self._postgres, None
                if connection is not None:
                    connection.close()

            await asyncio.get_running_loop().run_in_executor(thread, close_postgres)
            thread.shutdown(wait=False)
