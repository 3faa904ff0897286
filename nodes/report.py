"""The Markdown run report: criteria with evidence, steps, budget, and what is left."""

from __future__ import annotations

from nodes.budget import summary
from nodes.render import step_line
from nodes.state import State
from tools.python_tool import created_files
from tools.sandbox import isolation_mode


def remaining_work(state: State) -> list[str]:
    """Plan steps that have not passed, and criteria that are not met."""
    left = [
        f"step {step_line(s)}"
        for s in state.plan
        if s.id not in state.results or state.results[s.id].verdict != "pass"
    ]
    left += [f"criterion {c.id}: {c.text}" for c in state.criteria if not c.met]
    return left


def partial_answer(state: State) -> str:
    """What a stopped run achieved and what it did not, without another model call."""
    done = [
        f"- {r.step_id}: {r.output.strip().splitlines()[0][:200] if r.output.strip() else ''}"
        for r in state.results.values()
        if r.verdict == "pass"
    ]
    left = [f"- {item}" for item in remaining_work(state)]
    return "\n".join(
        [
            f"Stopped before finishing ({state.status}): {state.stop_reason}.",
            "",
            "Done:",
            *(done or ["- nothing yet"]),
            "",
            "Left to do:",
            *(left or ["- nothing"]),
        ]
    )


def files_of_run(state: State) -> list[str]:
    """Workspace files the run wrote: by the file tools, and by its programs (plots, data)."""
    files = list(state.files_written)
    for result in state.results.values():
        if result.status == "done":
            files += created_files(result.output)
    return list(dict.fromkeys(files))


def render_report(state: State, answer: str, thread_id: str) -> str:
    """The whole report as Markdown."""
    lines = [
        "# planloop run report",
        "",
        f"- Thread: `{thread_id}`",
        f"- Goal: {state.goal.strip()}",
        f"- Objective: {state.objective or '(not parsed)'}",
        f"- Status: **{state.status}** ({state.stop_reason})",
        f"- Budget: {summary(state.budget)}",
        f"- run_python isolation: {isolation_mode()}",
        "",
        "## Answer",
        "",
        answer.strip() or "(none)",
        "",
        "## Done-criteria",
        "",
    ]
    for c in state.criteria:
        mark = "x" if c.met else " "
        lines.append(f"- [{mark}] **{c.id}** {c.text}" + (f" — {c.evidence}" if c.met else ""))
    lines += ["", "## Steps", "", "| step | status | verdict | note |", "|---|---|---|---|"]
    for result in state.results.values():
        note = result.note.replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(f"| {result.step_id} | {result.status} | {result.verdict} | {note} |")
    files = files_of_run(state)
    if files:
        lines += ["", "## Files", "", *[f"- `{name}`" for name in files]]
    left = remaining_work(state)
    if left and state.status != "done":
        lines += ["", "## Left to do", "", *[f"- {item}" for item in left]]
    return "\n".join(lines) + "\n"
