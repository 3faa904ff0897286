"""parse_goal: the goal becomes an objective with explicit done-criteria."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.budget import Stopwatch
from nodes.context import Context
from nodes.errors import StructuredOutputError
from nodes.llm import PARSE_GOAL, invoke_structured
from nodes.prompts import PARSE_GOAL_SYSTEM, PARSE_GOAL_USER
from nodes.schemas import GoalSpec
from nodes.state import Criterion, State


async def parse_goal(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Ask the model for the objective, done-criteria and constraints of the goal."""
    watch = Stopwatch()
    if not state.goal.strip():
        return {"status": "failed", "stop_reason": "the goal is empty", "budget": watch.budget()}
    messages = [
        SystemMessage(PARSE_GOAL_SYSTEM),
        HumanMessage(PARSE_GOAL_USER.format(goal=state.goal.strip())),
    ]
    try:
        spec, spent = await invoke_structured(runtime.context, messages, GoalSpec, stage=PARSE_GOAL)
    except StructuredOutputError as exc:
        return {"status": "failed", "stop_reason": str(exc), "budget": watch.budget(exc.spent)}
    criteria = [Criterion(id=f"c{n}", text=text) for n, text in enumerate(spec.criteria, 1)]
    return {
        "status": "running",  # written, so the thread's values (and Studio) show it from here on
        "objective": spec.objective,
        "criteria": criteria,
        "constraints": spec.constraints,
        "budget": watch.budget(spent),
    }
