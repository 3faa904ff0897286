"""The side-effect journal: a resumed or re-run step never repeats a finished action.

Each side-effecting tool call gets an idempotency key (thread, step id, tool, args hash). Before
acting, the call is recorded as `started` with the digest the target file will have afterwards
(for file tools); when it completes, its observation is recorded. A replay finds the completed
entry and returns the recorded observation instead of acting; a replay that finds `started`
with the file already at the expected digest knows the crash came after the effect and does not
act again either. A code run leaves a receipt (`receipt_dir`) on the local disk, written by the
sandbox when the program ends and by planloop before it journals, so a code run that finished
before a crash is not run again either.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Column, Float, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine, RowMapping

from checkpoints.backend import (
    RECEIPTS_DIR,
    add_missing_columns,
    create_tables,
    make_engine,
    state_folder,
)

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
    Column("target", Text, nullable=True),
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
    tool: str = ""
    target: str | None = None
    """The workspace path a file tool acts on (None for other tools)."""


def idempotency_key(thread_id: str, step_id: str, tool: str, args: Mapping[str, object]) -> str:
    """The identity of one action in one step of one thread."""
    canonical = json.dumps([thread_id, step_id, tool, args], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Journal:
    """Journal entries in the planloop database (SQLite or Postgres, through SQLAlchemy)."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.engine: Engine = make_engine(db_path)
        create_tables(self.engine, metadata)
        add_missing_columns(self.engine, journal_table)
        self.receipts = state_folder(db_path) / RECEIPTS_DIR
        """Local folder of code-run receipts, one folder per idempotency key."""

    def receipt_dir(self, key: str) -> Path:
        """Where the code run journaled under `key` leaves its receipt."""
        return self.receipts / key

    def discard_receipt(self, key: str) -> None:
        """Remove a receipt once the journal holds the outcome (or before a fresh attempt)."""
        shutil.rmtree(self.receipt_dir(key), ignore_errors=True)

    def get(self, key: str) -> JournalEntry | None:
        """The entry for a key, if the action was ever started."""
        with self.engine.connect() as conn:
            row = conn.execute(select(journal_table).where(journal_table.c.key == key)).first()
        return None if row is None else _entry(row._mapping)

    def unfinished(self, thread_id: str) -> list[JournalEntry]:
        """The thread's actions that were started but never recorded as completed."""
        query = select(journal_table).where(
            journal_table.c.thread_id == thread_id, journal_table.c.status == "started"
        )
        with self.engine.connect() as conn:
            return [_entry(row._mapping) for row in conn.execute(query)]

    def start(
        self,
        key: str,
        *,
        thread_id: str,
        step_id: str,
        tool: str,
        expected_digest: str | None,
        target: str | None = None,
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
                    target=target,
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


def _entry(m: RowMapping) -> JournalEntry:
    def text(name: str) -> str | None:
        value = m.get(name)
        return None if value is None else str(value)

    return JournalEntry(
        key=str(m["key"]),
        status=str(m["status"]),
        expected_digest=text("expected_digest"),
        observation=text("observation"),
        tool=str(m["tool"]),
        target=text("target"),
    )


active_journal: ContextVar[Journal | None] = ContextVar("planloop_journal", default=None)
"""The journal of the run being driven (set by `graph.drive.drive`)."""
