"""What the agent's tools may not touch inside the workspace: planloop's own state.

The workspace is the agent's, but planloop may keep things in it: its database folder (with the
default `--workspace .` and `PLANLOOP_HOME=./.planloop`, the checkpoints, journal, locks and
memories sit inside the workspace) and `planloop-runs/`, the record of every run. Generated code
or a prompt injection that reached them could forge the journal, plant memories, read other
runs' data or corrupt the store. So:

- planloop's state folders are hidden: no file tool reads, lists or writes them, and the
  sandbox sees an empty, read-only folder in their place;
- other runs' folders under `planloop-runs/` are hidden the same way;
- this run's own folder is read-only for tools (its clipped outputs stay readable);
- a layout that cannot be made safe is refused before the run starts (see `check_layout`).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from tools.workspace import RUNS_DIR, WorkspaceError

state_folders: ContextVar[tuple[Path, ...]] = ContextVar("planloop_state_folders", default=())
"""Resolved folders holding planloop's own state for the run being driven (set by `drive`)."""


class UnsafeLayoutError(WorkspaceError):
    """The workspace and planloop's state folder overlap in a way that cannot be made safe."""


def check_layout(
    workspace: str | os.PathLike[str], state_folder: Path, owned: tuple[str, ...] = ()
) -> None:
    """Refuse a workspace in which planloop's state cannot be hidden.

    A state folder strictly inside the workspace is hidden from every tool as a whole. A
    workspace that is the state folder itself would expose the database (and the files SQLite
    creates beside it at will), and one inside its `owned` subfolders (locks, receipts) would
    expose those: both are refused. A workspace beside the database is fine.
    """
    root = Path(workspace).expanduser().resolve()
    state = state_folder.expanduser().resolve()
    if root == state or any(root.is_relative_to(state / name) for name in owned):
        raise UnsafeLayoutError(
            f"the workspace {root} is planloop's state folder {state} or inside it, where the "
            "agent could reach planloop's database; use a workspace outside it, or set "
            "PLANLOOP_HOME (or --db) elsewhere"
        )


@dataclass(frozen=True)
class Confinement:
    """The workspace as one run's tools see it."""

    root: Path
    """The resolved workspace."""
    thread_id: str
    """The run whose folder under `planloop-runs/` stays readable."""
    state: tuple[Path, ...] = ()
    """Resolved state folders of planloop that lie inside the workspace (hidden)."""
    read_only: tuple[Path, ...] = ()
    """Resolved folders of planloop's own code and environment inside the workspace: tools
    may read them, never change them (changed code would run on the host next time)."""

    @classmethod
    def of(
        cls,
        root: Path,
        thread_id: str,
        state: tuple[Path, ...] = (),
        read_only: tuple[Path, ...] = (),
    ) -> Confinement:
        """The confinement of `root` (resolved), keeping only the folders inside it."""

        def inside(folders: tuple[Path, ...]) -> tuple[Path, ...]:
            return tuple(f for f in folders if f != root and f.is_relative_to(root))

        return cls(root, thread_id, inside(state), inside(read_only))

    @property
    def runs(self) -> Path:
        """Where planloop keeps every run's report, answer and artifacts."""
        return self.root / RUNS_DIR

    @property
    def own_run(self) -> Path:
        """This run's folder."""
        return self.runs / self.thread_id

    def refusal(self, target: Path, *, write: bool) -> str | None:
        """Why a tool may not use the resolved path `target`, or None when it may."""
        for folder in self.state:
            if target.is_relative_to(folder):
                return "is planloop's own state (database, journal, locks); no tool may use it"
        if write and any(target.is_relative_to(folder) for folder in self.read_only):
            return "is planloop's own code or environment: tools may read it, not change it"
        if not target.is_relative_to(self.runs):
            return None
        if target.is_relative_to(self.own_run) or target == self.runs:
            return (
                "is planloop's record of this run: tools may read it, not change it"
                if write
                else None
            )
        return "belongs to another planloop run"

    def check(self, target: Path, shown: str, *, write: bool) -> None:
        """Raise `WorkspaceError` when a tool may not use `target` (shown as `shown`)."""
        reason = self.refusal(target, write=write)
        if reason:
            raise WorkspaceError(f"{shown} {reason}")
