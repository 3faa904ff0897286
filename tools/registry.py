"""Running tools so that every failure becomes an observation, never a crash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class ToolOutcome:
    """The observation a tool call produced."""

    ok: bool
    """False when the tool raised, or the call was invalid."""
    text: str
    """The tool's output, or an `ERROR: ...` line."""


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


def truncate(text: str, limit: int) -> str:
    """Cut text to `limit` characters with a visible marker."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... truncated {len(text) - limit} of {len(text)} characters]"


async def run_tool(
    tools: Mapping[str, BaseTool], name: str, args: Mapping[str, object], limit: int
) -> ToolOutcome:
    """Run one tool call; unknown tools, bad args and tool exceptions become error outcomes."""
    tool = tools.get(name)
    if tool is None:
        return ToolOutcome(False, f"ERROR: unknown tool {name!r}; available: {', '.join(tools)}")
    problem = validate_args(tool, args)
    if problem:
        return ToolOutcome(False, f"ERROR: {problem}")
    try:
        result = await tool.ainvoke(dict(args))
    except Exception as exc:  # a tool failure is an observation for the model
        return ToolOutcome(False, truncate(f"ERROR: {type(exc).__name__}: {exc}", limit))
    return ToolOutcome(True, truncate(str(result), limit))
