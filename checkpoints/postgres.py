"""planloop's persistence on PostgreSQL: LangGraph's Postgres checkpointer and store, set up
once per database, and a session advisory lock per thread.

The checkpointer and the store use one psycopg 3 connection each (autocommit, no prepared
statements, dict rows, as langgraph-checkpoint-postgres requires). Their `setup()` migrations run
under an advisory lock so that many processes starting at once on a fresh database do not race
each other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import BaseStore
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.rows import DictRow, dict_row

from checkpoints.backend import advisory_key, redact
from checkpoints.lock import busy
from checkpoints.saver import CheckpointStoreError, strict_serializer
from checkpoints.storage import Storage

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
SETUP_WAIT_SECONDS = 120
SETUP_LOCK_KEY = advisory_key("langgraph-setup")
PLANLOOP_TABLES = (
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "planloop_runs",
    "planloop_journal",
)

LOCK_GRACE_SECONDS = 1.0
"""How long a thread lock request waits: a killed holder's server session ends a moment after
the process, so a resume started right after a crash is not refused for that moment."""
KEEPALIVE_OPTIONS = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
)
"""The server drops (and unlocks) a session whose machine vanished within about 25 seconds."""

PgConnection = psycopg.AsyncConnection[DictRow]


class PostgresStorage(Storage):
    """Everything on one PostgreSQL database, shared by processes on many machines."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url

    @asynccontextmanager
    async def checkpointer(self) -> AsyncIterator[BaseCheckpointSaver[str]]:
        """LangGraph's Postgres saver."""
        async with open_postgres_checkpointer(self.url) as saver:
            yield saver

    @asynccontextmanager
    async def store(self, index: dict[str, object] | None = None) -> AsyncIterator[BaseStore]:
        """LangGraph's Postgres store (semantic recall through pgvector when installed)."""
        async with open_postgres_store(self.url, index) as store:
            yield store

    def thread_lock(self, thread_id: str) -> AbstractContextManager[None]:
        """A session advisory lock (see `advisory_lock`)."""
        return advisory_lock(self.url, thread_id)

    async def checkpoint_ids(self, saver: BaseCheckpointSaver[str], thread_id: str) -> list[str]:
        """Read with the saver's own connection."""
        if not isinstance(saver, AsyncPostgresSaver):
            return []
        return await checkpoint_ids(saver, thread_id)

    async def vacuum(self) -> None:
        """VACUUM (ANALYZE) planloop's tables."""
        await vacuum(self.url)


async def connect(url: str) -> PgConnection:
    """An autocommit connection as the LangGraph Postgres classes need it."""
    try:
        return await psycopg.AsyncConnection.connect(
            url,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except psycopg.Error as exc:
        raise CheckpointStoreError(f"cannot open database {redact(url)}: {exc}") from exc


@asynccontextmanager
async def setup_lock(conn: PgConnection) -> AsyncIterator[None]:
    """Hold the set-up lock for the block (one process migrates at a time).

    It polls `pg_try_advisory_lock` instead of waiting in `pg_advisory_lock`: a waiting statement
    keeps a snapshot open, and the saver's first migration runs CREATE INDEX CONCURRENTLY, which
    waits for every older snapshot; a blocked waiter would deadlock with it.
    """
    deadline = time.monotonic() + SETUP_WAIT_SECONDS
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK_KEY,))
        row = await cursor.fetchone()
        if row and row["ok"]:
            break
        if time.monotonic() > deadline:
            raise CheckpointStoreError("timed out waiting for another process to set up tables")
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


async def _set_up(conn: PgConnection, url: str, setup: Callable[[], Awaitable[None]]) -> None:
    """Run LangGraph's table setup under the cross-process setup lock; a database that cannot
    take it is one clear error."""
    try:
        async with setup_lock(conn):
            await setup()
    except psycopg.Error as exc:
        raise CheckpointStoreError(
            f"{redact(url)} is not a usable planloop database ({exc})"
        ) from exc


@asynccontextmanager
async def open_postgres_checkpointer(url: str) -> AsyncIterator[AsyncPostgresSaver]:
    """LangGraph's Postgres saver with planloop's strict serializer, tables created if needed."""
    conn = await connect(url)
    try:
        saver = AsyncPostgresSaver(conn, serde=strict_serializer())
        await _set_up(conn, url, saver.setup)
        yield saver
    finally:
        await conn.close()


async def _vector_index(
    conn: PgConnection, index: dict[str, object] | None
) -> dict[str, object] | None:
    """The index when the database has pgvector installed; otherwise None (lexical recall)."""
    if index is None:
        return None
    cursor = await conn.execute("SELECT 1 AS ok FROM pg_extension WHERE extname = 'vector'")
    if await cursor.fetchone():
        return index
    logger.warning(
        "the Postgres database has no pgvector extension (CREATE EXTENSION vector), so memory "
        "recall falls back to lexical BM25 search"
    )
    return None


@asynccontextmanager
async def open_postgres_store(
    url: str, index: dict[str, object] | None = None
) -> AsyncIterator[AsyncPostgresStore]:
    """LangGraph's Postgres store (semantic search through pgvector when available)."""
    conn = await connect(url)
    try:
        chosen = await _vector_index(conn, index)
        store = AsyncPostgresStore(conn, index=chosen)  # type: ignore[arg-type]
        await _set_up(conn, url, store.setup)
        yield store
    finally:
        await conn.close()


async def checkpoint_ids(saver: AsyncPostgresSaver, thread_id: str) -> list[str]:
    """A thread's root checkpoint ids, newest first, read without deserializing anything."""
    async with saver.lock, saver.conn.cursor() as cursor:  # type: ignore[union-attr]
        await cursor.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC",
            (thread_id,),
        )
        return [str(row["checkpoint_id"]) for row in await cursor.fetchall()]


async def vacuum(url: str) -> None:
    """Reclaim space after deletions (Postgres's counterpart of SQLite's VACUUM)."""
    conn = await connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE) " + ", ".join(PLANLOOP_TABLES))
    finally:
        await conn.close()


@contextmanager
def advisory_lock(url: str, thread_id: str) -> Iterator[None]:
    """A session-level advisory lock: the server releases it when the session ends, which
    happens when the holding process exits or is killed (its connection closes)."""
    key = advisory_key(f"thread:{thread_id}")
    me = f"pid {os.getpid()} on {socket.gethostname()}"
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            application_name=f"planloop {me}"[:63],
            options=KEEPALIVE_OPTIONS,
            connect_timeout=10,
        )
    except psycopg.Error as exc:
        raise CheckpointStoreError(f"cannot open database {redact(url)}: {exc}") from exc
    try:
        deadline = time.monotonic() + LOCK_GRACE_SECONDS
        while not _try_lock(conn, key):
            if time.monotonic() > deadline:
                raise busy(thread_id, _holder(conn, key))
            time.sleep(0.05)
        yield
    finally:
        conn.close()  # ending the session releases the lock


def _try_lock(conn: psycopg.Connection[tuple[object, ...]], key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def _holder(conn: psycopg.Connection[tuple[object, ...]], key: int) -> str:
    """Who holds the lock, from the holder's application name (e.g. `pid 42 on host`)."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    name = str(row[0]) if row and row[0] else ""
    return name.removeprefix("planloop ") if name.startswith("planloop ") else "another process"
