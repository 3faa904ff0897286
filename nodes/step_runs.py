"""The three ways a step runs: its planned tool call (no model call), that call with its args
filled in from earlier results (one model call), or a short tool-calling loop."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from checkpoints.journal import active_journal, idempotency_key
from nodes.approval import changes_existing_file
from nodes.budget import Stopwatch, exceeded_limit
from nodes.checks import verify
from nodes.context import Context
from nodes.errors import ModelRequestRejectedError
from nodes.llm import EXECUTE, FILL, completion_cap, invoke, was_truncated
from nodes.prompts import CUT_OFF_NOTE, EXECUTE_SYSTEM, EXECUTE_USER, FILL_SYSTEM
from nodes.render import results_text
from nodes.state import Budget, Step, StepResult, StepTask
from tools import (
    BUILTIN,
    RISK_ORDER,
    ToolOutcome,
    action_fingerprint,
    has_untrusted_output,
    risk_of,
    run_tool,
    spec_of,
    tools_for,
)
from tools.runtime import current_confinement, current_thread_id
from tools.sanitize import sanitize

INPUT_RESULT_CHARS = 2000


@dataclass
class Execution:
    """What running a step produced, before it becomes a state update."""

    step_id: str
    output: str = ""
    ok: bool = True
    actions: Counter[str] = field(default_factory=Counter)
    spent: Budget = field(default_factory=Budget)
    calls: int = 0
    errors: int = 0
    artifacts: list[str] = field(default_factory=list)
    saw_web_content: bool = False
    written: list[str] = field(default_factory=list)

    def record(
        self, name: str, args: Mapping[str, object], outcome: ToolOutcome, context: Context
    ) -> None:
        """Count one tool call and what it left behind."""
        self.calls += 1
        self.errors += 0 if outcome.ok else 1
        self.artifacts += outcome.artifacts
        self.saw_web_content |= outcome.ok and has_untrusted_output(name, context)
        path = args.get("path")
        if outcome.ok and risk_of(name, context) == "writes_workspace" and isinstance(path, str):
            self.written.append(path.strip().removeprefix("./"))

    def tool_budget(self) -> Budget:
        """The tool calls made so far, as a budget delta."""
        return Budget(tool_calls=self.calls, tool_errors=self.errors)

    def result(self) -> StepResult:
        """The step's result as stored in state."""
        return StepResult(
            step_id=self.step_id,
            status="done" if self.ok else "error",
            output=self.output or "(no output)",
            tool_calls=self.calls,
            tool_errors=self.errors,
            artifacts=self.artifacts,
        )


async def call_tool(
    name: str, args: Mapping[str, object], context: Context, step_id: str
) -> ToolOutcome:
    """Run one tool call of this run with its limits, retries, journal and artifact folder.

    Journaled when its spec says it acts (an unknown tool is refused before anything runs)."""
    spec = spec_of(name, context)
    why = spec.why_unavailable() if spec is not None else ""
    if why:
        return ToolOutcome(False, f"ERROR: {name} is unavailable: {why}")
    return await run_tool(
        tools_for(context),
        name,
        args,
        limit=context.max_observation_chars,
        workspace=context.workspace,
        thread_id=current_thread_id(),
        step_id=step_id,
        side_effect=spec is None or spec.side_effects,
        rerun_after_crash=spec is None or spec.rerun_after_crash,
        retries=context.tool_retries,
        backoff_seconds=context.tool_retry_backoff_seconds,
    )


async def run_planned_call(step: Step, context: Context) -> Execution:
    """Run a step whose tool and args were planned: no model call."""
    args = step.args or {}
    run = Execution(step_id=step.id)
    outcome = await call_tool(step.tool or "", args, context, step.id)
    run.record(step.tool or "", args, outcome, context)
    run.actions[action_fingerprint(step.tool or "", args)] += 1
    run.ok, run.output = outcome.ok, outcome.text
    return run


@dataclass
class Filled:
    """What the fill call produced: the args, or why there are none."""

    args: dict[str, object] | None
    problem: str = ""
    cost: Budget = field(default_factory=Budget)
    unsupported: bool = False
    """The model or server cannot make a forced tool call: the executor loop does the step."""


