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


async def execute_step(task: StepTask, runtime: Runtime[Context]) -> dict[str, object]:
    """Execute the step in `task` (after approval, when needed) and record what happened."""
    watch = Stopwatch()
    context, step = runtime.context, task.step
    decisions: list[ApprovalDecision] = []
    filling = Budget()
    if task.approval_reason and step.tool and step.args is None:
        # Fill the args first: the human approves the exact call. A resumed run fills them
        # again; different args no longer match the answer's hash, and are asked about anew.
        filled = await fill_args(task, step, context)
        filling = filled.cost
        if filled.args is not None:
            step = replace(step, args=filled.args)
        elif not filled.unsupported:
            failed = StepResult(step_id=step.id, status="error", output=f"ERROR: {filled.problem}")
            return {"results": {step.id: failed}, "budget": watch.budget(filling + Budget(steps=1))}
        # Unsupported: approved as a step whose calls are not known yet, then run by the loop.
    if task.approval_reason:
        decision = ask_approval(
            step, task.approval_reason, task.budget, task.remaining_steps, context
        )
        decisions.append(decision)
        if decision.action == "reject":
            return {
                "results": {step.id: _rejected(step, decision)},
                "approvals": decisions,
                "budget": watch.budget(filling),
            }
        if decision.action == "edit":
            step = replace(step, args=decision.args)
    if step.tool and step.args is not None:
        run = await run_planned_call(step, context)
    elif step.tool and not task.approval_reason:
        run = await run_filled_call(task, step, context)
    else:
        run = await run_tool_loop(task, step, context)
    spent = filling + run.spent + Budget(steps=1, tool_calls=run.calls, tool_errors=run.errors)
    return {
        "results": {step.id: run.result()},
        "action_counts": dict(run.actions),
        "approvals": decisions,
        "web_content_seen": run.saw_web_content,
        "files_written": run.written,
        "budget": watch.budget(spent),
    }
