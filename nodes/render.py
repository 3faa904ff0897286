"""Plain-text renderings of state pieces, shared by prompts, the report and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from nodes.checks import line_rules
from nodes.state import Check, Criterion, Step, StepResult
from tools.sanitize import close_untrusted

NONE = "(none)"


def criteria_lines(criteria: Iterable[Criterion], *, with_status: bool = False) -> str:
    """One line per criterion, optionally with its status and evidence."""
    lines = []
    for c in criteria:
        line = f"- {c.id}: {c.text}"
        if with_status:
            line += f" [{'met: ' + c.evidence if c.met else 'not met'}]"
        lines.append(line)
    return "\n".join(lines) or NONE


def check_text(check: Check) -> str:
    """A criterion's code check as a short phrase, e.g. `checked: file_matches n.txt '^[0-9]+$'`."""
    if check.kind == "file_kept":  # its text is the file's former lines: too long to show
        return f"checked: {check.kind} {check.path}"
    text = line_rules(check)[0] if check.kind == "file_lines" else check.text
    wanted = f" {text!r}" if text else ""
    return f"checked: {check.kind} {check.path}{wanted}"


def step_line(step: Step) -> str:
    """A step as one line: id, description, and the planned call if any."""
    args = "args from earlier results" if step.args is None else json.dumps(step.args, default=str)
    call = f" -> {step.tool}({args})" if step.tool else ""
    deps = f" after {', '.join(step.depends_on)}" if step.depends_on else ""
    return f"{step.id}: {step.description}{call}{deps} [{step.risk}]"


def result_block(
    result: StepResult,
    step: Step | None,
    *,
    max_chars: int,
    missing: str = "(step no longer in plan)",
) -> str:
    """A result with its step (or `missing` when the step is not known), clipped for use
    inside prompts."""
    title = step.description if step else missing
    output = result.output
    if len(output) > max_chars:
        output = close_untrusted(output[:max_chars] + " …")
    verdict = "" if result.verdict == "pending" else f" verdict={result.verdict} {result.note}"
    heading = f"{title}\n" if title else ""
    return (
        f"<result step={result.step_id!r} status={result.status}{verdict}>\n"
        f"{heading}{output}\n</result>"
    )


def results_text(
    results: Iterable[StepResult], plan: Mapping[str, Step] | None, *, max_chars: int
) -> str:
    """Several results, each as a delimited block (without step titles when `plan` is None)."""
    blocks = [
        result_block(r, plan.get(r.step_id), max_chars=max_chars)
        if plan is not None
        else result_block(r, None, max_chars=max_chars, missing="")
        for r in results
    ]
    return "\n".join(blocks) or NONE
