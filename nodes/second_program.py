"""A second program, written apart, as the way out of a first one that fails its code checks.

A program step is sent back with what a failing check found, but a 1.5B executor fixes within
the conversation that holds its own program, and writes it again: live (csv_totals, after the
JSON-shape check), told "totals.json holds a JSON array, not the JSON object the goal asks
for", it wrote `to_json(orient='records')` eight times until the replans ran out, while the
cross-check's programmer, shown only the goal and its inputs, had written the object at once in
every earlier pass. So when a whole-goal program's outputs fail their checks, a second program
is written as the cross-check writes one and run on a copy of the workspace; when its outputs
pass every check that failed, the retry runs it as it is (no model call), and code's checks,
not a review, decided that it is the better one.
"""

from __future__ import annotations

from nodes.checks import judge
from nodes.context import Context
from nodes.cross_check import cross_check_applies, outputs_of, run_apart, second_program
from nodes.state import Budget, Check, CheckKind, Criterion, State, StepResult

NOT_ON_A_COPY: frozenset[CheckKind] = frozenset({"file_changed", "file_kept", "program_output"})
"""Checks a second program is not tried for: the copy it runs in lacks the first program's
outputs (so it cannot copy them), and an edited file is one of them, so there is nothing for
it to edit; a script's output needs the script run."""


async def passing_second_program(
    state: State, pending: list[StepResult], failed: list[Criterion], context: Context
) -> tuple[str, Budget]:
    """A program written apart from the new results' whole-goal program steps whose outputs,
    in a copy of the workspace without theirs, pass every check of `failed` (the criteria
    whose checks failed on the workspace), and what asking for it cost; "" when there is none
    to ask for or it does not pass."""
    checks = [c.check for c in failed if c.check is not None]
    outputs = outputs_of(state, pending)
    if not checks or not cross_check_applies(state, pending, context):
        return "", Budget()
    if any(check.kind in NOT_ON_A_COPY or check.path not in outputs for check in checks):
        return "", Budget()
    # After a replan this question was asked before, and at temperature 0 it would get the
    # program that did not pass then (sort_names, live: the same one four times).
    again = state.budget.replans > 0
    program, cost = await second_program(state, pending, outputs, context, asked_before=again)
    if program is None:
        return "", cost
    _, theirs = await run_apart(program, outputs, sorted({check.path for check in checks}))
    return (
        program if all(_passes(check, theirs.get(check.path)) for check in checks) else ""
    ), cost


def _passes(check: Check, content: str | None) -> bool:
    return content is not None and judge(check, content).passed
