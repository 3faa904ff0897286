"""What is known of a thread: the run registered under its id (`get_record`, or
`UnknownThreadError`) and the `RunOutcome` its latest checkpoint shows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from langgraph.types import StateSnapshot

from checkpoints import RunRecord, open_storage
from nodes.errors import UsageError
from nodes.state import Budget, Criterion, StepResult


class UnknownThreadError(UsageError, LookupError):
    """No run is recorded under the given thread id."""

    def __str__(self) -> str:  # a LookupError would show its message quoted
        return str(self.args[0]) if self.args else ""


@dataclass(kw_only=True)
class RunOutcome:
    """The end state of a run (or of the part that has run so far)."""

    thread_id: str
    status: str
    stop_reason: str = ""
    answer: str = ""
    report_path: str = ""
    criteria: list[Criterion] = field(default_factory=list)
    results: dict[str, StepResult] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    next_nodes: tuple[str, ...] = ()
    """Nodes still to run: non-empty when the run stopped before `finish`."""
    updated_at: str = ""
    """ISO time of the latest checkpoint."""
    pending: dict[str, dict[str, object]] = field(default_factory=dict)
    """Interrupts waiting for an answer, by interrupt id (payloads are plain dicts)."""

    @property
    def paused(self) -> bool:
        """True when the run waits for a human."""
        return bool(self.pending)

    @property
    def never_started(self) -> bool:
        """True for a thread killed before its first step was checkpointed: nothing to continue,
        so resuming starts it again from its goal."""
        return self.status == "running" and not self.next_nodes

    @classmethod
    def from_snapshot(cls, thread_id: str, snapshot: StateSnapshot) -> RunOutcome:
        """Read the outcome from a checkpoint snapshot."""
        values = snapshot.values if isinstance(snapshot.values, dict) else {}
        return cls(
            thread_id=thread_id,
            status=str(values.get("status", "running")),
            stop_reason=str(values.get("stop_reason", "")),
            answer=str(values.get("answer", "")),
            report_path=str(values.get("report_path", "")),
            criteria=list(values.get("criteria", [])),
            results=dict(values.get("results", {})),
            budget=values.get("budget") or Budget(),
            next_nodes=tuple(snapshot.next),
            updated_at=snapshot.created_at or "",
            pending={
                i.id: dict(i.value) if isinstance(i.value, Mapping) else {"value": i.value}
                for i in snapshot.interrupts
            },
        )


def get_record(thread_id: str, db: str | os.PathLike[str] | None) -> RunRecord:
    """The registered run, or UnknownThreadError."""
    registry = open_storage(db).registry()
    try:
        record = registry.get(thread_id)
    finally:
        registry.close()
    if record is None:
        raise UnknownThreadError(f"no run with thread id {thread_id!r}")
    return record
