"""MCP servers as planloop tools: one session per server for the whole run, each tool declared
with a risk class taken from the server's own annotations (or the config's override).

The protocol is the official `mcp` SDK; langchain-mcp-adapters turns the server's tool list
into LangChain tools (pagination, content conversion). Each server's session lives in a task of
its own, so a server that dies can only end that task: its tools then answer with an error
observation, and the run goes on (and stays resumable; a resume connects again).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, TextIO, cast

import httpx
from langchain_core.tools import BaseTool, StructuredTool
from langchain_mcp_adapters.tools import load_mcp_tools
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from nodes.context import Context
from nodes.state import Risk
from tools import BUILTIN_TOOLS, ExtraTools, ToolSpec, offered
from tools.mcp_config import ServerConfig, load_mcp_config
from tools.sanitize import sanitize, wrap_untrusted
from tools.specs import RISKIEST
from tools.validation import schema_problem

STDERR_TAIL_CHARS = 300
MAX_TOOL_NAME = 64
"""Longest tool name chat models accept (OpenAI: ^[a-zA-Z0-9_-]{1,64}$)."""
_ENV_REFERENCE = re.compile(r"\$\{([^}]+)\}")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class McpServerDownError(RuntimeError):
    """The server of an MCP tool is not running (it failed to start or died)."""


class McpToolError(RuntimeError):
    """An MCP tool call failed; the message is the server's, delimited as untrusted unless the
    server is trusted."""


def server_text(source: str, text: str, *, trusted: bool, one_line: bool = False) -> str:
    """Text a server wrote (an error message, its stderr, its schema) from `source`, sanitised
    and, unless the server is trusted, inside the same untrusted delimiters as its tools'
    output (`one_line`: joined into one line, for messages listed one per line)."""
    clean = sanitize(text)
    if trusted:
        return clean
    wrapped = wrap_untrusted(source, clean, origin="an MCP server")
    return " ".join(wrapped.splitlines()) if one_line else wrapped


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


def _expanded(value: str) -> str:
    """`${VAR}` replaced from the environment (other text kept as written)."""
    return _ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1), m.group(0)), value)


def _tail(log: IO[str] | None) -> str:
    """The last line the server wrote to stderr (why it failed, usually)."""
    if log is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        log.flush()
        log.seek(0)
        lines = [line.strip() for line in log.read().splitlines() if line.strip()]
        return sanitize(lines[-1])[:STDERR_TAIL_CHARS] if lines else ""
    return ""


def _one_line(exc: BaseException) -> str:
    """An exception (or an exception group's first leaf) as one short line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:STDERR_TAIL_CHARS]


@dataclass
class McpServer:
    """A connected (or failed) server and its session, kept for one run."""

    config: ServerConfig
    session: ClientSession | None = None
    down: str = ""
    """Why the server cannot be used ('' while it can)."""
    log: IO[str] | None = None
    """The stdio server's stderr (a temporary file), read for error messages."""

    def said(self, text: str, what: str = "error") -> str:
        """Text the server or its transport produced (it may quote the server), as one line of
        untrusted data unless the server is trusted."""
        source = f"mcp:{self.config.name}/{what}"
        return server_text(source, text, trusted=self.config.trusted, one_line=True)

    def mark_down(self, why: str) -> None:
        """Record that the server stopped working, with the last thing it said (untrusted)."""
        if not self.down:
            tail = _tail(self.log)
            said = self.said(tail, "stderr") if tail else ""
            self.down = why + (f" (server said: {said})" if said else "")

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[ClientSession]:
        config = self.config
        read_timeout = timedelta(seconds=config.timeout_seconds)
        async with AsyncExitStack() as stack:
            if config.transport == "stdio":
                params = StdioServerParameters(
                    command=config.command,
                    args=list(config.args),
                    env={k: _expanded(v) for k, v in config.env.items()} if config.env else None,
                    cwd=config.cwd,
                )
                errlog = cast(TextIO, self.log) if self.log is not None else sys.stderr
                read, write = await stack.enter_async_context(stdio_client(params, errlog))
            else:
                client = await stack.enter_async_context(
                    create_mcp_http_client(
                        headers={k: _expanded(v) for k, v in config.headers.items()},
                        timeout=httpx.Timeout(config.timeout_seconds),
                    )
                )
                read, write, _ = await stack.enter_async_context(
                    streamable_http_client(config.url, http_client=client)
                )
            session = await stack.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=read_timeout)
            )
            yield session

    async def keep(self, ready: asyncio.Future[list[BaseTool]], stop: asyncio.Event) -> None:
        """The server's own task: connect, list its tools, hold the session until `stop`."""
        try:
            async with self._open() as session:
                await session.initialize()
                # Errors raise (ToolException), so run_tool records them as failed calls.
                tools = await load_mcp_tools(
                    session, server_name=self.config.name, handle_tool_errors=False
                )
                self.session = session
                ready.set_result(tools)
                await stop.wait()
        except Exception as exc:  # whatever the server or transport did: the server is down
            name = self.config.name
            if not ready.done():
                self.mark_down(f"MCP server {name} failed to start: {self.said(_one_line(exc))}")
                ready.set_exception(exc)
            else:
                self.mark_down(f"MCP server {name} stopped: {self.said(_one_line(exc))}")
        finally:
            self.session = None
            if not self.down:
                self.down = f"MCP server {self.config.name} was closed"


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
                server.mark_down(
                    f"MCP server {server.config.name} died: {server.said(_one_line(exc))}"
                )
                raise McpServerDownError(server.down) from None
            # The server's own words (a ToolException, a protocol error): outside content.
            source = f"mcp:{server.config.name}/{remote.name}"
            said = server_text(
                source, str(exc) or type(exc).__name__, trusted=server.config.trusted
            )
            raise McpToolError(said) from None
        text = _text_of(content)
        if server.config.trusted:
            return text
        source = f"mcp:{server.config.name}/{remote.name}"
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


@dataclass
class McpConnection:
    """The run's connected servers: their tools, and the problems of those that failed."""

    servers: list[McpServer]
    extra: ExtraTools


async def _connect(
    server: McpServer, tasks: list[tuple[asyncio.Task[None], asyncio.Event]]
) -> tuple[list[ToolSpec], str]:
    """Start one server's task and wait for its tool list; (specs, '') or ([], problem)."""
    ready: asyncio.Future[list[BaseTool]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    tasks.append((asyncio.create_task(server.keep(ready, stop)), stop))
    try:
        remote = await asyncio.wait_for(asyncio.shield(ready), server.config.timeout_seconds)
    except TimeoutError:
        stop.set()
        server.mark_down(f"MCP server {server.config.name} did not start within "
                         f"{server.config.timeout_seconds:g}s")  # fmt: skip
        return [], server.down
    except Exception as exc:
        server.mark_down(
            f"MCP server {server.config.name} failed to start: {server.said(_one_line(exc))}"
        )
        return [], server.down
    return [spec_for(server, tool) for tool in remote], ""


def _usable(specs: list[ToolSpec], problems: dict[str, str]) -> list[ToolSpec]:
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
    tasks: list[tuple[asyncio.Task[None], asyncio.Event]] = []
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
            extra = ExtraTools(specs=tuple(_usable(specs, problems)), problems=problems)
            with offered(extra):
                yield extra
        finally:
            await _close(tasks)


async def _close(tasks: list[tuple[asyncio.Task[None], asyncio.Event]]) -> None:
    """Stop every server task; one that does not stop in time is cancelled."""
    for _, stop in tasks:
        stop.set()
    for task, _ in tasks:
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except Exception:  # already reported as the server being down
            continue
