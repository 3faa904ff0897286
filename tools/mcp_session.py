"""One MCP server's connection for a run: its session, opened over stdio or streamable HTTP and
held in a task of its own (`McpServer.keep`) until the run ends, and why it is down when it is.

A server that dies can only end its own task; what it or its transport said is outside content
(`server_text`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, TextIO, cast

import httpx
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.tools import load_mcp_tools
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tools.mcp_config import ServerConfig
from tools.sanitize import sanitize, wrap_untrusted

STDERR_TAIL_CHARS = 300
_ENV_REFERENCE = re.compile(r"\$\{([^}]+)\}")

ServerTasks = list[tuple[asyncio.Task[None], asyncio.Event]]
"""The run's server tasks, each with the event that tells it to close its session."""


def server_text(source: str, text: str, *, trusted: bool, one_line: bool = False) -> str:
    """Text a server wrote (an error message, its stderr, its schema) from `source`, sanitised
    and, unless the server is trusted, inside the same untrusted delimiters as its tools'
    output (`one_line`: joined into one line, for messages listed one per line)."""
    clean = sanitize(text)
    if trusted:
        return clean
    wrapped = wrap_untrusted(source, clean, origin="an MCP server")
    return " ".join(wrapped.splitlines()) if one_line else wrapped


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

    def mark_failed(self, what: str, exc: BaseException) -> None:
        """`mark_down` for an exception: `MCP server <name> <what>: <the exception>`."""
        self.mark_down(f"MCP server {self.config.name} {what}: {self.said(_one_line(exc))}")

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
            if not ready.done():
                self.mark_failed("failed to start", exc)
                ready.set_exception(exc)
            else:
                self.mark_failed("stopped", exc)
        finally:
            self.session = None
            if not self.down:
                self.down = f"MCP server {self.config.name} was closed"


async def start(server: McpServer, tasks: ServerTasks) -> tuple[list[BaseTool], str]:
    """Start one server's task (added to `tasks`) and wait for its tool list; (tools, '') or
    ([], problem)."""
    ready: asyncio.Future[list[BaseTool]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    tasks.append((asyncio.create_task(server.keep(ready, stop)), stop))
    try:
        return await asyncio.wait_for(asyncio.shield(ready), server.config.timeout_seconds), ""
    except TimeoutError:
        stop.set()
        server.mark_down(f"MCP server {server.config.name} did not start within "
                         f"{server.config.timeout_seconds:g}s")  # fmt: skip
        return [], server.down
    except Exception as exc:
        server.mark_failed("failed to start", exc)
        return [], server.down


async def close(tasks: ServerTasks) -> None:
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
