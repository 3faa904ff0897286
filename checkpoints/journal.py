"""The side-effect journal: a resumed or re-run step never repeats a finished action.

Each side-effecting tool call gets an idempotency key (thread, step id, tool, args hash). Before
acting, the call is recorded as `started` with the digest the target file will have afterwards
(for file tools); when it completes, its observation is recorded. A replay finds the completed
entry and returns the recorded observation instead of acting; a replay that finds `started`
with the file already at the expected digest knows the crash came after the effect and does not
act again either.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Column, Float, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine

from checkpoints.backend import create_tables, make_engine

metadata = MetaData()

journal_table = Table(
    "planloop_journal",
    metadata,
    Column("key", String, primary_key=True),
    Column("thread_id", String, nullable=False, index=True),
    Column("step_id", String, nullable=False),
    Column("tool", String, nullable=False),
    Column("status", String, nullable=False),
    Column("expected_digest", String, nullable=True),
    Column("observation", Text, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("completed_at", Float, nullable=True),
)


@dataclass(frozen=True)
class JournalEntry:
    """One journaled action."""

    key: str
    status: str
    expected_digest: str | None
    observation: str | None


def idempotency_key(thread_id: str, step_id: str, tool: str, args: Mapping[str, object]) -> str:
    """The identity of one action in one step of one thread."""
    canonical = json.dumps([thread_id, step_id, tool, args], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Journal:
    """Journal entries in the planloop database (SQLite or Postgres, through SQLAlchemy)."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.engine: Engine = make_engine(db_path)
        create_tables(self.engine, metadata)

    def get(self, key: str) -> JournalEntry | None:
        """The entry for a key, if the action was ever started."""
        with self.engine.connect() as conn:
            row = conn.execute(select(journal_table).where(journal_table.c.key == key)).first()
        if row is None:
            return None
        m = row._mapping
        return JournalEntry(m["key"], m["status"], m["expected_digest"], m["observation"])

    def start(
        self, key: str, *, thread_id: str, step_id: str, tool: str, expected_digest: str | None
    ) -> None:
        """Record that the action is about to happen (replacing an unfinished attempt)."""
        with self.engine.begin() as conn:
            conn.execute(journal_table.delete().where(journal_table.c.key == key))
            conn.execute(
                journal_table.insert().values(
                    key=key,
                    thread_id=thread_id,
                    step_id=step_id,
                    tool=tool,
                    status="started",
                    expected_digest=expected_digest,
                    started_at=time.time(),
                )
            )

    def complete(self, key: str, observation: str) -> None:
        """Record the action's observation: from now on it is never repeated."""
        with self.engine.begin() as conn:
            conn.execute(
                journal_table.update()
                .where(journal_table.c.key == key)
                .values(status="completed", observation=observation, completed_at=time.time())
            )

    def delete_thread(self, thread_id: str) -> None:
        """Drop a thread's entries (when the thread itself is pruned)."""
        with self.engine.begin() as conn:
            conn.execute(journal_table.delete().where(journal_table.c.thread_id == thread_id))

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


active_journal: ContextVar[Journal | None] = ContextVar("planloop_journal", default=None)
"""The journal of the run being driven (set by `graph.api.drive`)."""
