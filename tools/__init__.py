"""Tools the executor can call, with their side-effect class and one safe way to run them."""

from __future__ import annotations

import os

from langchain_core.tools import BaseTool

from nodes.context import Context
from nodes.state import Risk
from tools.files import append_file, edit_file, list_files, read_file, write_file
from tools.python_tool import run_python
from tools.registry import (
    ToolOutcome,
    TransientToolError,
    action_fingerprint,
    input_model,
    run_tool,
    validate_args,
)
from tools.web import fetch_url, web_search

TOOLS: list[BaseTool] = [
    read_file,
    list_files,
    write_file,
    append_file,
    edit_file,
    run_python,
    web_search,
    fetch_url,
]
"""Every tool planloop offers, in the order the planner sees them."""

TOOL_RISK: dict[str, Risk] = {
    "read_file": "read_only",
    "list_files": "read_only",
    "write_file": "writes_workspace",
    "append_file": "writes_workspace",
    "edit_file": "writes_workspace",
    "run_python": "executes_code",
    "web_search": "network",
    "fetch_url": "network",
}
"""Side-effect class of each tool (SPEC section 2); a step inherits its tool's class."""

UNTRUSTED_OUTPUT_TOOLS = frozenset({"web_search", "fetch_url"})
"""Tools whose output is web content: data, never instructions (and it taints later steps)."""

NEEDS_ENV: dict[str, str] = {"web_search": "TAVILY_API_KEY"}
"""Tools that exist only when an environment variable (their API key) is set."""


def tools_for(context: Context) -> dict[str, BaseTool]:
    """The tools this run can use, by name (a tool whose API key is missing is left out)."""
    del context  # every tool is usable with any settings; kept for settings-gated tools
    return {
        t.name: t for t in TOOLS if not NEEDS_ENV.get(t.name) or os.environ.get(NEEDS_ENV[t.name])
    }


def unavailable_tools() -> dict[str, str]:
    """Tools left out of this run, with the reason to tell the planner."""
    return {
        name: f"{variable} is not set"
        for name, variable in NEEDS_ENV.items()
        if not os.environ.get(variable)
    }


__all__ = [
    "TOOLS",
    "TOOL_RISK",
    "UNTRUSTED_OUTPUT_TOOLS",
    "ToolOutcome",
    "TransientToolError",
    "action_fingerprint",
    "input_model",
    "run_tool",
    "tools_for",
    "unavailable_tools",
    "validate_args",
]
