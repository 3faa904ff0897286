"""The tool registry: every tool a run can use, each declared once as a `ToolSpec`.

planloop's own tools are `BUILTIN_TOOLS`; tools from MCP servers (see `tools.mcp`) join for the
run that connected them, through `offered`. Every question about a tool (is it available, how
risky, journaled, trusted) is answered from its spec, and a tool without a declared risk is the
riskiest class.

Where the rest lives:
- the tools: `tools.files` (read/write/append/edit/list), `tools.python_tool` (run_python),
  `tools.web` and `tools.fetch` (web_search, fetch_url), `tools.specs` (`ToolSpec`);
- MCP servers: `tools.mcp` (`mcp_servers`: connecting a run's servers), `tools.mcp_session`
  (one server's session and why it is down), `tools.mcp_tools` (its tools as planloop's: names,
  risk, output), `tools.mcp_config` (the config file);
- running a call: `tools.runner` (`run_tool`: retries, clipping), `tools.validation` (args
  against the tool's schema), `tools.journaled` (side effects at most once across crashes, one
  action per file at a time, settling unfinished entries), `tools.receipts` (what a code run
  leaves for crash recovery), `tools.artifacts` (full outputs under `planloop-runs/`),
  `tools.sanitize`;
- confinement: `tools.workspace` (paths and race-free file operations), `tools.confinement`
  (what planloop keeps for itself inside a workspace), `tools.runtime` (the current run);
- the sandbox: `tools.sandbox` (running a program, its result), `tools.sandbox_probe` (what
  isolation this machine gives), `tools.sandbox_command` (the command line: bubblewrap or the
  fallback), `tools.sandbox_process` (the child process: output, timeout, killing it),
  `tools.sandbox_boot` (runs inside it first), `tools.sandbox_files`, `tools.interpreter` (the
  user's `--python`);
- `tools.failpoints`: named points where crash tests freeze planloop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from langchain_core.tools import BaseTool

from nodes.context import Context
from nodes.state import Risk
from tools.files import append_file, edit_file, list_files, read_file, write_file
from tools.python_tool import run_python
from tools.runner import ToolOutcome, TransientToolError, action_fingerprint, run_tool
from tools.specs import BUILTIN, RISK_ORDER, RISKIEST, ToolSpec, riskier
from tools.validation import input_model, validate_args
from tools.web import fetch_url, web_search

BUILTIN_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(read_file, risk="read_only", untrusted_output=False),
    ToolSpec(list_files, risk="read_only", untrusted_output=False),
    ToolSpec(write_file, risk="writes_workspace", untrusted_output=False),
    ToolSpec(append_file, risk="writes_workspace", untrusted_output=False),
    ToolSpec(edit_file, risk="writes_workspace", untrusted_output=False),
    ToolSpec(run_python, risk="executes_code", untrusted_output=False),
    # Searching and fetching send a query or URL out but change nothing: not journaled; a
    # query chosen at run time still needs approval (see nodes.approval).
    ToolSpec(
        web_search, risk="network", acts=False, untrusted_output=True, requires="TAVILY_API_KEY"
    ),
    ToolSpec(fetch_url, risk="network", acts=False, untrusted_output=True),
)
"""planloop's own tools, in the order the planner sees them."""


@dataclass(frozen=True)
class ExtraTools:
    """Tools a run has beyond the built-in ones (its MCP servers' tools), and the problems of
    sources that could not provide theirs."""

    specs: tuple[ToolSpec, ...] = ()
    problems: Mapping[str, str] = field(default_factory=dict)
    """Source (`mcp:<server>`) -> why its tools are missing."""


_NO_EXTRA_TOOLS = ExtraTools()
_extra_tools: ContextVar[ExtraTools] = ContextVar(
    "planloop_extra_tools",
    default=_NO_EXTRA_TOOLS,
)
NOT_CONNECTED = (
    "MCP servers are configured but not connected: they are connected by `planloop run` / "
    "`resume` and `graph.api`; around your own graph run use `tools.mcp.mcp_servers(context)`"
)


@contextmanager
def offered(extra: ExtraTools) -> Iterator[None]:
    """Offer `extra`'s tools (besides any already offered) to the runs driven in the block."""
    current = _extra_tools.get()
    merged = ExtraTools(
        specs=(*current.specs, *extra.specs),
        problems={**current.problems, **extra.problems},
    )
    token = _extra_tools.set(merged)
    try:
        yield
    finally:
        _extra_tools.reset(token)


def all_specs(context: Context) -> dict[str, ToolSpec]:
    """Every tool this run knows about, available or not, by name (built-in ones first; an
    extra tool cannot replace a built-in one)."""
    specs = {spec.name: spec for spec in BUILTIN_TOOLS}
    for spec in _extra_tools.get().specs:
        specs.setdefault(spec.name, spec)
    del context  # the settings gate nothing yet beyond what the specs say
    return specs


def tool_specs(context: Context) -> dict[str, ToolSpec]:
    """The tools this run can use, by name."""
    return {name: spec for name, spec in all_specs(context).items() if not spec.why_unavailable()}


def tools_for(context: Context) -> dict[str, BaseTool]:
    """The tools this run can use, by name, as LangChain tools."""
    return {name: spec.tool for name, spec in tool_specs(context).items()}


def spec_of(name: str | None, context: Context) -> ToolSpec | None:
    """The spec of a tool this run knows (available or not), or None."""
    return all_specs(context).get(name or "")


def risk_of(name: str | None, context: Context) -> Risk:
    """A tool's risk class; an unknown tool is the riskiest class (fail closed)."""
    spec = spec_of(name, context)
    return spec.effective_risk if spec is not None else RISKIEST


def has_untrusted_output(name: str | None, context: Context) -> bool:
    """True when the tool's output is outside content (unknown tools count as outside)."""
    spec = spec_of(name, context)
    return spec.untrusted if spec is not None else True


def unavailable_tools(context: Context) -> dict[str, str]:
    """Tools (or whole tool sources) left out of this run, with the reason to tell the planner;
    extra tools of one source missing for one reason (a server that died) share one line."""
    missing: dict[str, str] = {}
    grouped: dict[tuple[str, str], list[str]] = {}
    for name, spec in all_specs(context).items():
        why = spec.why_unavailable()
        if why and spec.source == BUILTIN:
            missing[name] = why
        elif why:
            grouped.setdefault((spec.source, why), []).append(name)
    for (source, why), names in grouped.items():
        missing[names[0] if len(names) == 1 else f"{source} ({', '.join(names)})"] = why
    extra = _extra_tools.get()
    missing.update(extra.problems)
    if context.mcp_config and not extra.specs and not extra.problems:
        missing["mcp"] = NOT_CONNECTED
    return missing


__all__ = [
    "BUILTIN",
    "BUILTIN_TOOLS",
    "RISKIEST",
    "RISK_ORDER",
    "ExtraTools",
    "ToolOutcome",
    "ToolSpec",
    "TransientToolError",
    "action_fingerprint",
    "all_specs",
    "has_untrusted_output",
    "input_model",
    "offered",
    "risk_of",
    "riskier",
    "run_tool",
    "spec_of",
    "tool_specs",
    "tools_for",
    "unavailable_tools",
    "validate_args",
]
