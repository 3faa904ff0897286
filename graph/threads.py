"""Reading threads back: their latest state, status, and checkpoint history."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from langgraph.types import StateSnapshot

from checkpoints import RunRecord, open_storage
from graph.builder import with_storage
from graph.integrity import checked_snapshot
from graph.outcome import RunOutcome, get_record


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


async def _snapshot(thread_id: str, db: str | os.PathLike[str] | None) -> StateSnapshot | None:
    storage = open_storage(db)
    async with storage.checkpointer() as saver:
        compiled = with_storage(saver)
        snapshot = await checked_snapshot(compiled, thread_id, storage=storage)
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
    storage = open_storage(db)
    registry = storage.registry()
    try:
        records = registry.all()
    finally:
        registry.close()
    summaries = []
    async with storage.checkpointer() as saver:
        compiled = with_storage(saver)
        for record in records:
            snapshot = await checked_snapshot(compiled, record.thread_id, storage=storage)
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
    async with open_storage(db).checkpointer() as saver:
        compiled = with_storage(saver)
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
    storage = open_storage(db)
    async with storage.checkpointer() as saver:
        for thread_id in old:
            await saver.adelete_thread(thread_id)
    registry, journal = storage.registry(), storage.journal()
    try:
        for thread_id in old:
            registry.delete(thread_id)
            journal.delete_thread(thread_id)
    finally:
        registry.close()
        journal.close()
    await storage.vacuum()
    return old
