"""Pure routers for the conditional edges that form the replan loop."""

from __future__ import annotations

from typing import Literal

from langgraph.types import Send

from nodes.plan_check import ready_steps
from nodes.state import State, StepTask


def route_after_parse_goal(state: State) -> Literal["plan", "finish"]:
    """Plan when the goal was understood; otherwise report the failure."""
    return "plan" if state.status == "running" else "finish"


def route_after_plan(state: State) -> Literal["plan", "decide_done", "finish"]:
    """Retry a rejected plan within its attempts; check budget before acting on a good one."""
    if state.status != "running":
        return "finish"
    return "plan" if state.plan_errors else "decide_done"


def dispatch_ready_steps(state: State) -> list[Send]:
    """One `Send` per step to run next, with what the executor needs from state."""
    ready = ready_steps(state.plan, state.results)
    return [
        Send(
            "execute_step",
            StepTask(
                step=step,
                objective=state.objective,
                inputs=[state.results[d] for d in step.depends_on if d in state.results],
                budget=state.budget,
            ),
        )
        # One step per super-step for now: the node and reducers already allow a wider fan-out.
        for step in ready[:1]
    ]


def route_after_decide_done(state: State) -> Literal["plan", "finish"] | list[Send]:
    """Act on decide_done's decision."""
    if state.decision == "finish":
        return "finish"
    if state.decision == "replan":
        return "plan"
    return dispatch_ready_steps(state) or "finish"
