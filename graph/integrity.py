"""Refusing to continue a thread that cannot be trusted: unreadable checkpoints, changed graphs."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

from checkpoints import CheckpointStoreError
from checkpoints.storage import Storage
from nodes.context import Context
from nodes.state import InputState, OutputState, State

PlanloopApp = CompiledStateGraph[State, Context, InputState, OutputState]

GRAPH_NODES_KEY = "planloop_nodes"
"""Checkpoint metadata key: the node names of the graph that wrote the checkpoint."""


def graph_signature(compiled: PlanloopApp) -> str:
    """The graph's node names, as stored in checkpoint metadata."""
    return ",".join(sorted(n for n in compiled.nodes if not n.startswith("__")))


async def checked_snapshot(
    compiled: PlanloopApp,
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    storage: Storage | None = None,
) -> StateSnapshot:
    """The thread's state; an unreadable checkpoint is an error naming the last good one
    (found through `storage`, the database the compiled graph's checkpointer belongs to)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    if checkpoint_id:
        config["configurable"]["checkpoint_id"] = checkpoint_id
    try:
        return await compiled.aget_state(config)
    except CheckpointStoreError:
        raise
    except Exception as exc:
        good = await _last_good_checkpoint(compiled, thread_id, storage) if storage else None
        hint = (
            f"; the last good checkpoint is {good}: planloop resume {thread_id} --from {good}"
            if good
            else "; no earlier checkpoint can be read either"
        )
        raise CheckpointStoreError(
            f"checkpoint of thread {thread_id} cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:120]}){hint}"
        ) from exc


async def _last_good_checkpoint(
    compiled: PlanloopApp, thread_id: str, storage: Storage
) -> str | None:
    saver = compiled.checkpointer
    if not isinstance(saver, BaseCheckpointSaver):
        return None
    for candidate in await storage.checkpoint_ids(saver, thread_id):
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_id": candidate}
        }
        try:
            await compiled.aget_state(config)
        except Exception:
            continue
        return str(candidate)
    return None


def check_shape(
    compiled: PlanloopApp,
    snapshot: StateSnapshot,
    thread_id: str,
) -> None:
    """Refuse to continue a thread whose next nodes this version of the graph does not have."""
    missing = [n for n in snapshot.next if n not in compiled.nodes]
    if not missing:
        return
    saved = (snapshot.metadata or {}).get(GRAPH_NODES_KEY, "unknown")
    raise CheckpointStoreError(
        f"thread {thread_id} was saved by a planloop whose graph had nodes [{saved}]; this "
        f"version has no node {', '.join(missing)}. Run it with the planloop version that "
        f"started it, fork from an earlier checkpoint (planloop resume {thread_id} --from ID, "
        "see planloop show --history), or start a new run"
    )
