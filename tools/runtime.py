"""What a tool may know about the run it is called from: its settings and thread."""

from __future__ import annotations

from langgraph.runtime import get_runtime

from nodes.context import Context
from tools.confinement import Confinement, state_folders
from tools.workspace import WorkspaceError, workspace_root


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


def current_confinement() -> Confinement:
    """What the tools of the current run may touch: its workspace minus planloop's own state."""
    root = workspace_root(current_context().workspace)
    return Confinement.of(root, current_thread_id(), state_folders.get())
