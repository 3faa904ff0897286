"""The MCP config file: the `{"mcpServers": {...}}` JSON other MCP clients read, plus planloop's
per-server `risk` and `trust` overrides. Bad input is a one-line `McpConfigError`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast, get_args

from nodes.errors import UsageError
from nodes.state import Risk

SERVER_NAME = re.compile(r"^[A-Za-z0-9-]{1,32}$")
"""Server names prefix tool names, which models accept only as [A-Za-z0-9_-]{1,64}."""
RISKS: tuple[str, ...] = get_args(Risk)
DEFAULT_TIMEOUT_SECONDS = 60.0


class McpConfigError(UsageError):
    """The MCP config file cannot be used (the message is one line)."""


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server: how to reach it and how far to trust it."""

    name: str
    """Its name in the config; its tools are called `<name>_<tool>`."""
    command: str = ""
    """stdio: the program to start."""
    args: tuple[str, ...] = ()
    """stdio: its arguments."""
    env: Mapping[str, str] | None = None
    """stdio: extra environment (`${VAR}` is expanded); the rest is a minimal safe set."""
    cwd: str | None = None
    """stdio: its working directory."""
    url: str = ""
    """Streamable HTTP: the endpoint."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Streamable HTTP: headers sent with every request (`${VAR}` is expanded)."""
    risk: Mapping[str, Risk] = field(default_factory=dict)
    """Risk class overrides by tool name (unprefixed); `*` applies to every tool of the server."""
    trusted: bool = False
    """True when the user trusts the server's output (default: outside content, untrusted)."""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    """Longest wait for the server to start, or for one call."""

    @property
    def transport(self) -> str:
        """`stdio` or `streamable_http`."""
        return "streamable_http" if self.url else "stdio"


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise McpConfigError(f"{what} must be a list of strings")
    return tuple(value)


def _string_map(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise McpConfigError(f"{what} must be an object of strings")
    return dict(value)


def _risks(value: object, where: str) -> dict[str, Risk]:
    if isinstance(value, str):
        value = {"*": value}
    if not isinstance(value, dict):
        raise McpConfigError(f"{where}.risk must be a risk class or an object tool -> risk class")
    for tool, risk in value.items():
        if risk not in RISKS:
            raise McpConfigError(
                f"{where}.risk[{tool!r}] must be one of {', '.join(RISKS)}, not {risk!r}"
            )
    return cast(dict[str, Risk], value)


def _trusted(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("trusted", "untrusted"):
        return value == "trusted"
    raise McpConfigError(f'{where}.trust must be "trusted" or "untrusted", not {value!r}')


def parse_server(name: str, entry: object) -> ServerConfig:
    """One `mcpServers` entry, checked."""
    where = f"mcpServers.{name}"
    if not SERVER_NAME.match(name):
        raise McpConfigError(f"server name {name!r} must be 1-32 letters, digits or '-'")
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where} must be an object")
    command, url = entry.get("command"), entry.get("url")
    if bool(command) == bool(url):
        raise McpConfigError(f"{where} needs either 'command' (stdio) or 'url' (HTTP)")
    if command is not None and not isinstance(command, str):
        raise McpConfigError(f"{where}.command must be a string")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https"))):
        raise McpConfigError(f"{where}.url must be an http:// or https:// URL")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise McpConfigError(f"{where}.timeout must be a positive number of seconds")
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise McpConfigError(f"{where}.cwd must be a string")
    return ServerConfig(
        name=name,
        command=command or "",
        args=_strings(entry.get("args", []), f"{where}.args"),
        env=_string_map(entry["env"], f"{where}.env") if entry.get("env") is not None else None,
        cwd=cwd,
        url=url or "",
        headers=_string_map(entry.get("headers", {}), f"{where}.headers"),
        risk=_risks(entry.get("risk", {}), where),
        trusted=_trusted(entry.get("trust", "untrusted"), where),
        timeout_seconds=float(timeout),
    )


def load_mcp_config(path: str | Path) -> list[ServerConfig]:
    """The servers a config file names; `McpConfigError` for a missing or malformed file."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise McpConfigError(f"cannot read MCP config {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"MCP config {path} is not valid JSON: {exc}") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpConfigError(f'MCP config {path} needs an object "mcpServers"')
    try:
        return [parse_server(name, entry) for name, entry in servers.items()]
    except McpConfigError as exc:
        raise McpConfigError(f"MCP config {path}: {exc}") from None
