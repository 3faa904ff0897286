"""Pure routers for the conditional edges that form the replan loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from langgraph.types import Send

from nodes.checks import decided_by_code
from nodes.program import is_whole_goal_program
from nodes.state import Criterion, State, Step, StepTask


def route_after_parse_goal(state: State) -> Literal["plan", "finish"]:
    """Plan when the goal was understood; otherwise report the failure."""
    return "plan" if state.status == "running" else "finish"


def route_after_plan(state: State) -> Literal["plan", "approve_plan", "finish"]:
    """Retry a rejected plan within its attempts; a valid plan goes to (optional) approval."""
    if state.status != "running":
        return "finish"
    return "plan" if state.plan_errors else "approve_plan"


def route_after_approve_plan(state: State) -> Literal["plan", "decide_done"]:
    """A plan the human rejected goes back to the planner with the feedback."""
    return "plan" if state.plan_errors else "decide_done"


def dispatch_ready_steps(state: State) -> list[Send]:
    """One `Send` per step decide_done chose, with what the executor needs from state."""
    steps = {s.id: s for s in state.plan}
    waiting = {p.step_id: p.why for p in state.pending_approvals}
    remaining = len(ready_or_blocked(state))
    return [
        Send(
            "execute_step",
            StepTask(
                step=with_filled_args(steps[step_id], state.filled_args),
                objective=state.objective,
                inputs=[state.results[d] for d in steps[step_id].depends_on if d in state.results],
                budget=state.budget,
                approval_reason=waiting.get(step_id, ""),
                remaining_steps=remaining,
                files_written=list(state.files_written),
                checks=_checks_for(steps[step_id], state),
            ),
        )
        for step_id in state.next_steps
        if step_id in steps and step_id not in state.results
    ]


def _checks_for(step: Step, state: State) -> list[Criterion]:
    """The criteria a step stops on, or is sent back on: an executor's stop when code decides
    them all and they pass; a program step that does the whole goal is sent back while any code
    check fails (a partial check too: its failure fails its criterion). A planned step's
    program is not: checks that wait on other steps' work would send it back for fixes it
    cannot make."""
    if step.tool is None:
        return checked_criteria(state)
    if is_whole_goal_program(step, state.goal):
        return [c for c in state.criteria if c.check is not None]
    return []


def checked_criteria(state: State) -> list[Criterion]:
    """The criteria, when code decides every one of them; else none."""
    return list(state.criteria) if decided_by_code(state.criteria) else []


def with_filled_args(step: Step, filled: Mapping[str, dict[str, object]]) -> Step:
    """The step as it runs: args filled in earlier (and approved as such) become planned args."""
    if step.tool and step.args is None and step.id in filled:
        return replace(step, args=dict(filled[step.id]))
    return step


def ready_or_blocked(state: State) -> list[str]:
    """Ids of plan steps that have not run yet."""
    return [s.id for s in state.plan if s.id not in state.results]


def route_after_decide_done(state: State) -> Literal["plan", "finish", "fill_args"] | list[Send]:
    """Act on decide_done's decision."""
    if state.decision == "finish":
        return "finish"
    if state.decision == "replan":
        return "plan"
    if state.fill_first:
        return "fill_args"
    return dispatch_ready_steps(state) or "finish"


def route_after_fill_args(state: State) -> Literal["finish"] | list[Send]:
    """Run the steps decide_done chose, with the args fill_args filled in (none when the run
    ran out of time while they were filled)."""
    if state.status != "running":
        return "finish"
    return dispatch_ready_steps(state) or "finish"