async def fill_args(task: StepTask, step: Step, context: Context) -> Filled:
    """One model call, offered only the step's tool and forced to call it, picks its args from
    the step and its inputs."""
    name = step.tool or ""
    tool = tools_for(context).get(name)
    limit = exceeded_limit(task.budget, context)
    if tool is None or limit:
        return Filled(None, f"{limit} reached" if limit else f"tool {name!r} is not available")
    messages: list[BaseMessage] = [
        SystemMessage(FILL_SYSTEM.format(tool=name)),
        HumanMessage(_step_prompt(task, step)),
    ]
    try:
        reply, cost = await invoke(context, messages, stage=FILL, tools=[tool], tool_choice=name)
    except ModelRequestRejectedError as exc:
        # A server without named tool_choice; any other rejected request is a real error.
        return Filled(None, str(exc), unsupported="tool" in str(exc).lower())
    call = next((c for c in reply.tool_calls if c["name"] == name), None)
    if call is None:  # the model ignored the forced choice
        why = f"no {name} call was made: {sanitize(reply.text)[:300]}"
        return Filled(None, why, cost, unsupported=True)
    return Filled(dict(call["args"]), cost=cost)


async def run_filled_call(task: StepTask, step: Step, context: Context) -> Execution:
    """A planned tool whose args depend on earlier results: one model call fills them in, and
    the call is then checked like any call an executor makes. Without forced tool calls, the
    executor loop does the step instead."""
    filled = await fill_args(task, step, context)
    if filled.args is None:
        if filled.unsupported:
            return await run_tool_loop(task, step, context, spent=filled.cost)
        run = Execution(step_id=step.id, spent=filled.cost)
        run.ok, run.output = False, f"ERROR: {filled.problem}"
        return run
    run = Execution(step_id=step.id, spent=filled.cost)
    outcome = await _checked_call(task, step.tool or "", filled.args, run, context)
    run.ok, run.output = outcome.ok, outcome.text
    return run


def _step_prompt(task: StepTask, step: Step) -> str:
    return EXECUTE_USER.format(
        objective=task.objective,
        step_id=step.id,
        description=step.description,
        expected=step.expected,
        inputs=results_text(task.inputs, None, max_chars=INPUT_RESULT_CHARS),
    )


async def _ran_before(step_id: str, name: str, args: Mapping[str, object]) -> bool:
    """True when the journal shows this exact call of this step started before: the run was
    interrupted after acting, and the file it finds is the one this call wrote."""
    journal = active_journal.get()
    if journal is None:
        return False
    key = idempotency_key(current_thread_id(), step_id, name, args)
    return await asyncio.to_thread(journal.get, key) is not None


def _acts_outside(name: str, context: Context) -> bool:
    """Whether a tool acts and is not planloop's own (an MCP tool that changes something)."""
    spec = spec_of(name, context)
    return spec is not None and spec.source != BUILTIN and spec.side_effects


async def _refusal(
    task: StepTask, name: str, args: Mapping[str, object], run: Execution, context: Context
) -> str | None:
    """Why the executor may not make this call inside its step, or None when it may."""
    step = task.step
    if name not in tools_for(context):
        return None  # run_tool refuses it, naming the tools there are
    tool_risk = risk_of(name, context)
    if step.tool and name != step.tool:
        return f"ERROR: step {step.id} was planned as a {step.tool} call; call only {step.tool}"
    if name != step.tool and _acts_outside(name, context):
        # Its approval (if any) was of the step's description, never of this tool's effect.
        return (
            f"ERROR: {name} acts outside planloop and step {step.id} was not planned as a call "
            "of it; finish this step and let the planner add a step that "
            "calls it, so it is approved as such"
        )
    if RISK_ORDER.index(tool_risk) > RISK_ORDER.index(step.risk):
        return (
            f"ERROR: {name} is {tool_risk}, but step {step.id} was planned as {step.risk}; "
            "finish this step and let the planner add a step for it"
        )
    written = [*task.files_written, *run.written]
    if (
        tool_risk == "writes_workspace"
        and context.approval != "none"
        and await asyncio.to_thread(changes_existing_file, args, context, written)
        and not await _ran_before(step.id, name, args)
    ):
        return (
            f"ERROR: {args.get('path')} existed before this run; changing it needs approval, "
            "so finish this step and let the planner add a step with this exact tool call"
        )
    if run.actions[action_fingerprint(name, args)] > context.max_repeats:
        return "ERROR: this exact call was already made; use its result"
    return None


