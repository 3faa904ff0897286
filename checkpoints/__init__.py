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
