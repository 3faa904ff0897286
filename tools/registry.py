"""Running tools so that every failure becomes an observation, never a crash."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from tools.artifacts import clip
from tools.sanitize import sanitize


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


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "args"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def input_model(tool: BaseTool) -> type[BaseModel]:
    """The pydantic model of a tool's arguments (planloop's tools are all pydantic v2)."""
    return cast(type[BaseModel], tool.get_input_schema())


def validate_args(tool: BaseTool, args: Mapping[str, object]) -> str | None:
    """Check args against the tool's schema; return the problem in one line, or None."""
    schema = input_model(tool)
    try:
        schema.model_validate(dict(args))
    except ValidationError as exc:
        return f"invalid args for {tool.name}: {_describe_validation(exc)}"
    known = set(schema.model_fields)
    unknown = sorted(set(args) - known)
    if unknown:
        return f"invalid args for {tool.name}: unknown argument(s) {', '.join(unknown)}"
    return None


class TransientToolError(Exception):
    """A failure worth retrying (HTTP 5xx, timeouts); anything else fails at once."""


async def run_tool(
    tools: Mapping[str, BaseTool],
    name: str,
    args: Mapping[str, object],
    *,
    limit: int,
    workspace: str,
    thread_id: str,
    retries: int = 2,
    backoff_seconds: float = 0.5,
) -> ToolOutcome:
    """Run one tool call; unknown tools, bad args and tool exceptions become error outcomes.

    Output is sanitised and clipped to `limit` characters (the full text becomes an artifact);
    transient failures are retried with exponential backoff.
    """
    tool = tools.get(name)
    if tool is None:
        return ToolOutcome(False, f"ERROR: unknown tool {name!r}; available: {', '.join(tools)}")
    problem = validate_args(tool, args)
    if problem:
        return ToolOutcome(False, f"ERROR: {problem}")
    ok, raw = False, ""
    for attempt in range(retries + 1):
        try:
            ok, raw = True, str(await tool.ainvoke(dict(args)))
            break
        except TransientToolError as exc:
            raw = f"ERROR: {exc} (after {attempt + 1} attempts)"
            if attempt < retries:
                await asyncio.sleep(backoff_seconds * 2**attempt)
        except Exception as exc:  # a tool failure is an observation for the model
            raw = f"ERROR: {type(exc).__name__}: {exc}"
            break
    observation = clip(sanitize(raw), limit, workspace=workspace, thread_id=thread_id, label=name)
    return ToolOutcome(ok, observation.text, observation.artifacts)
