"""Reading threads back: their latest state, status, and checkpoint history."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

from langgraph.types import StateSnapshot

from checkpoints import RunRecord, RunRegistry, open_checkpointer
from checkpoints.backend import is_postgres
from checkpoints.journal import Journal
from graph.api import RunOutcome, get_record, resolve_db
from graph.builder import build_graph
from graph.integrity import checked_snapshot


@dataclass(frozen=True)
class ThreadSummary:
    """One row of `planloop threads`."""

    record: RunRecord
    outcome: RunOutcome | None
    """None when the run never reached its first checkpoint."""

    @property
    def updated(self) -> datetime:
        """Local time of the latest checkpoint, else of registration."""
        if self.outcome and self.outcome.updated_at:
            return datetime.fromisoformat(self.outcome.updated_at).astimezone()
        return datetime.fromtimestamp(self.record.updated_at).astimezone()

    @property
    def status(self) -> str:
        """The run's status; `resumable` when it stopped before finishing."""
        if self.outcome is None:
            return "not started"
        if self.outcome.paused:
            return "paused"
        if self.outcome.status == "running":
            return "resumable" if self.outcome.next_nodes else "running"
        return self.outcome.status


@dataclass(frozen=True)
class HistoryEntry:
    """One checkpoint of a thread."""

    checkpoint_id: str
    step: int
    next_nodes: tuple[str, ...]
    created_at: str


def _records(db: str | os.PathLike[str] | None) -> RunRegistry:
    registry = RunRegistry(resolve_db(db))
    registry.setup()
    return registry


async def _snapshot(thread_id: str, db: str | os.PathLike[str] | None) -> StateSnapshot | None:
    async with open_checkpointer(resolve_db(db)) as saver:
        compiled = build_graph().compile(checkpointer=saver)
        snapshot = await checked_snapshot(compiled, thread_id)
    return snapshot if snapshot.created_at else None


async def thread_outcome(thread_id: str, db: str | os.PathLike[str] | None) -> RunOutcome | None:
    """The latest state of a registered thread (None before its first checkpoint)."""
    get_record(thread_id, db)
    snapshot = await _snapshot(thread_id, db)
    return RunOutcome.from_snapshot(thread_id, snapshot) if snapshot else None


async def thread_state(thread_id: str, db: str | os.PathLike[str] | None) -> dict[str, object]:
    """All state values of a registered thread (empty before its first checkpoint)."""
    get_record(thread_id, db)
    snapshot = await _snapshot(thread_id, db)
    return dict(snapshot.values) if snapshot and isinstance(snapshot.values, dict) else {}


async def list_threads(db: str | os.PathLike[str] | None) -> list[ThreadSummary]:
    """Every registered run with its latest state, most recent first."""
    registry = _records(db)
    try:
        records = registry.all()
    finally:
        registry.close()
    summaries = []
    async with open_checkpointer(resolve_db(db)) as saver:
        compiled = build_graph().compile(checkpointer=saver)
        for record in records:
            snapshot = await checked_snapshot(compiled, record.thread_id)
            outcome = (
                RunOutcome.from_snapshot(record.thread_id, snapshot)
                if snapshot.created_at
                else None
            )
            summaries.append(ThreadSummary(record=record, outcome=outcome))
    return summaries


async def thread_history(thread_id: str, db: str | os.PathLike[str] | None) -> list[HistoryEntry]:
    """The thread's checkpoints, oldest first."""
    get_record(thread_id, db)
    entries = []
    async with open_checkpointer(resolve_db(db)) as saver:
        compiled = build_graph().compile(checkpointer=saver)
        async for snapshot in compiled.aget_state_history(
            {"configurable": {"thread_id": thread_id}}
        ):
            metadata = snapshot.metadata or {}
            created = snapshot.created_at or ""
            entries.append(
                HistoryEntry(
                    checkpoint_id=str(snapshot.config["configurable"]["checkpoint_id"]),
                    step=int(metadata.get("step", -1)),
                    next_nodes=tuple(snapshot.next),
                    created_at=_short_time(created),
                )
            )
    return list(reversed(entries))


def _short_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


async def prune_threads(db: str | os.PathLike[str] | None, days: float) -> list[str]:
    """Delete threads idle for `days` days (checkpoints, run record, journal), then VACUUM."""
    cutoff = datetime.now().astimezone().timestamp() - days * 86400
    old = [s.record.thread_id for s in await list_threads(db) if s.updated.timestamp() < cutoff]
    path = resolve_db(db)
    async with open_checkpointer(path) as saver:
        for thread_id in old:
            await saver.adelete_thread(thread_id)
    registry, journal = _records(db), Journal(path)
    try:
        for thread_id in old:
            registry.delete(thread_id)
            journal.delete_thread(thread_id)
    finally:
        registry.close()
        journal.close()
    if is_postgres(path):
        from checkpoints.postgres import vacuum

        await vacuum(str(path))
    else:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("VACUUM")
    return old
