"""The checkpointer every run is persisted in: a SQLite file tuned for durability and
concurrency, or (for a `postgresql://` URL) LangGraph's Postgres saver."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from nodes.state import STATE_TYPES

DB_FILENAME = "planloop.db"
BUSY_TIMEOUT_MS = 30_000
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
)


class CheckpointStoreError(Exception):
    """The checkpoint database cannot be opened or read; the message says which and why."""


def planloop_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where planloop keeps its database: the argument, else $PLANLOOP_HOME, else ./.planloop."""
    chosen = explicit or os.environ.get("PLANLOOP_HOME") or ".planloop"
    return Path(chosen).expanduser()


def default_db_path(home: str | os.PathLike[str] | None = None) -> Path:
    """The checkpoint database inside the planloop home."""
    return planloop_home(home) / DB_FILENAME


def strict_serializer() -> JsonPlusSerializer:
    """A serializer that rebuilds only planloop's state types and LangGraph's safe types."""
    allowed = [(t.__module__, t.__name__) for t in STATE_TYPES]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


@asynccontextmanager
async def open_checkpointer(
    db_path: str | os.PathLike[str],
) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Open (creating if needed) the checkpoint database: a Postgres URL or a SQLite file."""
    from checkpoints.backend import is_postgres

    if is_postgres(db_path):
        from checkpoints.postgres import open_postgres_checkpointer

        async with open_postgres_checkpointer(str(db_path)) as pg_saver:
            yield pg_saver
        return
    async with _open_sqlite(Path(db_path)) as saver:
        yield saver


@asynccontextmanager
async def _open_sqlite(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """The SQLite file with WAL and a busy timeout."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as exc:
        raise CheckpointStoreError(f"cannot open checkpoint database {path}: {exc}") from exc
    try:
        try:
            for pragma in PRAGMAS:
                await conn.execute(pragma)
            saver = AsyncSqliteSaver(conn, serde=strict_serializer())
            await saver.setup()
        except sqlite3.DatabaseError as exc:
            raise CheckpointStoreError(f"{path} is not a usable planloop database ({exc})") from exc
        yield saver
    finally:
        await conn.close()
