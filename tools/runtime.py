"""What a tool may know about the run it is called from: its settings and thread."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from langgraph.runtime import get_runtime

from checkpoints.backend import resolve_target, state_folder
from nodes.context import Context
from tools.confinement import Confinement, state_folders
from tools.workspace import WorkspaceError, workspace_root

T = TypeVar("T")


def current_context() -> Context:
    """The `Context` of the graph run this tool is called from."""
    try:
        runtime = get_runtime()
    except (RuntimeError, KeyError) as exc:  # called outside a graph run
        raise WorkspaceError("planloop tools only work inside a planloop run") from exc
    if not isinstance(runtime.context, Context):
        raise WorkspaceError("the run has no planloop Context")
    return runtime.context


def current_thread_id() -> str:
    """The thread id of the current run, or `unsaved-run` without a checkpointer."""
    try:
        info = get_runtime().execution_info
    except (RuntimeError, KeyError):
        return "unsaved-run"
    return (info.thread_id if info else None) or "unsaved-run"


PACKAGES = ("graph", "nodes", "tools", "checkpoints")
DEV_SERVER_STATE = ".langgraph_api"
"""Where `langgraph dev` keeps its threads (pickles it loads at start-up), in its folder."""


def protected_folders() -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(hidden, read-only) folders of planloop's own: the state folder of the run being driven
    (outside `drive`, e.g. under `langgraph dev`: that of the default database) and the dev
    server's storage are hidden; planloop's packages and its Python environment are read-only."""
    state = state_folders.get() or (state_folder(resolve_target(None)),)
    hidden = (*state, (Path.cwd() / DEV_SERVER_STATE).resolve())
    source = Path(__file__).resolve().parents[1]
    code = tuple(source / package for package in PACKAGES)
    return hidden, (*code, Path(sys.prefix).resolve())


def current_confinement() -> Confinement:
    """What the tools of the current run may touch: its workspace minus planloop's own files."""
    root = workspace_root(current_context().workspace)
    hidden, read_only = protected_folders()
    return Confinement.of(root, current_thread_id(), hidden, read_only)


async def in_confinement(function: Callable[..., T], *args: object) -> T:
    """`function(*args, guard)` in a worker thread, with the run's confinement as `guard`.

    Finding the confinement touches the file system (the working directory, resolved paths),
    which must not block the event loop (`langgraph dev` refuses blocking calls), so it is
    found in the thread too; the thread sees the run's context (`asyncio.to_thread` copies it).
    """
    return await asyncio.to_thread(lambda: function(*args, current_confinement()))
