"""What every checkpointer shares: the strict serializer, the planloop home, the store's error.

The checkpointers themselves live with their database: `checkpoints.sqlite` (WAL, busy timeout)
and `checkpoints.postgres`; `open_checkpointer(db)` picks through `checkpoints.storage`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from nodes.errors import PlanloopError
from nodes.state import STATE_TYPES

DB_FILENAME = "planloop.db"
BUSY_TIMEOUT_MS = 30_000
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
)


class CheckpointStoreError(PlanloopError):
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
    from checkpoints.storage import open_storage

    async with open_storage(db_path).checkpointer() as saver:
        yield saver
