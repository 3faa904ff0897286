"""Tools the executor can call, with their side-effect class and one safe way to run them."""

from __future__ import annotations

from langchain_core.tools import BaseTool

from nodes.state import Risk
from tools.files import append_file, edit_file, list_files, read_file, write_file
from tools.registry import ToolOutcome, action_fingerprint, input_model, run_tool, validate_args

TOOLS: list[BaseTool] = [read_file, list_files, write_file, append_file, edit_file]
"""Every tool planloop offers, in the order the planner sees them."""

TOOL_RISK: dict[str, Risk] = {
    "read_file": "read_only",
    "list_files": "read_only",
    "write_file": "writes_workspace",
    "append_file": "writes_workspace",
    "edit_file": "writes_workspace",
}
"""Side-effect class of each tool (SPEC section 2); a step inherits its tool's class."""

TOOLS_BY_NAME: dict[str, BaseTool] = {t.name: t for t in TOOLS}

__all__ = [
    "TOOLS",
    "TOOLS_BY_NAME",
    "TOOL_RISK",
    "ToolOutcome",
    "action_fingerprint",
    "input_model",
    "run_tool",
    "validate_args",
]
