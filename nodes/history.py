"""Short-term memory: past step results rendered within a token budget.

The newest results keep their detail; older ones shrink to one-line summaries; the oldest are
folded into a count with their ids. Nothing is dropped without a trace, and the size of the
rendering stays flat however long the run grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nodes.render import NONE, result_block
from nodes.state import Step, StepResult
from tools.sanitize import close_untrusted

CHARS_PER_TOKEN = 4
"""Rough characters per token, for budgeting without a tokenizer."""
MAX_FOLDED_IDS = 12


def estimate_tokens(text: str) -> int:
    """A cheap, deterministic token estimate."""
    return len(text) // CHARS_PER_TOKEN + 1


def one_line(result: StepResult, step: Step | None) -> str:
    """A result as one line: id, verdict, and the start of its output or note."""
    note = f"{result.note.strip()} | " if result.note.strip() else ""
    detail = (note + result.output.strip()).replace("\n", " ")
    title = step.description if step else ""
    line = f"- {result.step_id} [{result.verdict}] {title}: {detail}"
    if len(line) > 160:
        line = line[:145] + "…"
    return close_untrusted(line).replace("\n", " ")


def _folded(results: Sequence[StepResult]) -> str:
    passed = [r.step_id for r in results if r.verdict == "pass"]
    failed = [r.step_id for r in results if r.verdict != "pass"]

    def ids(items: list[str]) -> str:
        shown = ", ".join(items[-MAX_FOLDED_IDS:])
        return f"…, {shown}" if len(items) > MAX_FOLDED_IDS else shown

    parts = [f"{len(passed)} passed ({ids(passed)})" if passed else ""]
    parts.append(f"{len(failed)} failed or pending ({ids(failed)})" if failed else "")
    return f"[{len(results)} earlier steps summarised: {'; '.join(p for p in parts if p)}]"


def history_text(
    results: Sequence[StepResult],
    plan: Mapping[str, Step],
    *,
    budget_tokens: int,
    detail_chars: int,
) -> str:
    """Results in run order, fitted into about `budget_tokens` (newest in most detail)."""
    if not results:
        return NONE
    budget = budget_tokens * CHARS_PER_TOKEN
    detailed: list[str] = []
    summarised: list[str] = []
    used = 0
    cut = 0  # results[:cut] are folded into one line
    for index in range(len(results) - 1, -1, -1):
        result = results[index]
        step = plan.get(result.step_id)
        block = result_block(result, step, max_chars=detail_chars)
        if not summarised and used + len(block) <= budget // 2:
            detailed.append(block)
            used += len(block)
            continue
        line = one_line(result, step)
        if used + len(line) > budget - 200:  # keep room for the folded summary line
            cut = index + 1
            break
        summarised.append(line)
        used += len(line)
    parts = [_folded(results[:cut])] if cut else []
    return "\n".join([*parts, *reversed(summarised), *reversed(detailed)])
