"""planloop's persistence on a SQLite file (the default): WAL, a busy timeout, file locks.

The checkpointer and the store are LangGraph's SQLite classes on connections of their own; the
per-thread lock is an OS file lock beside the database; the registry and the journal are the
shared SQLAlchemy implementations (see `checkpoints.storage`).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.store.base import BaseStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from checkpoints import memory
from checkpoints.backend import LOCKS_DIR
from checkpoints.lock import busy
from checkpoints.saver import BUSY_TIMEOUT_MS, PRAGMAS, CheckpointStoreError, strict_serializer
from checkpoints.schema_lock import async_schema_lock
from checkpoints.storage import Storage

logger = logging.getLogger(__name__)


class SqliteStorage(Storage):
    """Everything in one SQLite file (plus lock files in its folder)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.path = path

    @asynccontextmanager
    async def checkpointer(self) -> AsyncIterator[BaseCheckpointSaver[str]]:
        """The SQLite saver with WAL and a busy timeout."""
        async with self._connection(PRAGMAS) as conn:
            saver = AsyncSqliteSaver(conn, serde=strict_serializer())
            await self._set_up(saver.setup)
            yield saver

    @asynccontextmanager
    async def store(self, index: dict[str, object] | None = None) -> AsyncIterator[BaseStore]:
        """The SQLite store (with a sqlite-vec index when `index` is set and loadable)."""
        if index is not None and not memory.vector_search_supported():
            logger.warning(
                "this Python's sqlite3 cannot load extensions, so sqlite-vec is unavailable; "
                "memory recall falls back to lexical BM25 search"
            )
            index = None
        pragmas = (f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",)
        async with self._connection(pragmas, isolation_level=None) as conn:
            store = AsyncSqliteStore(conn, index=index)  # type: ignore[arg-type]
            await self._set_up(store.setup)
            yield store

    @asynccontextmanager
    async def _connection(
        self, pragmas: tuple[str, ...], *, isolation_level: str | None = ""
    ) -> AsyncIterator[aiosqlite.Connection]:
        """An open connection with `pragmas` applied (set-up errors explained in one line)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=isolation_level
            )
        except (OSError, sqlite3.Error) as exc:
            raise CheckpointStoreError(
                f"cannot open checkpoint database {self.path}: {exc}"
            ) from exc
        try:
            await self._set_up(lambda: _apply(conn, pragmas))
            yield conn
        finally:
            await conn.close()

    async def _set_up(self, set_up: Callable[[], Awaitable[None]]) -> None:
        """Run one set-up action under the database's set-up lock, retrying while the database
        is locked by another process, up to the busy timeout.

        Set-ups of many processes opening one new database collide in ways SQLite's busy
        handler does not cover (switching to WAL, a read transaction upgraded to a write), so
        they run one at a time; a lock still held by a running writer is waited out."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.05
        while True:
            try:
                async with async_schema_lock(self.path):
                    await set_up()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise CheckpointStoreError(self._unusable(exc)) from exc
            except sqlite3.DatabaseError as exc:
                raise CheckpointStoreError(self._unusable(exc)) from exc
            await asyncio.sleep(pause)  # back-off between attempts, not a synchronisation
            pause = min(pause * 2, 1.0)

    @contextmanager
    def thread_lock(self, thread_id: str) -> Iterator[None]:
        """`flock` locks belong to the open file, so the kernel releases them when the holder
        exits or is killed: a crashed run never leaves its thread locked."""
        name = hashlib.sha256(thread_id.encode()).hexdigest()[:24]
        path = self.path.parent / LOCKS_DIR / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(handle, 32, 0).decode(errors="replace").strip()
                raise busy(thread_id, f"pid {holder}" if holder else "another process") from None
            os.ftruncate(handle, 0)
            os.pwrite(handle, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(handle)  # closing the descriptor releases the lock

    async def checkpoint_ids(self, saver: BaseCheckpointSaver[str], thread_id: str) -> list[str]:
        """Read with the saver's own connection (the one that wrote them)."""
        conn = getattr(saver, "conn", None)
        if conn is None:
            return []
        async with conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC",
            (thread_id,),
        ) as cursor:
            return [str(row[0]) async for row in cursor]

    async def vacuum(self) -> None:
        """SQLite's VACUUM (blocking: in a thread)."""

        def vacuum_file() -> None:
            with closing(sqlite3.connect(self.path)) as conn:
                conn.execute("VACUUM")

        await asyncio.to_thread(vacuum_file)

    def _unusable(self, exc: sqlite3.Error) -> str:
        if _is_busy(exc):
            return (
                f"{self.path} stayed locked by another process for {BUSY_TIMEOUT_MS // 1000} s "
                f"({exc}); try again when it is done"
            )
        return f"{self.path} is not a usable planloop database ({exc})"


async def _apply(conn: aiosqlite.Connection, pragmas: tuple[str, ...]) -> None:
    for pragma in pragmas:
        await conn.execute(pragma)


def _is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds the database, nothing is wrong."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)
