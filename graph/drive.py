"""Driving a thread: `drive` starts, continues or forks it under the thread's lock, with the
database's journal active, planloop's state folder hidden from tools and the run's MCP servers
connected, and streams the graph to the caller's handlers until it stops or pauses."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from pathlib import Path

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot, StreamMode

from checkpoints import Storage, open_storage
from checkpoints.backend import OWNED_SUBFOLDERS
from checkpoints.journal import Journal, active_journal
from graph.builder import with_storage
from graph.integrity import (
    GRAPH_NODES_KEY,
    PlanloopApp,
    check_shape,
    checked_snapshot,
    graph_signature,
)
from graph.outcome import RunOutcome, get_record
from nodes.budget import super_step_bound
from nodes.context import Context
from nodes.errors import UsageError
from nodes.model_factory import embedding_index
from nodes.state import InputState
from tools import ExtraTools
from tools.confinement import check_layout, state_folders
from tools.runner import settle_unfinished

UpdateHandler = Callable[[str, Mapping[str, object]], None]
"""Called with (node name, the node's state update) as the run streams."""
EventHandler = Callable[[Mapping[str, object]], None]
"""Called with each event nodes write to the custom stream while they work, e.g. a model
call's progress (`{"model_call": {...}}`, see `nodes.streaming`)."""

GraphInput = InputState | Command[object] | None
"""What a run is streamed with: a goal, the answers to its interrupts, or None to continue."""


async def drive(
    thread_id: str,
    context: Context,
    *,
    goal: str | None,
    db: str | os.PathLike[str] | None = None,
    on_update: UpdateHandler | None = None,
    answers: Mapping[str, object] | None = None,
    from_checkpoint: str | None = None,
    on_event: EventHandler | None = None,
) -> RunOutcome:
    """Start (with `goal`) or continue (goal None) a thread, checkpointing every super-step.

    `answers` resumes a paused run: interrupt id -> resume value (see `RunOutcome.pending`).
    `from_checkpoint` forks the thread from an earlier checkpoint (see `thread_history`).
    `on_event` receives what nodes report while they work (model call progress).
    """
    storage = open_storage(db)
    config = _run_config(thread_id, context)
    graph_input = _given_input(goal, answers)
    check_layout(context.workspace, storage.state_folder, OWNED_SUBFOLDERS)
    with (
        storage.thread_lock(thread_id),
        journal_for(storage) as journal,
        hidden_state(storage.state_folder),
    ):
        await asyncio.to_thread(settle_unfinished, journal, thread_id, context.workspace)
        async with _compiled_graph(storage, context, on_update) as compiled:
            config["metadata"] = {GRAPH_NODES_KEY: graph_signature(compiled)}
            if goal is None:
                graph_input = await _continuation(
                    compiled, storage, thread_id, config, graph_input, from_checkpoint
                )
            snapshot = await _stream(compiled, graph_input, config, context, on_update, on_event)
    return RunOutcome.from_snapshot(thread_id, snapshot)


def _run_config(thread_id: str, context: Context) -> RunnableConfig:
    """The thread's config, with a recursion limit no run within the context's limits reaches."""
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": super_step_bound(context)}


def _given_input(goal: str | None, answers: Mapping[str, object] | None) -> GraphInput:
    """What the caller gave to run with: answers to interrupts, else a goal, else nothing."""
    if answers:
        return Command(resume=dict(answers))
    if goal is not None:
        return InputState(goal=goal)
    return None


@asynccontextmanager
async def _compiled_graph(
    storage: Storage, context: Context, on_update: UpdateHandler | None
) -> AsyncIterator[PlanloopApp]:
    """The graph compiled with the database's checkpointer and store, while the run's MCP
    servers are connected (servers that failed are reported to `on_update` first)."""
    async with (
        storage.checkpointer() as saver,
        storage.store(embedding_index(context)) as store,
        tool_servers(context) as extra_tools,
    ):
        if extra_tools.problems and on_update is not None:
            on_update("tools", {"problems": dict(extra_tools.problems)})
        yield with_storage(saver, store)


async def _stream(
    compiled: PlanloopApp,
    graph_input: GraphInput,
    config: RunnableConfig,
    context: Context,
    on_update: UpdateHandler | None,
    on_event: EventHandler | None = None,
) -> StateSnapshot:
    """Run the graph, checkpointing each super-step before the next (durability "sync"),
    handing each node's update to `on_update` and each custom-stream event to `on_event`;
    return the thread's state afterwards."""
    modes: list[StreamMode] = ["updates", "custom"] if on_event else ["updates"]
    async for mode, chunk in compiled.astream(
        graph_input, config, context=context, stream_mode=modes, durability="sync"
    ):
        if mode == "custom":
            if on_event is not None and isinstance(chunk, Mapping):
                on_event(chunk)
            continue
        for node, update in chunk.items() if isinstance(chunk, Mapping) else ():
            if on_update is not None and isinstance(update, Mapping):
                on_update(node, update)
    latest: RunnableConfig = {"configurable": {"thread_id": config["configurable"]["thread_id"]}}
    return await compiled.aget_state(latest)  # the newest checkpoint, also after a fork


async def _continuation(
    compiled: PlanloopApp,
    storage: Storage,
    thread_id: str,
    config: RunnableConfig,
    graph_input: GraphInput,
    from_checkpoint: str | None,
) -> GraphInput:
    """What continues a thread: its checkpoint (checked readable and of this graph's shape), a
    fork from `from_checkpoint` (set in `config`), or its goal again when it was killed before
    its first checkpoint."""
    before = await checked_snapshot(compiled, thread_id, from_checkpoint, storage=storage)
    if from_checkpoint and not before.created_at:
        raise UsageError(f"thread {thread_id} has no checkpoint {from_checkpoint!r}")
    check_shape(compiled, before, thread_id)
    if from_checkpoint:
        config["configurable"]["checkpoint_id"] = from_checkpoint
    elif graph_input is None and RunOutcome.from_snapshot(thread_id, before).never_started:
        return InputState(goal=get_record(thread_id, storage.target).goal)
    return graph_input


@contextmanager
def hidden_state(folder: Path) -> Iterator[None]:
    """Hide planloop's state folder from the tools of the runs driven in the block."""
    token = state_folders.set((folder,))
    try:
        yield
    finally:
        state_folders.reset(token)


@contextmanager
def journal_for(storage: Storage) -> Iterator[Journal]:
    """Make the database's side-effect journal the active one for the block."""
    journal = storage.journal()
    token = active_journal.set(journal)
    try:
        yield journal
    finally:
        active_journal.reset(token)
        journal.close()


def tool_servers(context: Context) -> AbstractAsyncContextManager[ExtraTools]:
    """The run's MCP servers, connected for the block (the MCP libraries load only if used)."""
    if not context.mcp_config:
        return nullcontext(ExtraTools())
    from tools.mcp import mcp_servers

    return mcp_servers(context)
