"""One-call Python API: run a goal to its end (or resume a thread), persisted in SQLite or
PostgreSQL (`db` / $PLANLOOP_DB)."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot, StreamMode

from checkpoints import RunRecord, Storage, open_storage
from checkpoints.backend import OWNED_SUBFOLDERS, resolve_target, state_folder
from checkpoints.journal import Journal, active_journal
from graph.builder import build_graph
from graph.integrity import (
    GRAPH_NODES_KEY,
    PlanloopApp,
    check_shape,
    checked_snapshot,
    graph_signature,
)
from nodes.budget import super_step_bound
from nodes.context import Context
from nodes.errors import UsageError
from nodes.llm import check_model_config, embedding_index
from nodes.state import Budget, Criterion, InputState, StepResult
from tools import ExtraTools
from tools.confinement import check_layout, state_folders
from tools.interpreter import InterpreterGuard, load_interpreter
from tools.mcp_config import load_mcp_config
from tools.runner import settle_unfinished

THREAD_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
"""A thread id names the run's folder under planloop-runs/: no separators, no leading dot."""

UpdateHandler = Callable[[str, Mapping[str, object]], None]
"""Called with (node name, the node's state update) as the run streams."""
EventHandler = Callable[[Mapping[str, object]], None]
"""Called with each event nodes write to the custom stream while they work, e.g. a model
call's progress (`{"model_call": {...}}`, see `nodes.streaming`)."""


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


def resolve_db(db: str | os.PathLike[str] | None) -> Path | str:
    """The database: the argument, else $PLANLOOP_DB, else the default under $PLANLOOP_HOME.

    A `postgresql://` URL (returned as a string) selects Postgres; anything else is a SQLite file.
    """
    return resolve_target(db)


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
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id},
        "recursion_limit": super_step_bound(context),
    }
    graph_input: InputState | Command[object] | None = None
    if answers:
        graph_input = Command(resume=dict(answers))
    elif goal is not None:
        graph_input = InputState(goal=goal)
    check_layout(context.workspace, storage.state_folder, OWNED_SUBFOLDERS)
    with (
        storage.thread_lock(thread_id),
        journal_for(storage) as journal,
        hidden_state(storage.state_folder),
    ):
        await asyncio.to_thread(settle_unfinished, journal, thread_id, context.workspace)
        async with (
            storage.checkpointer() as saver,
            storage.store(embedding_index(context)) as store,
            tool_servers(context) as extra_tools,
        ):
            if extra_tools.problems and on_update is not None:
                on_update("tools", {"problems": dict(extra_tools.problems)})
            compiled = build_graph().compile(checkpointer=saver, store=store, name="planloop")
            config["metadata"] = {GRAPH_NODES_KEY: graph_signature(compiled)}
            if goal is None:
                graph_input = await _continuation(
                    compiled, storage, thread_id, config, graph_input, from_checkpoint
                )
            snapshot = await _stream(compiled, graph_input, config, context, on_update, on_event)
    return RunOutcome.from_snapshot(thread_id, snapshot)


async def _stream(
    compiled: PlanloopApp,
    graph_input: InputState | Command[object] | None,
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
    graph_input: InputState | Command[object] | None,
    from_checkpoint: str | None,
) -> InputState | Command[object] | None:
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


def check_tool_settings(context: Context, db: str | os.PathLike[str] | None = None) -> None:
    """Refuse, in one line, an MCP config or interpreter that cannot work or is not safe for a
    run in `context.workspace` with the database `db` (before any run); both are kept as
    absolute paths, so a resume from elsewhere finds them."""
    if context.mcp_config:
        context.mcp_config = str(Path(context.mcp_config).expanduser().resolve())
        load_mcp_config(context.mcp_config)
    if context.python:
        context.python = load_interpreter(context.python, interpreter_guard(context, db)).executable


def interpreter_guard(
    context: Context, db: str | os.PathLike[str] | None = None
) -> InterpreterGuard:
    """What a run's interpreter must keep clear of: its workspace, the state folder of `db`
    (see `tools.interpreter`) and the home folder."""
    return InterpreterGuard.of(context.workspace, [state_folder(resolve_target(db))])


