"""Persistence: the SQLite checkpointer and the registry of runs."""

from checkpoints.registry import RunRecord, RunRegistry
from checkpoints.saver import (
    CheckpointStoreError,
    default_db_path,
    open_checkpointer,
    planloop_home,
    strict_serializer,
)

__all__ = [
    "CheckpointStoreError",
    "RunRecord",
    "RunRegistry",
    "default_db_path",
    "open_checkpointer",
    "planloop_home",
    "strict_serializer",
]
