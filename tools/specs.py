"""One declaration per tool: what it is, how risky it is, whether its output can be trusted,
and what it needs to be available. Every rule about a tool reads its `ToolSpec`; there are no
tables keyed by tool name to drift apart.

It fails closed: a spec without a declared risk is treated as the riskiest class (it waits for
approval under `risky`, it is journaled, its output is untrusted), never as read-only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.tools import BaseTool

from nodes.state import Risk

RISK_ORDER: tuple[Risk, ...] = ("read_only", "writes_workspace", "executes_code", "network")
"""Risk classes from least to most dangerous."""
RISKIEST: Risk = RISK_ORDER[-1]
"""The class of a tool whose risk nobody declared."""
BUILTIN = "builtin"
"""The `source` of planloop's own tools; an MCP tool's source is `mcp:<server>`."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool and everything planloop needs to know to offer, approve and run it safely."""

    tool: BaseTool
    """The LangChain tool that runs the call."""
    risk: Risk | None = None
    """Its side-effect class; None (undeclared) means the riskiest class."""
    acts: bool | None = None
    """True when a call changes something (journaled: never repeated after a crash, approved
    under `risky` unless it only writes new workspace files). None: follows `risk` (only
    read_only tools are taken not to act)."""
    untrusted_output: bool | None = None
    """True when its output is outside content (data, never instructions; it taints later
    writes and code runs). None: untrusted unless the tool is planloop's own."""
    requires: str | None = None
    """An environment variable the tool needs (its API key); unset means unavailable."""
    source: str = BUILTIN
    """Where the tool comes from: `builtin`, or `mcp:<server>`."""
    rerun_after_crash: bool = True
    """Whether a call interrupted by a crash, with no evidence of its effect, may simply be
    made again (planloop's own tools leave evidence; an MCP tool must be idempotent)."""
    unavailable: str = ""
    """Why the tool cannot be used in this run ('' when it can, unless `requires` is unset)."""
    health: Callable[[], str] | None = None
    """Asked before each use: why the tool cannot be used right now ('' when it can), e.g.
    because its MCP server died during the run."""

    @property
    def name(self) -> str:
        """The tool's name, as the planner and the model call it."""
        return self.tool.name

    @property
    def effective_risk(self) -> Risk:
        """The declared risk, or the riskiest class when none was declared."""
        return self.risk if self.risk is not None else RISKIEST

    @property
    def side_effects(self) -> bool:
        """Whether calls are journaled (and need approval where the policy says so)."""
        if self.acts is not None:
            return self.acts
        return self.effective_risk != "read_only"

    @property
    def untrusted(self) -> bool:
        """Whether its output is outside content."""
        if self.untrusted_output is not None:
            return self.untrusted_output
        return self.source != BUILTIN

    def why_unavailable(self) -> str:
        """Why this run cannot use the tool, or '' when it can."""
        if self.unavailable:
            return self.unavailable
        if self.health is not None and (why := self.health()):
            return why
        if self.requires and not os.environ.get(self.requires):
            return f"{self.requires} is not set"
        return ""


def riskier(first: Risk, second: Risk) -> Risk:
    """The more dangerous of two risk classes."""
    return first if RISK_ORDER.index(first) >= RISK_ORDER.index(second) else second
