"""The three ways a step runs: its planned tool call (no model call), that call with its args
filled in from earlier results (one model call), or a short tool-calling loop. The calls
themselves, and which of them the model may make inside a step: `nodes.step_calls`."""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from nodes.budget import Stopwatch
from nodes.checks import verify
from nodes.context import Context
from nodes.deadline import OutOfTimeError
from nodes.early_calls import take_early_call
from nodes.errors import ModelRequestRejectedError
from nodes.goal_files import named_files_text
from nodes.llm import EXECUTE, FILL, completion_cap, invoke, repeated, was_truncated
from nodes.placeholders import echoed_placeholders
from nodes.prompts import (
    CHECKS_FAILED_NOTE,
    CUT_OFF_NOTE,
    EXECUTE_SYSTEM,
    EXECUTE_USER,
    FILL_SYSTEM,
    REPEATING_NOTE,
)
from nodes.render import results_text
from nodes.state import Budget, Criterion, Step, StepTask
from nodes.step_calls import Execution, acts_outside, call_tool, checked_call
from nodes.wave_budget import MODEL_CALL, TOOL_CALL, wave_budget
from tools import ToolOutcome, action_fingerprint, risk_of, tools_for
from tools.runtime import current_thread_id, in_confinement
from tools.sanitize import sanitize

INPUT_RESULT_CHARS = 2000


async def run_planned_call(task: StepTask, step: Step, context: Context) -> Execution:
    """Run a step whose tool and args were planned: no model call. A call that started while
    the plan was written (`nodes.early_calls`) is taken, not made again."""
    args = step.args or {}
    run = Execution(step_id=step.id)
    early = await take_early_call(current_thread_id(), step.tool or "", args)
    if early is not None:
        run.record(step.tool or "", args, early, context, counted=True)
        run.actions[action_fingerprint(step.tool or "", args)] += 1
        run.ok, run.output = early.ok, early.text
        return run
    limit = wave_budget(task).claim(TOOL_CALL, context)
    if limit:
        run.ok, run.output = False, f"ERROR: not run: {limit} reached"
        return run
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
    if tool is None:
        return Filled(None, f"tool {name!r} is not available")
    wave = wave_budget(task)
    limit = wave.claim(MODEL_CALL, context)
    if limit:
        return Filled(None, f"{limit} reached")
    messages: list[BaseMessage] = [
        SystemMessage(FILL_SYSTEM.format(tool=name)),
        HumanMessage(await step_prompt(task, step)),
    ]
    try:
        reply, cost = await invoke(context, messages, stage=FILL, tools=[tool], tool_choice=name)
        wave.model_call_cost(cost)
    except OutOfTimeError as exc:
        return Filled(None, str(exc), exc.spent)
    except ModelRequestRejectedError as exc:
        # A server without named tool_choice; any other rejected request is a real error.
        return Filled(None, str(exc), unsupported="tool" in str(exc).lower())
    call = next((c for c in reply.tool_calls if c["name"] == name), None)
    if call is None:  # the model ignored the forced choice
        why = f"no {name} call was made: {sanitize(reply.text)[:300]}"
        return Filled(None, why, cost, unsupported=True)
    if echoed := echoed_placeholders(call["args"], step.description):
        why = f"the filled args still hold {', '.join(echoed)}, not values: {name} was not called"
        return Filled(None, why, cost)
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
    outcome = await checked_call(task, step.tool or "", filled.args, run, context)
    run.ok, run.output = outcome.ok, outcome.text
    return run


async def step_prompt(task: StepTask, step: Step) -> str:
    """The executor's prompt for one step: objective, the step, its inputs, the files it names."""
    named = " ".join([task.objective, step.description, step.expected])
    files = await in_confinement(named_files_text, named)
    return EXECUTE_USER.format(
        objective=task.objective,
        step_id=step.id,
        description=step.description,
        expected=step.expected,
        inputs=results_text(task.inputs, None, max_chars=INPUT_RESULT_CHARS),
        files=files,
    )


async def check_failures(task: StepTask, observations: list[ToolOutcome]) -> list[str] | None:
    """The criteria's code checks after calls of which one succeeded, one failure per line
    (empty: every check passes, and the step has done what the run needs; asking the model
    to say so would only cost a turn); None when there is nothing to check."""
    found = await failed_checks(task, observations)
    return None if found is None else found[1]


async def failed_checks(
    task: StepTask, observations: list[ToolOutcome]
) -> tuple[list[Criterion], list[str]] | None:
    """The criteria whose code check fails after calls of which one succeeded, and those
    failures one per line (as `check_failures`); None when there is nothing to check."""
    if not task.checks or not any(o.ok for o in observations):
        return None
    decided, failures = await in_confinement(verify, task.checks)
    return [c for c in decided if c.check is not None and not c.check_passed], failures


