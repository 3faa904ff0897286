"""What every checkpointer shares: the strict serializer, the planloop home, the store's error.

The checkpointers themselves live with their database: `checkpoints.sqlite` (WAL, busy timeout)
and `checkpoints.postgres`; `checkpoints.open_storage(db)` picks one.
"""

from __future__ import annotations

import os
from pathlib import Path

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
