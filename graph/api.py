"""One-call Python API: run a goal to its end (or resume a thread), persisted in SQLite or
PostgreSQL (`db` / $PLANLOOP_DB).

`prepare_run` checks the settings and registers a run, `load_context` reads a thread's settings
back; driving the graph is `graph.drive`, a thread's record and outcome `graph.outcome` (both
re-exported here, where callers have always found them).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from checkpoints import open_storage
from checkpoints.backend import OWNED_SUBFOLDERS, resolve_target, state_folder
from graph.drive import EventHandler, UpdateHandler, drive
from graph.outcome import RunOutcome, UnknownThreadError, get_record
from nodes.context import Context
from nodes.errors import UsageError
from nodes.model_factory import check_model_config
from tools.confinement import check_layout
from tools.interpreter import InterpreterGuard, load_interpreter
from tools.mcp_config import load_mcp_config

__all__ = [  # the API, with what moved to graph.drive and graph.outcome
    "THREAD_ID",
    "EventHandler",
    "RunOutcome",
    "UnknownThreadError",
    "UpdateHandler",
    "aresume",
    "arun",
    "check_tool_settings",
    "drive",
    "get_record",
    "interpreter_guard",
    "load_context",
    "prepare_run",
    "resolve_db",
    "resume",
    "run",
]

THREAD_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
"""A thread id names the run's folder under planloop-runs/: no separators, no leading dot."""


def resolve_db(db: str | os.PathLike[str] | None) -> Path | str:
    """The database: the argument, else $PLANLOOP_DB, else the default under $PLANLOOP_HOME.

    A `postgresql://` URL (returned as a string) selects Postgres; anything else is a SQLite file.
    """
    return resolve_target(db)


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
