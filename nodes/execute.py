"""execute_step: run one step: its planned tool call (no model call), that call with its args
filled in from earlier results (one model call), or a short tool-calling loop.

The node takes a `StepTask` (one per `Send`), so ready steps fan out in parallel. A step that
needs approval interrupts before any side effect (and before any model call).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from nodes.approval import ask_approval, changes_existing_file
from nodes.budget import Stopwatch, exceeded_limit
from nodes.context import Context
from nodes.llm import invoke
from nodes.plan_check import RISK_ORDER
from nodes.prompts import EXECUTE_SYSTEM, EXECUTE_USER, FILL_SYSTEM
from nodes.render import results_text
from nodes.state import ApprovalDecision, Budget, Step, StepResult, StepTask
from tools import (
    TOOL_RISK,
    UNTRUSTED_OUTPUT_TOOLS,
    ToolOutcome,
    action_fingerprint,
    run_tool,
    tools_for,
)
from tools.runtime import current_thread_id
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

    def record(self, name: str, args: Mapping[str, object], outcome: ToolOutcome) -> None:
        """Count one tool call and what it left behind."""
        self.calls += 1
        self.errors += 0 if outcome.ok else 1
        self.artifacts += outcome.artifacts
        self.saw_web_content |= outcome.ok and name in UNTRUSTED_OUTPUT_TOOLS
        path = args.get("path")
        if outcome.ok and TOOL_RISK.get(name) == "writes_workspace" and isinstance(path, str):
            self.written.append(path.strip().removeprefix("./"))

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
    """Run one tool call of this run with its limits, retries, journal and artifact folder."""
    return await run_tool(
        tools_for(context),
        name,
        args,
        limit=context.max_observation_chars,
        workspace=context.workspace,
        thread_id=current_thread_id(),
        step_id=step_id,
        side_effect=TOOL_RISK.get(name, "read_only") in ("writes_workspace", "executes_code"),
        retries=context.tool_retries,
        backoff_seconds=context.tool_retry_backoff_seconds,
    )


async def _run_planned_call(step: Step, context: Context) -> Execution:
    args = step.args or {}
    run = Execution(step_id=step.id)
    outcome = await call_tool(step.tool or "", args, context, step.id)
    run.record(step.tool or "", args, outcome)
    run.actions[action_fingerprint(step.tool or "", args)] += 1
    run.ok, run.output = outcome.ok, outcome.text
    return run


async def _run_filled_call(task: StepTask, step: Step, context: Context) -> Execution:
    """A planned tool whose args depend on earlier results: one model call fills them in."""
    run = Execution(step_id=step.id)
    name = step.tool or ""
    tool = tools_for(context).get(name)
    limit = exceeded_limit(task.budget, context)
    if tool is None or limit:
        why = f"{limit} reached" if limit else f"tool {name!r} is not available in this run"
        run.ok, run.output = False, f"ERROR: {why}"
        return run
    messages: list[BaseMessage] = [
        SystemMessage(FILL_SYSTEM.format(tool=name)),
        HumanMessage(_step_prompt(task, step)),
    ]
    reply, run.spent = await invoke(context, messages, tools=[tool], tool_choice=name)
    call = next((c for c in reply.tool_calls if c["name"] == name), None)
    if call is None:
        run.ok, run.output = False, f"ERROR: no {name} call was made: {sanitize(reply.text)[:300]}"
        return run
    args = call["args"]
    run.actions[action_fingerprint(name, args)] += 1
    refusal = _refusal(task, name, args, run, context)
    outcome = (
        ToolOutcome(False, refusal) if refusal else await call_tool(name, args, context, step.id)
    )
    run.record(name, args, outcome)
    run.ok, run.output = outcome.ok, outcome.text
    return run


def _step_prompt(task: StepTask, step: Step) -> str:
    return EXECUTE_USER.format(
        objective=task.objective,
        step_id=step.id,
        description=step.description,
        expected=step.expected,
        inputs=results_text(task.inputs, {}, max_chars=INPUT_RESULT_CHARS),
    )


def _refusal(
    task: StepTask, name: str, args: Mapping[str, object], run: Execution, context: Context
) -> str | None:
    """Why the executor may not make this call inside its step, or None when it may."""
    step = task.step
    tool_risk = TOOL_RISK.get(name, "read_only")
    if RISK_ORDER.index(tool_risk) > RISK_ORDER.index(step.risk):
        return (
            f"ERROR: {name} is {tool_risk}, but step {step.id} was planned as {step.risk}; "
            "finish this step and let the planner add a step for it"
        )
    written = [*task.files_written, *run.written]
    if (
        tool_risk == "writes_workspace"
        and context.approval != "none"
        and changes_existing_file(args, context, written)
    ):
        return (
            f"ERROR: {args.get('path')} existed before this run; changing it needs approval, "
            "so finish this step and let the planner add a step with this exact tool call"
        )
    if run.actions[action_fingerprint(name, args)] > context.max_repeats:
        return "ERROR: this exact call was already made; use its result"
    return None


async def _run_tool_loop(task: StepTask, step: Step, context: Context) -> Execution:
    """Let the model call tools until it answers in plain text, within turn and budget limits."""
    messages: list[BaseMessage] = [
        SystemMessage(EXECUTE_SYSTEM),
        HumanMessage(_step_prompt(task, step)),
    ]
    run = Execution(step_id=step.id)
    offered = list(tools_for(context).values())
    for _ in range(context.max_executor_turns):
        limit = exceeded_limit(task.budget + run.spent, context)
        if limit:
            run.ok, run.output = False, f"ERROR: stopped mid-step: {limit} reached"
            return run
        reply, cost = await invoke(context, messages, tools=offered)
        run.spent += cost
        messages.append(reply)
        if not reply.tool_calls:
            run.output = sanitize(reply.text)
            return run
        for call in reply.tool_calls:
            key = action_fingerprint(call["name"], call["args"])
            run.actions[key] += 1
            refusal = _refusal(task, call["name"], call["args"], run, context)
            if refusal:
                outcome = ToolOutcome(False, refusal)
            else:
                outcome = await call_tool(call["name"], call["args"], context, step.id)
            run.record(call["name"], call["args"], outcome)
            tool_call_id = call["id"] or key
            messages.append(ToolMessage(outcome.text, tool_call_id=tool_call_id, name=call["name"]))
    run.ok, run.output = False, f"ERROR: not finished after {context.max_executor_turns} turns"
    return run


def _rejected(step: Step, decision: ApprovalDecision) -> StepResult:
    feedback = decision.feedback or "no reason given"
    return StepResult(
        step_id=step.id,
        status="error",
        output=f"REJECTED by the user before it ran: {feedback}",
        verdict="fail",
        note=f"rejected by the user: {feedback}",
    )


async def execute_step(task: StepTask, runtime: Runtime[Context]) -> dict[str, object]:
    """Execute the step in `task` (after approval, when needed) and record what happened."""
    watch = Stopwatch()
    context, step = runtime.context, task.step
    decisions: list[ApprovalDecision] = []
    if task.approval_reason:
        decision = ask_approval(
            step, task.approval_reason, task.budget, task.remaining_steps, context
        )
        decisions.append(decision)
        if decision.action == "reject":
            return {
                "results": {step.id: _rejected(step, decision)},
                "approvals": decisions,
                "budget": watch.budget(),
            }
        if decision.action == "edit":
            step = replace(step, args=decision.args)
    if step.tool and step.args is not None:
        run = await _run_planned_call(step, context)
    elif step.tool:
        run = await _run_filled_call(task, step, context)
    else:
        run = await _run_tool_loop(task, step, context)
    spent = run.spent + Budget(steps=1, tool_calls=run.calls, tool_errors=run.errors)
    return {
        "results": {step.id: run.result()},
        "action_counts": dict(run.actions),
        "approvals": decisions,
        "web_content_seen": run.saw_web_content,
        "files_written": run.written,
        "budget": watch.budget(spent),
    }