async def run_tool_loop(
    task: StepTask, step: Step, context: Context, *, spent: Budget | None = None
) -> Execution:
    """Let the model call tools until it answers in plain text, within turn and budget limits.

    A step planned with a tool is offered that tool alone; `spent` is what the step already
    cost (it counts against the limits)."""
    messages: list[BaseMessage] = [
        SystemMessage(EXECUTE_SYSTEM),
        HumanMessage(await step_prompt(task, step)),
    ]
    run = Execution(step_id=step.id, spent=spent or Budget())
    offered = _offered_tools(step, context)
    watch = Stopwatch()
    for _ in range(context.max_executor_turns):
        # What this step and its siblings spent so far counts too (`nodes.wave_budget`): a
        # long executor loop must not run past the run's limits before its node ends.
        limit = wave_budget(task).claim(MODEL_CALL, context, watch.budget().seconds)
        if limit:
            run.ok, run.output = False, f"ERROR: stopped mid-step: {limit} reached"
            return run
        try:
            if await _take_turn(task, messages, offered, run, context):
                return run
        except OutOfTimeError as exc:
            run.ok, run.output = False, f"ERROR: stopped mid-step: {exc}"
            return run
    run.ok, run.output = False, f"ERROR: not finished after {context.max_executor_turns} turns"
    return run


def _offered_tools(step: Step, context: Context) -> list[BaseTool]:
    available = tools_for(context)
    if step.tool in available:
        return [available[step.tool]]
    # Acting tools from outside planloop only ever run as a planned step's own tool.
    return [tool for name, tool in available.items() if not acts_outside(name, context)]


def _reads(name: str, context: Context) -> bool:
    """A read-only call may see something new when repeated (a file written since), so only
    repeated acting calls count as the model being done."""
    return risk_of(name, context) == "read_only"


async def _take_turn(
    task: StepTask,
    messages: list[BaseMessage],
    offered: list[BaseTool],
    run: Execution,
    context: Context,
) -> bool:
    """One model turn and the calls it makes, recorded in `run`; True when the step is over."""
    reply, cost = await invoke(context, messages, stage=EXECUTE, tools=offered)
    wave_budget(task).model_call_cost(cost)
    run.spent += cost
    if was_truncated(reply):
        # None of its calls is made (the last one is cut off): the model is asked again,
        # knowing why, instead of a cut-off reply becoming the step's answer.
        messages += [AIMessage(reply.text), HumanMessage(_cut_off_note(reply, context))]
        return False
    messages.append(reply)
    if not reply.tool_calls:
        run.output = sanitize(reply.text)
        return True
    if _ends_a_loop(reply.tool_calls, run, context):
        return True
    observations = []
    for call in reply.tool_calls:
        outcome = await checked_call(task, call["name"], call["args"], run, context)
        tool_call_id = call["id"] or action_fingerprint(call["name"], call["args"])
        messages.append(ToolMessage(outcome.text, tool_call_id=tool_call_id, name=call["name"]))
        observations.append(outcome)
    failures = await check_failures(task, observations)
    if failures == []:
        run.output = next(o.text for o in reversed(observations) if o.ok).strip()[:500]
        return True
    acted = any(
        o.ok and not _reads(c["name"], context)
        for c, o in zip(reply.tool_calls, observations, strict=True)
    )
    if failures and acted:
        # What code found wrong goes to the model while it can still mend it in this step
        # (a 1.5B executor wrote a four-line limerick, then wrote it again, unaware).
        messages.append(HumanMessage(CHECKS_FAILED_NOTE.format(failures="; ".join(failures))))
    return False


def _ends_a_loop(calls: list[ToolCall], run: Execution, context: Context) -> bool:
    """Whether this turn's calls only repeat what the step did, so the step ends now (with
    `run` set to its outcome) instead of running out its turns and the run's tool calls.

    Small models repeat themselves instead of saying they are done: the same acting call
    again, a read of something already read after the step's action worked, or a call that
    failed (or was refused) again with nothing changed since. The step ends with what its
    calls gave, and checks and review judge it."""
    prints = [action_fingerprint(c["name"], c["args"]) for c in calls]
    if all(p in run.failed and run.failed[p][0] == run.acted for p in prints):
        run.ok = False
        run.output = f"ERROR: the step repeated a call that failed: {run.failed[prints[-1]][1]}"
        return True
    reads = [_reads(c["name"], context) for c in calls]
    again = [run.succeeded.get(p) for p in prints]
    if all(again) and not any(reads):
        run.output = str(again[-1]).strip()[:500]
        return True
    rereads = all(r and run.actions[p] > 0 for r, p in zip(reads, prints, strict=True))
    if rereads and run.acted and not run.action_failed:
        run.output = run.last_action.strip()[:500]
        return True
    return False


def _cut_off_note(reply: AIMessage, context: Context) -> str:
    """What the executor is told about its cut-off turn: what it repeated, or the limit."""
    unit = repeated(reply)
    if unit is not None:
        return REPEATING_NOTE.format(unit=unit)
    cap = completion_cap(context, EXECUTE)
    return CUT_OFF_NOTE.format(limit=f"{cap}-token" if cap else "length")
