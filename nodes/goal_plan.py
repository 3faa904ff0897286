"""The goal analysis that drafts the first plan in the same call (LLMCompiler's one planning
call): the goal analyst gets the planner's rules and tools, and when it finds the goal needs a
plan (`effort` "full") it writes one. The plan node validates the draft like any plan, so a run
that drafts makes one model call before its first step instead of two.

It drafts unless the user chose the short path for every goal, or memories were recalled for
the goal (the planner sees them; the analyst does not).
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.context import Context
from nodes.memory import recall
from nodes.plan import plan_rules
from nodes.prompts import GOAL_PLAN_NOTE, PARSE_GOAL_SYSTEM, PARSE_GOAL_USER
from nodes.schemas import DraftedGoalSpec, GoalSpec
from nodes.state import Effort, MemoryHit, State
from tools.python_tool import describe_interpreter


async def drafting_memories(
    state: State, runtime: Runtime[Context]
) -> tuple[bool, list[MemoryHit]]:
    """Whether the goal analysis drafts the plan, and the memories recalled for the goal (with
    any, the planner plans: it is the one shown them)."""
    if runtime.context.effort == "short":
        return False, []
    hits = await recall(state, runtime)
    return not hits, hits


async def goal_plan_messages(state: State, context: Context) -> list[BaseMessage]:
    """The goal analyst's prompt with the planner's rules and tools after it."""
    note = await describe_interpreter(context)
    system = PARSE_GOAL_SYSTEM + GOAL_PLAN_NOTE + plan_rules(state, context, note)
    return [SystemMessage(system), HumanMessage(PARSE_GOAL_USER.format(goal=state.goal.strip()))]


def drafted_steps(spec: GoalSpec, effort: Effort) -> list[dict[str, object]]:
    """The drafted plan as the state keeps it (none on the short path, or when the analysis
    drafted none)."""
    if effort == "short" or not isinstance(spec, DraftedGoalSpec):
        return []
    return [step.model_dump(exclude_defaults=True) for step in spec.steps]
