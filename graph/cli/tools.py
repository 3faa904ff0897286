"""`planloop tools`: every tool a run would have, with its source, risk class and availability."""

from __future__ import annotations

import argparse
import asyncio

from graph.api import check_tool_settings, interpreter_guard
from graph.cli.progress import clean
from graph.drive import tool_servers
from nodes.context import Context
from tools import all_specs, unavailable_tools
from tools.interpreter import interpreter_note


def tool_rows(context: Context) -> list[tuple[str, str, str, str]]:
    """(name, source, risk, availability) of every tool, then of every missing tool source."""
    missing = unavailable_tools(context)
    rows = []
    for name, spec in all_specs(context).items():
        risk = spec.effective_risk + (", journaled" if spec.side_effects else "")
        risk += ", untrusted output" if spec.untrusted else ""
        rows.append((name, spec.source, risk, f"unavailable: {missing[name]}" if name in missing
                     else "available"))  # fmt: skip
    listed = {row[0] for row in rows}
    rows += [(source, source, "-", f"unavailable: {why}") for source, why in missing.items()
             if source not in listed]  # fmt: skip
    return rows


async def _rows(context: Context) -> list[tuple[str, str, str, str]]:
    async with tool_servers(context):
        return tool_rows(context)


def cmd_tools(args: argparse.Namespace, _overrides: dict[str, object]) -> int:
    """Print the tool table (MCP servers are started to list their tools, then stopped)."""
    context = Context(workspace=".")
    if args.mcp:
        context.mcp_config = args.mcp
    if args.python:
        context.python = args.python
    check_tool_settings(context)
    rows = asyncio.run(_rows(context))
    widths = [max(len(row[i]) for row in [("tool", "source", "risk", ""), *rows]) for i in range(3)]
    print(f"{'tool':<{widths[0]}}  {'source':<{widths[1]}}  {'risk':<{widths[2]}}  availability")
    for name, source, risk, availability in rows:
        line = f"{name:<{widths[0]}}  {source:<{widths[1]}}  {risk:<{widths[2]}}  {availability}"
        print(clean(line))
    print(clean(interpreter_note(context.python, interpreter_guard(context))))
    return 0
