"""fill_args: the args of several ready steps, each a planned call of a read-only tool whose
args come from earlier results, filled in by one model call with one tool call per step (the
parallel tool calls a ReAct model makes in one turn), instead of one call per step.

The filled args become the steps' planned args (`State.filled_args`, as for a step filled in
before its approval), so the steps then run without a model call. A step the reply gives no
call for is left as it was: it fills its own args when it runs.
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime

from nodes.budget import Stopwatch, exceeded_limit
from nodes.context import Context
from nodes.deadline import OutOfTimeError, out_of_time, within_run_time
from nodes.llm import FILL, invoke, was_truncated
from nodes.placeholders import echoed_placeholders
from nodes.prompts import FILL_MANY_SYSTEM, FILL_MANY_USER
from nodes.render import results_text
from nodes.state import State, Step
from nodes.step_runs import INPUT_RESULT_CHARS
from tools import risk_of, tools_for


def fills_together(
    steps: list[Step], waiting: set[str], state: State, context: Context
) -> list[str]:
    """Ids of the chosen steps whose args one call fills in together (when two or more are):
    planned calls of a read-only tool without args, not waiting for a human."""
    ids = [
        s.id
        for s in steps
        if s.tool
        and s.args is None
        and s.id not in state.filled_args
        and s.id not in waiting
        and risk_of(s.tool, context) == "read_only"
    ]
    return ids if len(ids) > 1 else []


def step_tool_name(step: Step) -> str:
    """The name a step's tool is offered under in the batch: the tool's, then the step's id
    (a reply's calls are matched to steps by name, never by their order)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{step.tool}__{step.id}")[:64]


def step_tools(steps: list[Step], available: dict[str, BaseTool]) -> dict[str, BaseTool]:
    """Each step's tool, renamed after the step (`step_tool_name`)."""
    return {
        step_tool_name(s): available[s.tool].model_copy(update={"name": step_tool_name(s)})
        for s in steps
        if s.tool in available
    }


def fill_messages(steps: list[Step], state: State) -> list[BaseMessage]:
    """The prompt: every step with the tool it calls, then the results they need (each once)."""
    needed = list(dict.fromkeys(d for s in steps for d in s.depends_on))
    inputs = [state.results[d] for d in needed if d in state.results]
    lines = "\n".join(f"Step {s.id}: {s.description} (tool {step_tool_name(s)})" for s in steps)
    user = FILL_MANY_USER.format(
        objective=state.objective,
        steps=lines,
        inputs=results_text(inputs, None, max_chars=INPUT_RESULT_CHARS),
    )
    return [SystemMessage(FILL_MANY_SYSTEM), HumanMessage(user)]


def matched_args(steps: list[Step], reply: AIMessage) -> dict[str, dict[str, object]]:
    """The args of each step's call: the reply's first call of the tool named after it. A call
    that still holds the plan's placeholders is no answer: that step fills its own args when
    it runs."""
    filled: dict[str, dict[str, object]] = {}
    for step in steps:
        name = step_tool_name(step)
        call = next((c for c in reply.tool_calls if c["name"] == name), None)
        if call is not None and not echoed_placeholders(call["args"], step.description):
            filled[step.id] = dict(call["args"])
    return filled


@within_run_time
async def fill_args(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Fill in the args of the steps decide_done marked, with one model call."""
    watch, context = Stopwatch(), runtime.context
    by_id = {s.id: s for s in state.plan}
    steps = [by_id[i] for i in state.fill_first if i in by_id and i not in state.results]
    if not steps or exceeded_limit(state.budget, context):
        return {"budget": watch.budget()}
    offered = list(step_tools(steps, tools_for(context)).values())
    try:
        reply, spent = await invoke(context, fill_messages(steps, state), stage=FILL, tools=offered)
    except OutOfTimeError as exc:
        return {**out_of_time(exc), "budget": watch.budget()}
    filled = {} if was_truncated(reply) else matched_args(steps, reply)
    return {"filled_args": filled, "budget": watch.budget(spent)}
