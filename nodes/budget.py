"""Budget limits, checked on the loop edges and between executor turns."""

from __future__ import annotations

import time

from nodes.context import Context
from nodes.deadline import current_deadline
from nodes.state import Budget


def _limits(budget: Budget, context: Context) -> list[tuple[bool, str, bool]]:
    """Each limit: reached, its description for the user, and whether it also forbids another
    model call (the step and tool-call limits leave a review or a final answer possible)."""
    return [
        (budget.steps >= context.max_steps, f"max steps ({context.max_steps})", False),
        (budget.tokens >= context.max_tokens, f"max tokens ({context.max_tokens})", True),
        (
            budget.cost_usd >= context.max_cost_usd,
            f"max cost (${context.max_cost_usd:.4f})",
            True,
        ),
        (
            budget.llm_calls >= context.max_llm_calls,
            f"max LLM calls ({context.max_llm_calls})",
            True,
        ),
        (
            budget.tool_calls >= context.max_tool_calls,
            f"max tool calls ({context.max_tool_calls})",
            False,
        ),
        (budget.seconds >= context.max_seconds, f"max seconds ({context.max_seconds:g})", True),
    ]


def exceeded_limit(budget: Budget, context: Context) -> str | None:
    """The first limit the budget has reached, described for the user, or None."""
    return next((label for hit, label, _ in _limits(budget, context) if hit), None)


def model_call_limit(budget: Budget, context: Context) -> str | None:
    """The first reached limit that another model call would cross (calls, tokens, cost,
    seconds), or None."""
    return next((label for hit, label, model in _limits(budget, context) if hit and model), None)


def super_step_bound(context: Context) -> int:
    """Most super-steps a run can take within its limits: a safety net, never the real stop.

    The budget and loop checks end a run well before this; it is passed to LangGraph as the
    recursion limit so a logic error can never loop for LangGraph's default of ~10,000 steps.
    """
    plan_rounds = (context.max_replans + 1) * (context.max_plan_attempts + 1)
    return 2 * (4 + plan_rounds + 3 * context.max_steps)


class Stopwatch:
    """Measures a node's working time as a budget delta, from the node's start
    (`nodes.deadline`) when it runs under a deadline."""

    def __init__(self) -> None:
        deadline = current_deadline()
        self.started = deadline.started if deadline else time.monotonic()

    def budget(self, spent: Budget | None = None) -> Budget:
        """`spent` plus the seconds since the stopwatch started."""
        return (spent or Budget()) + Budget(seconds=time.monotonic() - self.started)


def summary(budget: Budget) -> str:
    """One line for progress output and reports."""
    return (
        f"{budget.steps} steps, {budget.llm_calls} LLM calls, "
        f"{budget.prompt_tokens}+{budget.completion_tokens} tokens, ${budget.cost_usd:.4f}, "
        f"{budget.tool_calls} tool calls, {budget.replans} replans, {budget.seconds:.1f}s"
    )