async def _checked_call(
    task: StepTask, name: str, args: Mapping[str, object], run: Execution, context: Context
) -> ToolOutcome:
    """One call the model chose inside a step: counted, refused when the step may not make
    it, otherwise run; recorded in `run` either way."""
    run.actions[action_fingerprint(name, args)] += 1
    refusal = await _refusal(task, name, args, run, context)
    if refusal:
        outcome = ToolOutcome(False, refusal)
    else:
        outcome = await call_tool(name, args, context, task.step.id)
    run.record(name, args, outcome, context)
    return outcome


async def _checks_pass(task: StepTask, observations: list[ToolOutcome]) -> bool:
    """Whether every criterion passes its code check after calls that succeeded: the step has
    done what the run needs, and asking the model to say so would only cost a turn."""
    if not task.checks or not any(o.ok for o in observations):
        return False
    _, failures = await asyncio.to_thread(verify, task.checks, current_confinement())
    return not failures


async def run_tool_loop(
    task: StepTask, step: Step, context: Context, *, spent: Budget | None = None
) -> Execution:
    """Let the model call tools until it answers in plain text, within turn and budget limits.

    A step planned with a tool is offered that tool alone; `spent` is what the step already
    cost (it counts against the limits)."""
    messages: list[BaseMessage] = [
        SystemMessage(EXECUTE_SYSTEM),
        HumanMessage(_step_prompt(task, step)),
    ]
    run = Execution(step_id=step.id, spent=spent or Budget())
    offered = _offered_tools(step, context)
    watch = Stopwatch()
    for _ in range(context.max_executor_turns):
        # The time and tool calls of this step so far count too: a long executor loop must
        # not run past the run's limits before its node ends.
        limit = exceeded_limit(task.budget + watch.budget(run.spent + run.tool_budget()), context)
        if limit:
            run.ok, run.output = False, f"ERROR: stopped mid-step: {limit} reached"
            return run
        if await _take_turn(task, messages, offered, run, context):
            return run
    run.ok, run.output = False, f"ERROR: not finished after {context.max_executor_turns} turns"
    return run


def _offered_tools(step: Step, context: Context) -> list[BaseTool]:
    available = tools_for(context)
    if step.tool in available:
        return [available[step.tool]]
    # Acting tools from outside planloop only ever run as a planned step's own tool.
    return [tool for name, tool in available.items() if not _acts_outside(name, context)]


async def _take_turn(
    task: StepTask,
    messages: list[BaseMessage],
    offered: list[BaseTool],
    run: Execution,
    context: Context,
) -> bool:
    """One model turn and the calls it makes, recorded in `run`; True when the step is over."""
    reply, cost = await invoke(context, messages, stage=EXECUTE, tools=offered)
    run.spent += cost
    if was_truncated(reply):
        # None of its calls is made (the last one is cut off): the model is asked again,
        # knowing why, instead of a cut-off reply becoming the step's answer.
        cap = completion_cap(context, EXECUTE)
        messages += [AIMessage(reply.text), HumanMessage(CUT_OFF_NOTE.format(limit=cap))]
        return False
    messages.append(reply)
    if not reply.tool_calls:
        run.output = sanitize(reply.text)
        return True
    observations = []
    for call in reply.tool_calls:
        outcome = await _checked_call(task, call["name"], call["args"], run, context)
        tool_call_id = call["id"] or action_fingerprint(call["name"], call["args"])
        messages.append(ToolMessage(outcome.text, tool_call_id=tool_call_id, name=call["name"]))
        observations.append(outcome)
    if await _checks_pass(task, observations):
        run.output = next(o.text for o in reversed(observations) if o.ok).strip()[:500]
        return True
    return False
