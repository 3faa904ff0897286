"""An MCP server's tools as planloop tools: each under planloop's name (`<server>_<tool>`), with
text output, a timeout, and a risk class from the server's own annotations (or the config's
override); a tool whose name is taken or whose input schema is broken is left out (`usable`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from nodes.state import Risk
from tools import BUILTIN_TOOLS, ToolSpec
from tools.mcp_session import McpServer, server_text
from tools.sanitize import sanitize, wrap_untrusted
from tools.specs import RISKIEST
from tools.validation import schema_problem

MAX_TOOL_NAME = 64
"""Longest tool name chat models accept (OpenAI: ^[a-zA-Z0-9_-]{1,64}$)."""
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class McpServerDownError(RuntimeError):
    """The server of an MCP tool is not running (it failed to start or died)."""


class McpToolError(RuntimeError):
    """An MCP tool call failed; the message is the server's, delimited as untrusted unless the
    server is trusted."""


def risk_from_annotations(annotations: Mapping[str, Any] | None) -> tuple[Risk, bool]:
    """(risk class, acts) from a tool's MCP annotations.

    `readOnlyHint` -> read_only (network if also `openWorldHint`: it reads the outside world,
    changing nothing); `destructiveHint`, `openWorldHint` or no annotations -> the riskiest
    class, acting. Hints are the server's claims; the config's `risk` overrides them.
    """
    hints = dict(annotations or {})
    if hints.get("readOnlyHint") is True and hints.get("destructiveHint") is not True:
        return ("network" if hints.get("openWorldHint") is True else "read_only"), False
    return RISKIEST, True


def _text_of(content: object) -> str:
    """An MCP result's content blocks as text (images and files are named, not inlined)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict):
            what = block.get("mime_type") or block.get("url") or "data"
            parts.append(f"[{block.get('type', 'content')}: {what}, not shown]")
        else:
            parts.append(str(block))
    return "\n".join(parts) or "(no output)"


def _planloop_tool(server: McpServer, remote: BaseTool, name: str) -> BaseTool:
    """The server's tool under planloop's name: text output, a timeout, and a dead server as
    an error (which `run_tool` turns into an observation)."""
    timeout = server.config.timeout_seconds
    source = f"mcp:{server.config.name}/{remote.name}"  # what the server's words are tagged with

    async def call(**arguments: Any) -> str:
        if server.down or server.session is None:
            raise McpServerDownError(server.down or f"MCP server {server.config.name} is down")
        try:
            content = await asyncio.wait_for(remote.ainvoke(arguments), timeout)
        except TimeoutError:
            raise TimeoutError(f"{name} gave no answer within {timeout:g}s") from None
        except Exception as exc:
            code = getattr(getattr(exc, "error", None), "code", None)
            if code == -32000 or server.down:  # CONNECTION_CLOSED: the server went away
                server.mark_failed("died", exc)
                raise McpServerDownError(server.down) from None
            # The server's own words (a ToolException, a protocol error): outside content.
            said = server_text(
                source, str(exc) or type(exc).__name__, trusted=server.config.trusted
            )
            raise McpToolError(said) from None
        text = _text_of(content)
        if server.config.trusted:
            return text
        return wrap_untrusted(source, sanitize(text), origin="an MCP server")

    return StructuredTool(
        name=name,
        description=remote.description,
        args_schema=remote.args_schema or {"type": "object", "properties": {}},
        coroutine=call,
        metadata=remote.metadata,
    )


def planloop_name(server: str, tool: str) -> str:
    """`<server>_<tool>`, with characters models refuse in tool names replaced by `_`."""
    return f"{server}_{_NAME_UNSAFE.sub('_', tool)}"


def spec_for(server: McpServer, remote: BaseTool) -> ToolSpec:
    """A server's tool as a registry entry: its risk from its annotations or the config."""
    config = server.config
    name = planloop_name(config.name, remote.name)
    risk, acts = risk_from_annotations(remote.metadata)
    override = config.risk.get(remote.name) or config.risk.get("*")
    if override is not None:
        risk, acts = override, override != "read_only"
    idempotent = bool((remote.metadata or {}).get("idempotentHint"))
    return ToolSpec(
        tool=_planloop_tool(server, remote, name),
        risk=risk,
        acts=acts,
        untrusted_output=not config.trusted,
        source=f"mcp:{config.name}",
        rerun_after_crash=idempotent or not acts,
        health=lambda: server.down,
    )


def usable(specs: list[ToolSpec], problems: dict[str, str]) -> list[ToolSpec]:
    """The specs whose names are valid and free and whose input schemas can check their args
    (see `schema_problem`); the others become problems."""
    taken = {spec.name for spec in BUILTIN_TOOLS}
    kept = []
    for spec in specs:
        if len(spec.name) > MAX_TOOL_NAME or spec.name in taken:
            why = "too long" if len(spec.name) > MAX_TOOL_NAME else "already taken"
            problems[f"{spec.source}/{spec.name}"] = f"left out: the name {spec.name} is {why}"
            continue
        broken = schema_problem(spec.tool.args_schema)
        if broken:  # the message quotes the server's schema: outside content
            said = server_text(
                f"{spec.source}/schema", broken, trusted=not spec.untrusted, one_line=True
            )
            problems[f"{spec.source}/{spec.name}"] = f"left out: its input schema is broken: {said}"
            continue
        taken.add(spec.name)
        kept.append(spec)
    return kept
