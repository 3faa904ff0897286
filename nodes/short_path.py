"""The short path's plans, made by code with no model call: the step that does the whole goal
(one program step, or one executor step with the tools), after a fetch of each page the goal
gives the address of; and, on a replan of that path, the next program step told why the last
one fell short (`nodes.plan` chooses when)."""

from __future__ import annotations

from dataclasses import replace

from nodes.context import Context
from nodes.plan_check import usable
from nodes.plan_repair import fresh_id
from nodes.program import (
    FAILURE_CHARS,
    FETCH_TOOL,
    PROGRAM_TOOL,
    is_program_step,
    is_whole_goal_program,
    library_note,
    pages_of,
    programs_apply,
    whole_goal,
)
from nodes.program_errors import traceback_libraries
from nodes.state import Risk, State, Step
from tools import BUILTIN, RISK_ORDER, risk_of, tool_specs


def whole_goal_step(state: State, context: Context) -> Step:
    """The short path's step that does the whole goal: one executor step with the tools, or
    one program step (`nodes.program`) when the goal needs nothing but the workspace and the
    pages it gives the address of.

    Its risk is the riskiest available tool the executor is offered, so the approval policy
    asks before anything runs whenever any of them would need it. (A change to a file that
    existed before the run is still refused inside it, and planned, and approved, as a step of
    its own.)"""
    offered: list[Risk] = [
        spec.effective_risk
        for spec in tool_specs(context).values()
        if (spec.source == BUILTIN or not spec.side_effects) and not spec.why_unavailable()
    ]
    risk: Risk = max(offered, key=RISK_ORDER.index) if offered else "read_only"
    program = programs_apply(state.goal, context)
    return Step(
        id="s1",
        description=whole_goal(state.goal),
        expected="; ".join(c.text for c in state.criteria),
        tool=PROGRAM_TOOL if program else None,
        risk=risk_of(PROGRAM_TOOL, context) if program else risk,
    )


def short_plan(state: State, context: Context) -> list[Step]:
    """The short path's plan: the whole-goal step, after a planned fetch_url call for each
    page the goal gives the address of when a program does the goal (a program has no
    network; the pages reach its prompt as the results of the steps it depends on)."""
    step = whole_goal_step(state, context)
    if not is_program_step(step.tool):
        return [step]
    fetches = [
        Step(
            id=f"s{n}",
            description=f"Fetch {url}",
            expected="the page's text",
            tool=FETCH_TOOL,
            args={"url": url},
            risk=risk_of(FETCH_TOOL, context),
        )
        for n, url in enumerate(pages_of(state.goal), 1)
    ]
    depends_on = [fetch.id for fetch in fetches]
    return [*fetches, replace(step, id=f"s{len(fetches) + 1}", depends_on=depends_on)]


def _fetches_a_page(step: Step) -> bool:
    return step.tool == FETCH_TOOL and step.args is not None


def retries_program(state: State, context: Context) -> bool:
    """Whether a replan writes the goal's program again rather than planning tool calls: the
    plan so far was the short path's (whole-goal program steps, after the fetches of its
    pages), and programs still apply. A 1.5B planner, handed a program step's failure, planned
    tool calls that overwrote a right file with a placeholder; the same model fixes its own
    program far more often."""
    whole = [s for s in state.plan if is_whole_goal_program(s, state.goal)]
    rest = [s for s in state.plan if s not in whole]
    short = bool(whole) and all(_fetches_a_page(s) for s in rest)
    return short and programs_apply(state.goal, context)


FELL_SHORT = "The last program fell short:"


def program_retry(state: State) -> list[Step]:
    """The next whole-goal program step, told why the last one fell short: a program the model
    writes again, or the cross-check's second program when it wrote an output otherwise. It
    depends on the fetched pages as the latest program did (an earlier one's fetch may have
    been failed and fetched again since); a fetch whose result cannot be used (the review
    failed it) is planned again first."""
    whole = [s for s in state.plan if is_whole_goal_program(s, state.goal)]
    first, last_step = whole[0], whole[-1]
    taken = {s.id for s in state.plan} | set(state.results)
    refetched = []
    depends_on = []
    for dep in last_step.depends_on:  # the pages as the latest program had them
        fetch = next((s for s in state.plan if s.id == dep), None)
        if usable(state.results.get(dep)) or fetch is None:
            depends_on.append(dep)
            continue
        again = replace(fetch, id=fresh_id(fetch.id, taken))
        taken.add(again.id)
        refetched.append(again)
        depends_on.append(again.id)
    new_id = fresh_id(first.id, taken)
    reason = state.replan_reason.strip() or "the criteria were not met"
    library = ""
    last = state.results.get(last_step.id)
    if last is not None and last.status == "error":
        reason += f"; it ended: {last.output.strip()[-FAILURE_CHARS // 3 :]}"
        libraries = traceback_libraries(last.output)
        library = f"\n{library_note(libraries)}" if libraries else ""
    args: dict[str, object] | None = (
        {"code": state.second_program} if state.second_program else None
    )
    # The first program step left may be an earlier retry: only the latest shortfall is told
    # (a stale "checks failed" beside checks that now pass misleads the review).
    expected = first.expected.split(f"\n{FELL_SHORT}")[0]
    retry = replace(first, id=new_id, args=args, depends_on=depends_on, expected=(
        f"{expected}\n{FELL_SHORT} {reason[:FAILURE_CHARS]}{library}"
    ))  # fmt: skip
    return [*refetched, retry]
