"""The tool calls a step makes: `Execution` (what they produced), `call_tool` (one call with
the run's limits, retries, journal and artifact folder), and the policy on the calls the model
chooses inside a step (`checked_call`): a call the step was not planned or approved for is
refused, with a reason the model can act on, instead of being made."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkpoints.journal import active_journal, idempotency_key
from nodes.approval import changes_existing_file
from nodes.context import Context
from nodes.state import Budget, StepResult, StepTask
from nodes.wave_budget import TOOL_CALL, wave_budget
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
from tools.runtime import current_thread_id


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
    succeeded: dict[str, str] = field(default_factory=dict)
    """Calls that worked, by action fingerprint, with their observation."""
    failed: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Calls that failed or were refused, by action fingerprint: `acted` when they failed, and
    the error."""
    acted: int = 0
    """Acting calls (not read-only) that worked so far."""
    last_action: str = ""
    """The observation of the latest acting call that worked."""
    action_failed: bool = False
    """Whether an acting call failed since the latest one that worked (a re-read then is how
    the model recovers, not a sign it is done)."""

    def record(
        self,
        name: str,
        args: Mapping[str, object],
        outcome: ToolOutcome,
        context: Context,
        *,
        counted: bool = False,
    ) -> None:
        """Count one tool call and what it left behind (`counted`: the call was counted when it
        was made, as an early call is: `nodes.early_calls`)."""
        self.calls += 0 if counted else 1
        self.errors += 0 if outcome.ok else 1
        self.artifacts += outcome.artifacts
        self.saw_web_content |= outcome.ok and has_untrusted_output(name, context)
        fingerprint = action_fingerprint(name, args)
        acts = risk_of(name, context) != "read_only"
        if not outcome.ok:
            self.failed[fingerprint] = (self.acted, outcome.text)
            self.action_failed = self.action_failed or acts
            return
        self.succeeded[fingerprint] = outcome.text
        if acts:
            self.acted += 1
            self.last_action, self.action_failed = outcome.text, False
        path = args.get("path")
        if risk_of(name, context) == "writes_workspace" and isinstance(path, str):
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


async def _ran_before(step_id: str, name: str, args: Mapping[str, object]) -> bool:
    """True when the journal shows this exact call of this step started before: the run was
    interrupted after acting, and the file it finds is the one this call wrote."""
    journal = active_journal.get()
    if journal is None:
        return False
    key = idempotency_key(current_thread_id(), step_id, name, args)
    return await asyncio.to_thread(journal.get, key) is not None


def acts_outside(name: str, context: Context) -> bool:
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
    if name != step.tool and acts_outside(name, context):
        # Its approval (if any) was of the step's description, never of this tool's effect.
        return (
            f"ERROR: {name} acts outside planloop and step {step.id} was not planned as a call "
            "of it; finish this step and let the planner add a step that "
            "calls it, so it is approved as such"
        )
    # A step's risk class is what its approval was decided on; with approvals off there is no
    # approval to bypass, and refusing only sends a 1.5B executor round the same call again.
    if context.approval != "none" and RISK_ORDER.index(tool_risk) > RISK_ORDER.index(step.risk):
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


async def checked_call(
    task: StepTask, name: str, args: Mapping[str, object], run: Execution, context: Context
) -> ToolOutcome:
    """One call the model chose inside a step: counted, refused when the step may not make
    it, otherwise run; recorded in `run` either way. A call the run's limits leave no room
    for (its wave's other steps included) is neither made nor counted."""
    run.actions[action_fingerprint(name, args)] += 1
    refusal = await _refusal(task, name, args, run, context)
    limit = None if refusal else wave_budget(task).claim(TOOL_CALL, context)
    if limit:  # not made, so not counted: the run's limit holds
        return ToolOutcome(False, f"ERROR: not run: {limit} reached")
    if refusal:
        outcome = ToolOutcome(False, refusal)
    else:
        outcome = await call_tool(name, args, context, task.step.id)
    run.record(name, args, outcome, context)
    return outcome
