"""Everything planloop persists, on SQLite (default) or PostgreSQL, chosen by `--db`.

- which database, engines, the state folder, schema set-up: `checkpoints.backend`
- the LangGraph checkpointer (strict serializer, WAL): `checkpoints.saver`; on Postgres,
  `checkpoints.postgres`
- the run registry (goal, settings, times): `checkpoints.registry`
- the side-effect journal and code-run receipts: `checkpoints.journal`
- one writer per thread (a file lock, or an advisory lock): `checkpoints.lock`
- long-term memory (LangGraph's store, lexical or semantic recall): `checkpoints.memory`
- CREATE TABLE serialised across processes: `checkpoints.schema_lock`

It imports only the shared vocabulary of `nodes` (state, errors), never a node module.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from checkpoints.backend import is_postgres, resolve_target
from checkpoints.registry import RunRecord, RunRegistry
from checkpoints.saver import (
    CheckpointStoreError,
    default_db_path,
    planloop_home,
    strict_serializer,
)
from checkpoints.storage import Storage

__all__ = [
    "CheckpointStoreError",
    "RunRecord",
    "RunRegistry",
    "Storage",
    "default_db_path",
    "open_checkpointer",
    "open_storage",
    "open_store",
    "planloop_home",
    "strict_serializer",
]


def open_storage(db: str | os.PathLike[str] | None = None) -> Storage:
    """The storage of `db` (else $PLANLOOP_DB, else $PLANLOOP_HOME/planloop.db): the one place
    the SQLite-or-PostgreSQL choice is made."""
    target = resolve_target(db)
    if is_postgres(target):
        from checkpoints.postgres import PostgresStorage

        return PostgresStorage(str(target))
    from checkpoints.sqlite import SqliteStorage

    return SqliteStorage(Path(target))


@asynccontextmanager
async def open_checkpointer(db: str | os.PathLike[str]) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """The checkpointer of `db`, tables created if needed (see `Storage.checkpointer`)."""
    async with open_storage(db).checkpointer() as saver:
        yield saver


@asynccontextmanager
async def open_store(
    db: str | os.PathLike[str], index: dict[str, object] | None = None
) -> AsyncIterator[BaseStore]:
    """The memory store beside the checkpoints of `db` (see `Storage.store`)."""
    async with open_storage(db).store(index) as store:
        yield store
