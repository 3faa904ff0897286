"""Running tools so that every failure becomes an observation, never a crash.

`run_tool` is the entry point: it checks the call (`tools.validation`), makes it with retries,
through the journal when it has side effects (`tools.journaled`), and clips what it returns.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from langchain_core.tools import BaseTool

from checkpoints.journal import active_journal, idempotency_key
from tools.artifacts import clip
from tools.journaled import Action, at_most_once, settle_unfinished
from tools.sanitize import sanitize
from tools.validation import args_json_schema, input_model, schema_problem, validate_args

__all__ = [  # settle_unfinished and the validation helpers are still imported from here
    "ToolOutcome",
    "TransientToolError",
    "action_fingerprint",
    "args_json_schema",
    "input_model",
    "run_tool",
    "schema_problem",
    "settle_unfinished",
    "validate_args",
]


@dataclass(frozen=True)
class ToolOutcome:
    """The observation a tool call produced."""

    ok: bool
    """False when the tool raised, or the call was invalid."""
    text: str
    """The tool's output (sanitised, clipped), or an `ERROR: ...` line."""
    artifacts: list[str] = field(default_factory=list)
    """Workspace-relative files holding full outputs that were clipped."""


def action_fingerprint(tool_name: str, args: Mapping[str, object]) -> str:
    """A stable key for 'the same action': tool name plus canonical JSON of its args."""
    canonical = json.dumps(args, sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.sha256(f"{tool_name}\x00{canonical}".encode()).hexdigest()[:16]
    return f"{tool_name}:{digest}"


class TransientToolError(Exception):
    """A failure worth retrying (HTTP 5xx, timeouts); anything else fails at once."""


async def _invoke(
    tool: BaseTool, args: Mapping[str, object], retries: int, backoff: float
) -> tuple[bool, str]:
    """Call the tool, retrying transient failures; any failure becomes an ERROR text."""
    raw = ""
    for attempt in range(retries + 1):
        try:
            return True, str(await tool.ainvoke(dict(args)))
        except TransientToolError as exc:
            raw = f"ERROR: {exc} (after {attempt + 1} attempts)"
            if attempt < retries:
                await asyncio.sleep(backoff * 2**attempt)
        except Exception as exc:  # a tool failure is an observation for the model
            return False, f"ERROR: {type(exc).__name__}: {exc}"
    return False, raw


async def run_tool(
    tools: Mapping[str, BaseTool],
    name: str,
    args: Mapping[str, object],
    *,
    limit: int,
    workspace: str,
    thread_id: str,
    step_id: str = "",
    side_effect: bool = False,
    rerun_after_crash: bool = True,
    retries: int = 2,
    backoff_seconds: float = 0.5,
) -> ToolOutcome:
    """Run one tool call; unknown tools, bad args and tool exceptions become error outcomes.

    Output is sanitised and clipped to `limit` characters (the full text becomes an artifact);
    transient failures are retried with exponential backoff. Side-effecting calls go through
    the run's journal (when one is active), so a replayed step never acts twice; a call
    interrupted by a crash is repeated only when `rerun_after_crash` allows it.
    """
    tool = tools.get(name)
    if tool is None:
        return ToolOutcome(False, f"ERROR: unknown tool {name!r}; available: {', '.join(tools)}")
    if isinstance(tool.args_schema, dict):  # an outside schema: its patterns may be slow
        problem = await asyncio.to_thread(validate_args, tool, args)
    else:  # a pydantic model of our own or the host's: microseconds, no thread hop
        problem = validate_args(tool, args)
    if problem:
        return ToolOutcome(False, f"ERROR: {problem}")
    make = functools.partial(_invoke, tool, args, retries, backoff_seconds)
    journal = active_journal.get()
    if side_effect and journal is not None:
        key = idempotency_key(thread_id, step_id, name, args)
        action = Action(key, tool.name, args, workspace, thread_id, step_id)
        ok, raw = await at_most_once(journal, action, make, rerun_after_crash=rerun_after_crash)
    else:
        ok, raw = await make()
    text = sanitize(raw)
    if len(text) <= limit:  # nothing to save: no file system, no thread hop
        return ToolOutcome(ok, text)
    observation = await asyncio.to_thread(
        clip, text, limit, workspace=workspace, thread_id=thread_id, label=name
    )
    return ToolOutcome(ok, observation.text, observation.artifacts)
