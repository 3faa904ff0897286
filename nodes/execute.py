"""execute_step: run one ready step, either as its planned tool call or with a short tool loop.

The node takes a `StepTask` (one per `Send`), so ready steps can fan out in parallel.
"""

from __future__ import annotations

from collections import Counter

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from nodes.budget import Stopwatch, exceeded_limit
from nodes.context import Context
from nodes.llm import invoke
from nodes.prompts import EXECUTE_SYSTEM, EXECUTE_USER
from nodes.render import results_text
from nodes.state import Budget, StepResult, StepTask
from tools import ToolOutcome, action_fingerprint, run_tool, tools_for
from tools.runtime import current_thread_id
from tools.sanitize import sanitize

INPUT_RESULT_CHARS = 2000


async def call_tool(name: str, args: dict[str, object], context: Context) -> ToolOutcome:
    """Run one tool call of this run with its limits, retries and artifact folder."""
    return await run_tool(
        tools_for(context),
        name,
        args,
        limit=context.max_observation_chars,
        workspace=context.workspace,
        thread_id=current_thread_id(),
        retries=context.tool_retries,
        backoff_seconds=context.tool_retry_backoff_seconds,
    )


async def _run_planned_call(task: StepTask, context: Context) -> tuple[StepResult, Counter[str]]:
    step = task.step
    args = step.args or {}
    outcome = await call_tool(step.tool or "", args, context)
    result = StepResult(
        step_id=step.id,
        status="done" if outcome.ok else "error",
        output=outcome.text,
        tool_calls=1,
        tool_errors=0 if outcome.ok else 1,
        artifacts=outcome.artifacts,
    )
    return result, Counter({action_fingerprint(step.tool or "", args): 1})


async def _run_tool_loop(
    task: StepTask, context: Context
) -> tuple[StepResult, Counter[str], Budget]:
    """Let the model call tools until it answers in plain text, within turn and budget limits."""
    step = task.step
    messages: list[BaseMessage] = [
        SystemMessage(EXECUTE_SYSTEM),
        HumanMessage(
            EXECUTE_USER.format(
                objective=task.objective,
                step_id=step.id,
                description=step.description,
                expected=step.expected,
                inputs=results_text(task.inputs, {}, max_chars=INPUT_RESULT_CHARS),
            )
        ),
    ]
    spent, actions, calls, errors, artifacts = Budget(), Counter[str](), 0, 0, list[str]()
    offered = list(tools_for(context).values())
    for _ in range(context.max_executor_turns):
        limit = exceeded_limit(task.budget + spent, context)
        if limit:
            return _failed(step.id, f"stopped mid-step: {limit} reached", calls), actions, spent
        reply, cost = await invoke(context, messages, tools=offered)
        spent += cost
        messages.append(reply)
        if not reply.tool_calls:
            result = StepResult(
                step_id=step.id,
                status="done",
                output=sanitize(reply.text) or "(no output)",
                tool_calls=calls,
                tool_errors=errors,
                artifacts=artifacts,
            )
            return result, actions, spent
        for call in reply.tool_calls:
            key = action_fingerprint(call["name"], call["args"])
            actions[key] += 1
            calls += 1
            if actions[key] > context.max_repeats:
                outcome = ToolOutcome(
                    False, "ERROR: this exact call was already made; use its result"
                )
            else:
                outcome = await call_tool(call["name"], call["args"], context)
            errors += 0 if outcome.ok else 1
            artifacts += outcome.artifacts
            text = outcome.text
            messages.append(ToolMessage(text, tool_call_id=call["id"] or key, name=call["name"]))
    return (
        _failed(step.id, f"not finished after {context.max_executor_turns} turns", calls),
        actions,
        spent,
    )


def _failed(step_id: str, reason: str, calls: int) -> StepResult:
    return StepResult(
        step_id=step_id, status="error", output=f"ERROR: {reason}", tool_calls=calls, tool_errors=0
    )


async def execute_step(task: StepTask, runtime: Runtime[Context]) -> dict[str, object]:
    """Execute the step in `task` and record its result, actions and cost."""
    watch = Stopwatch()
    if task.step.tool:
        result, actions = await _run_planned_call(task, runtime.context)
        spent = Budget()
    else:
        result, actions, spent = await _run_tool_loop(task, runtime.context)
    spent += Budget(steps=1, tool_calls=result.tool_calls, tool_errors=result.tool_errors)
    return {
        "results": {task.step.id: result},
        "action_counts": dict(actions),
        "budget": watch.budget(spent),
    }
