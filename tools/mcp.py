"""MCP servers as planloop tools: one session per server for the whole run, each tool declared
with a risk class taken from the server's own annotations (or the config's override).

The protocol is the official `mcp` SDK; langchain-mcp-adapters turns the server's tool list
into LangChain tools (pagination, content conversion). Each server's session lives in a task of
its own, so a server that dies can only end that task: its tools then answer with an error
observation, and the run goes on (and stays resumable; a resume connects again).

`mcp_servers` is the entry point; a server's session is `tools.mcp_session`, and turning its
tools into planloop's is `tools.mcp_tools`.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from nodes.context import Context
from tools import ExtraTools, ToolSpec, offered
from tools.mcp_config import load_mcp_config
from tools.mcp_session import McpServer, ServerTasks, close, start
from tools.mcp_tools import planloop_name, risk_from_annotations, spec_for, usable

__all__ = [  # the tool conversion's names are still imported from here
    "McpConnection",
    "mcp_servers",
    "planloop_name",
    "risk_from_annotations",
]


@dataclass
class McpConnection:
    """The run's connected servers: their tools, and the problems of those that failed."""

    servers: list[McpServer]
    extra: ExtraTools


async def _connect(server: McpServer, tasks: ServerTasks) -> tuple[list[ToolSpec], str]:
    """Start one server's task and wait for its tool list; (specs, '') or ([], problem)."""
    remote, problem = await start(server, tasks)
    if problem:
        return [], problem
    return [spec_for(server, tool) for tool in remote], ""


@asynccontextmanager
async def mcp_servers(context: Context) -> AsyncIterator[ExtraTools]:
    """Connect the servers of `context.mcp_config` for the block and offer their tools.

    A bad config file raises `McpConfigError` (one line) before anything starts; a server that
    fails is reported in `ExtraTools.problems` and its tools are left out. Sessions close when
    the block ends.
    """
    if not context.mcp_config:
        yield ExtraTools()
        return
    configs = load_mcp_config(context.mcp_config)
    servers = [McpServer(config) for config in configs]
    tasks: ServerTasks = []
    with contextlib.ExitStack() as logs:
        for server in servers:
            if server.config.transport == "stdio":
                server.log = logs.enter_context(
                    tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
                )
        try:
            found = await asyncio.gather(*(_connect(server, tasks) for server in servers))
            specs: list[ToolSpec] = []
            problems: dict[str, str] = {}
            for server, (server_specs, problem) in zip(servers, found, strict=True):
                specs += server_specs
                if problem:
                    problems[f"mcp:{server.config.name}"] = problem
            extra = ExtraTools(specs=tuple(usable(specs, problems)), problems=problems)
            with offered(extra):
                yield extra
        finally:
            await close(tasks)
