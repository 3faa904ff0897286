"""execute_step: run one ready step (one `Send` each, so ready steps fan out in parallel).

A step that needs approval interrupts before any side effect. When its args are to be filled
in from earlier results, they are filled first, so the human approves the exact call.
"""

from __future__ import annotations

from dataclasses import replace

from langgraph.runtime import Runtime

from nodes.approval import ask_approval
from nodes.budget import Stopwatch
from nodes.context import Context
from nodes.deadline import within_run_time
from nodes.program import is_program_step
from nodes.program_runs import run_program, write_program
from nodes.state import ApprovalDecision, Budget, Step, StepResult, StepTask
from nodes.step_runs import fill_args, run_filled_call, run_planned_call, run_tool_loop


def _rejected(step: Step, decision: ApprovalDecision) -> StepResult:
    feedback = decision.feedback or "no reason given"
    return StepResult(
        step_id=step.id,
        status="error",
        output=f"REJECTED by the user before it ran: {feedback}",
        verdict="fail",
        note=f"rejected by the user: {feedback}",
    )


async def _fill_for_approval(
    task: StepTask, step: Step, context: Context, watch: Stopwatch
) -> dict[str, object]:
    """Fill the args of a step that waits for approval and checkpoint them; the step is then
    dispatched again as a planned call, so the human approves exactly that call, its cost is
    counted, and a resumed run never fills the args anew."""
    filler = write_program if is_program_step(step.tool) else fill_args
    filled = await filler(task, step, context)
    if filled.args is not None:
        return {"filled_args": {step.id: filled.args}, "budget": watch.budget(filled.cost)}
    problem = filled.problem
    if filled.unsupported:  # a run-time call nobody could review: the planner must change it
        problem += "; plan this step with explicit args, or without a tool"
    failed = StepResult(step_id=step.id, status="error", output=f"ERROR: {problem}")
    return {"results": {step.id: failed}, "budget": watch.budget(filled.cost + Budget(steps=1))}


@within_run_time
async def execute_step(task: StepTask, runtime: Runtime[Context]) -> dict[str, object]:
    """Execute the step in `task` (after approval, when needed) and record what happened."""
    watch = Stopwatch()
    context, step = runtime.context, task.step
    decisions: list[ApprovalDecision] = []
    if task.approval_reason and step.tool and step.args is None:
        return await _fill_for_approval(task, step, context, watch)
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
        run = await run_planned_call(task, step, context)
    elif is_program_step(step.tool):
        run = await run_program(task, step, context)
    elif step.tool:
        run = await run_filled_call(task, step, context)
    else:
        run = await run_tool_loop(task, step, context)
    spent = run.spent + Budget(steps=1, tool_calls=run.calls, tool_errors=run.errors)
    added: dict[str, object] = {
        "action_counts": dict(run.actions),
        "approvals": decisions,
        "web_content_seen": run.saw_web_content,
        "files_written": run.written,
    }
    return {
        "results": {step.id: run.result()},
        "budget": watch.budget(spent),
        # These channels add what they are given: an empty write changes nothing in them but
        # costs a checkpoint row and a channel update.
        **{key: value for key, value in added.items() if value},
    }
