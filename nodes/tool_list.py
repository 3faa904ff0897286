"""The planner's list of tools, within a token budget.

planloop's own tools are always listed in detail. Extra tools (from MCP servers) are listed in
detail while they fit `Context.tool_prompt_budget_tokens`, most relevant first: tools the plan
already uses or the last rejection named, then those whose name and description share the most
words with the objective. The rest are listed by name only; a step may still use one (planned
without args, the call that fills them in sees its whole schema), and once a plan or a rejection
names it, it is listed in detail.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from nodes.history import estimate_tokens
from tools import BUILTIN, ToolSpec
from tools.runner import args_json_schema
from tools.sanitize import sanitize

DESCRIPTION_CHARS = 160
"""Longest description shown for an extra tool (its server wrote it: outside content)."""
_WORD = re.compile(r"[a-z0-9]{2,}")


def tool_line(spec: ToolSpec) -> str:
    """One tool in detail: name, arguments with types, risk class, source, description."""
    schema = args_json_schema(spec.tool)
    # An MCP server's schema was checked when it connected; stay safe with any shape anyway.
    required = schema.get("required")
    required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    params = schema.get("properties")
    params = params if isinstance(params, dict) else {}
    arg_list = ", ".join(
        f"{name}{'' if name in required or spec.source == BUILTIN else '?'}: "
        f"{info.get('type', 'any') if isinstance(info, dict) else 'any'}"
        for name, info in params.items()
    )
    description = (spec.tool.description or "").strip()
    first_line = description.splitlines()[0] if description else ""
    if spec.source != BUILTIN:
        first_line = sanitize(first_line)[:DESCRIPTION_CHARS]
    origin = "" if spec.source == BUILTIN else f", {spec.source}"
    acts = ", acts" if spec.source != BUILTIN and spec.side_effects else ""
    return f"- {spec.name}({arg_list}) [{spec.effective_risk}{acts}{origin}]: {first_line}"


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("_", " ")))


def _relevance(spec: ToolSpec, wanted: set[str]) -> int:
    return len(wanted & _words(f"{spec.name} {spec.tool.description or ''}"))


def tools_text(
    specs: Iterable[ToolSpec],
    *,
    budget_tokens: int,
    relevant_to: str = "",
    expand: Collection[str] = (),
) -> str:
    """Every tool for the planner: built-in ones and the most relevant extra ones in detail
    (within `budget_tokens`), the other extra ones by name."""
    specs = list(specs)
    lines = [tool_line(spec) for spec in specs if spec.source == BUILTIN]
    extra = [spec for spec in specs if spec.source != BUILTIN]
    wanted = _words(relevant_to)
    ranked = sorted(
        enumerate(extra),
        key=lambda item: (item[1].name not in expand, -_relevance(item[1], wanted), item[0]),
    )
    spent, by_name = 0, []
    for _, spec in ranked:
        line = tool_line(spec)
        cost = estimate_tokens(line)
        if spent + cost <= budget_tokens or spec.name in expand:
            lines.append(line)
            spent += cost
        else:
            by_name.append(spec.name)
    if by_name:
        lines.append(
            f"- {len(by_name)} more tools, by name only (plan one without args and its args are "
            f"filled in from its full description; naming it in a plan lists it in detail): "
            + ", ".join(sorted(by_name))
        )
    return "\n".join(lines)