def prepare_run(
    goal: str,
    *,
    thread_id: str | None,
    context: Context,
    db: str | os.PathLike[str] | None,
) -> str:
    """Validate settings, make sure the workspace exists, and register the run; return its id."""
    if not goal.strip():
        raise UsageError("the goal is empty")
    check_model_config(context)
    check_tool_settings(context, db)
    storage = open_storage(db)
    check_layout(context.workspace, storage.state_folder, OWNED_SUBFOLDERS)
    workspace = Path(context.workspace).expanduser()
    workspace.mkdir(parents=True, exist_ok=True)
    context.workspace = str(workspace.resolve())
    chosen = thread_id or uuid.uuid4().hex[:12]
    if not THREAD_ID.fullmatch(chosen):
        raise UsageError(
            f"thread id {chosen!r} may use only letters, digits, '.', '_' and '-' (it names the "
            "run's folder), up to 100 characters, not starting with '.'"
        )
    registry = storage.registry()
    try:
        if registry.get(chosen) is not None:
            raise UsageError(f"thread {chosen!r} already exists; use resume to continue it")
        registry.register(chosen, goal, context.to_settings())
    finally:
        registry.close()
    return chosen


def load_context(thread_id: str, db: str | os.PathLike[str] | None, **overrides: object) -> Context:
    """The settings a thread was started with; explicit overrides are applied and kept."""
    registry = open_storage(db).registry()
    try:
        record = registry.get(thread_id)
        if record is None:
            raise UnknownThreadError(f"no run with thread id {thread_id!r}")
        context = Context.from_settings(record.settings, **overrides)
        check_model_config(context)
        check_tool_settings(context, db)
        if overrides:
            registry.register(thread_id, record.goal, context.to_settings())
    finally:
        registry.close()
    return context


async def arun(
    goal: str,
    *,
    context: Context | None = None,
    thread_id: str | None = None,
    db: str | os.PathLike[str] | None = None,
    on_update: UpdateHandler | None = None,
    on_event: EventHandler | None = None,
) -> RunOutcome:
    """Run a goal to its end and return the outcome (async)."""
    context = context or Context()
    chosen = prepare_run(goal, thread_id=thread_id, context=context, db=db)
    return await drive(chosen, context, goal=goal, db=db, on_update=on_update, on_event=on_event)


async def aresume(
    thread_id: str,
    *,
    db: str | os.PathLike[str] | None = None,
    on_update: UpdateHandler | None = None,
    answers: Mapping[str, object] | None = None,
    on_event: EventHandler | None = None,
    **overrides: object,
) -> RunOutcome:
    """Continue a stopped or paused thread from its last checkpoint (async).

    A thread killed before its first checkpoint starts again from its goal. A paused run needs
    `answers`: interrupt id -> resume value, one per pending approval.
    """
    context = load_context(thread_id, db, **overrides)
    return await drive(
        thread_id,
        context,
        goal=None,
        db=db,
        on_update=on_update,
        answers=answers,
        on_event=on_event,
    )


def run(
    goal: str,
    *,
    workspace: str | os.PathLike[str] = ".",
    thread_id: str | None = None,
    db: str | os.PathLike[str] | None = None,
    **settings: object,
) -> RunOutcome:
    """Run a goal to its end: `planloop.run("write hello.txt", workspace="out")`."""
    context = Context(workspace=str(workspace), **settings)  # type: ignore[arg-type]
    return asyncio.run(arun(goal, context=context, thread_id=thread_id, db=db))


def resume(
    thread_id: str,
    *,
    db: str | os.PathLike[str] | None = None,
    answers: Mapping[str, object] | None = None,
    **overrides: object,
) -> RunOutcome:
    """Continue a stopped or paused thread from its last checkpoint."""
    return asyncio.run(
        aresume(thread_id, db=db, on_update=None, answers=answers, on_event=None, **overrides)
    )
