"""A real MCP server for the tests, written with the `mcp` package's FastMCP.

`python -m tests.mcp_server stdio` serves on stdin/stdout; `python -m tests.mcp_server http`
serves Streamable HTTP on 127.0.0.1 (a free port, printed as `PORT <n>` once it listens).
Effects are appended to the file named by `$MCP_TEST_LOG` (one line per call that acts), so a
test sees how often each one ran, across processes. `--tools N` adds N filler tools (for the
prompt-budget measurement); `--malformed` sends a tool list that breaks the protocol schema;
`--odd-schemas` adds tools whose input schemas are broken (`BROKEN_SCHEMAS`) or have a pattern
that backtracks for ever on a long non-match (`odd_slow_pattern`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from pathlib import Path

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

server = FastMCP("planloop-test")
_counter = {"value": 0}
_release = asyncio.Event()


def _log(line: str) -> None:
    path = os.environ.get("MCP_TEST_LOG")
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(line + "\n")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def lookup(key: str) -> str:
    """Look up the value stored under a key (read-only)."""
    return f"value of {key} is 42"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=True))
def search_web(query: str) -> str:
    """Search a (pretend) outside world; changes nothing."""
    return f"results for {query}: nothing to see"


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def delete_record(record: str) -> str:
    """Delete a record for good."""
    _log(f"delete {record}")
    return f"deleted {record}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, openWorldHint=True))
def post_message(channel: str, text: str) -> str:
    """Post a message to a channel in the outside world."""
    _log(f"post {channel} {text}")
    return f"posted to {channel}"


@server.tool()
def increment() -> str:
    """Add one to this session's counter and return it (no annotations)."""
    _counter["value"] += 1
    _log(f"increment {_counter['value']}")
    return f"counter is {_counter['value']}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def slow() -> str:
    """Wait until `release` is called (a tool that takes long)."""
    await _release.wait()
    return "slow done"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def release() -> str:
    """Let the slow tool finish."""
    _release.set()
    return "released"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def explode(reason: str) -> str:
    """A tool that always fails."""
    raise ValueError(f"exploded: {reason}")


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def crash_server() -> str:
    """Exit the server process in the middle of the call."""
    _log("crash")
    sys.stderr.write("test server: exiting mid-call\n")
    sys.stderr.flush()
    os._exit(3)


def _add_fillers(count: int) -> None:
    for n in range(count):

        def filler(record_id: str, limit: int = 10, note: str = "", n: int = n) -> str:
            return f"filler {n}: {record_id}"

        server.add_tool(
            filler,
            name=f"tool_{n:02d}",
            description=(
                f"Filler tool number {n}: fetches records of kind {n} from the inventory "
                "database, filters them by id and returns at most `limit` rows as a table. "
                "Use it when the goal mentions inventory items of this kind."
            ),
            annotations=ToolAnnotations(readOnlyHint=True),
        )


BROKEN_SCHEMAS = {
    "odd_bad_ref": {"type": "object", "properties": {"q": {"$ref": "#/nope"}}},
    "odd_remote_ref": {"type": "object", "properties": {"q": {"$ref": "http://127.0.0.1:9/q"}}},
    "odd_bad_pattern": {"type": "object", "properties": {"q": {"type": "string", "pattern": "("}}},
    "odd_list_properties": {"type": "object", "properties": []},
    "odd_number_required": {"type": "object", "properties": {"q": {}}, "required": 5},
}
SLOW_PATTERN = "^(a|a)+$"


def _add_odd_schemas() -> None:
    def echo(q: str = "") -> str:
        return f"echo {q}"

    schemas = {
        **BROKEN_SCHEMAS,
        "odd_slow_pattern": {
            "type": "object",
            "properties": {"q": {"type": "string", "pattern": SLOW_PATTERN}},
        },
    }
    for name, schema in schemas.items():
        server.add_tool(echo, name=name, annotations=ToolAnnotations(readOnlyHint=True))
        server._tool_manager._tools[name].parameters = schema  # what list_tools sends


def _break_tool_list() -> None:
    from mcp import types

    async def malformed(_request: types.ListToolsRequest) -> types.ServerResult:
        broken = types.ListToolsResult.model_construct(tools=[{"name": 7}])
        return types.ServerResult(broken)

    server._mcp_server.request_handlers[types.ListToolsRequest] = malformed


def _serve_http() -> None:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=("stdio", "http"))
    parser.add_argument("--tools", type=int, default=0)
    parser.add_argument("--malformed", action="store_true")
    parser.add_argument("--odd-schemas", action="store_true")
    args = parser.parse_args()
    _add_fillers(args.tools)
    if args.odd_schemas:
        _add_odd_schemas()
    if args.malformed:
        _break_tool_list()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        _serve_http()


if __name__ == "__main__":
    main()
