"""decide_done: finish, continue, replan, or stop on budget or a loop. No model call."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from langgraph.runtime import Runtime

from nodes.approval import approval_reason
from nodes.budget import exceeded_limit
from nodes.context import Context
from nodes.fill_args import fills_together
from nodes.placeholders import result_value, substituted
from nodes.plan_check import ready_steps
from nodes.render import step_line
from nodes.state import Budget, PendingApproval, State, Step
from tools import tools_for, validate_args


def _finish(status: str, reason: str) -> dict[str, object]:
    return {"decision": "finish", "status": status, "stop_reason": reason}


def _progress(state: State) -> int:
    passed = sum(1 for r in state.results.values() if r.verdict == "pass")
    return passed + sum(1 for c in state.criteria if c.met)


def _replan_reason(state: State) -> str | None:
    """Why the current plan cannot go on, or None when it can."""
    if state.replan_reason:
        return state.replan_reason
    for step in state.plan:
        result = state.results.get(step.id)
        if result and result.verdict == "fail":
            return f"step {step.id} failed: {result.note or result.output[:300]}"
    if not ready_steps(state.plan, state.results):
        unmet = ", ".join(c.id for c in state.criteria if not c.met)
        return f"the plan is finished but criteria {unmet} are not met"
    return None


def _dispatch(state: State, context: Context) -> dict[str, object]:
    """Choose the ready steps to run next and which of them wait for a human; args that only
    wait for earlier results to be put in are filled in here, by code."""
    room = min(context.max_parallel_steps, context.max_steps - state.budget.steps)
    ready = ready_steps(state.plan, state.results)[:room]
    filled = code_filled_args(ready, state, context)
    chosen = [replace(s, args=filled[s.id]) if s.id in filled else s for s in ready]
    pending = []
    for step in chosen:
        why = approval_reason(
            step, context, web_content_seen=state.web_content_seen, written=state.files_written
        )
        if why:
            pending.append(PendingApproval(step_id=step.id, summary=step_line(step), why=why))
    waiting = {p.step_id for p in pending}
    return {
        "decision": "continue",
        "next_steps": [s.id for s in chosen],
        "pending_approvals": pending,
        "fill_first": fills_together(chosen, waiting, state, context),
        **({"filled_args": filled} if filled else {}),
    }


def code_filled_args(
    steps: list[Step], state: State, context: Context
) -> dict[str, dict[str, object]]:
    """The args of each step whose planned args held `{{id}}` placeholders that code can fill
    in from the results they name (no model call; LLMCompiler's `$1`), when they validate."""
    templated = [s for s in steps if s.templated_args is not None and s.args is None]
    tools = tools_for(context) if templated else {}
    filled = {}
    for step in templated:
        template, tool = step.templated_args or {}, tools.get(step.tool or "")
        if tool is None:
            continue
        values = {source: value for source in step.depends_on if (value := _value(source, state))}
        args = substituted(template, values)
        if args is not None and validate_args(tool, args) is None:
            filled[step.id] = args
    return filled


def _value(step_id: str, state: State) -> str | None:
    """What a placeholder for the result of `step_id` stands for, if it has a result."""
    result, tool = (
        state.results.get(step_id),
        next((s.tool for s in state.plan if s.id == step_id), None),
    )
    return result_value(result, tool) if result is not None else None


def unverifiable(state: State) -> list[str]:
    """Ids of the criteria that block an otherwise verified finish, when they may no longer:
    every criterion with a check is met (and there is one), every step of the plan passed,
    a replan already tried to evidence the rest and the newest review asked for no other. The
    rest are criteria without any check. Empty when the run must go on (or is done anyway)."""
    checked = [c for c in state.criteria if c.check is not None]
    unmet = [c.id for c in state.criteria if not c.met and c.check is None]
    # A partial check that passed verifies part of its criterion only: the content is the
    # model's to judge, and a run whose content nobody evidenced is not done.
    verified = bool(checked) and all(c.met for c in checked)
    steps_passed = all(
        step.id in state.results and state.results[step.id].verdict == "pass" for step in state.plan
    )
    tried = state.budget.replans >= 1 and not state.replan_reason
    return unmet if verified and steps_passed and tried else []


def _stop(state: State, context: Context) -> dict[str, object] | None:
    """The finish decision when the run must end now (done, a limit, a loop), else None."""
    if state.status != "running":
        return {"decision": "finish"}
    if state.criteria and all(c.met and c.evidence for c in state.criteria):
        return _finish("done", "every done-criterion is met with evidence")
    if unverified := unverifiable(state):
        return _finish(
            "done",
            "every checked criterion is met; no evidence was found for "
            f"{', '.join(unverified)} (judged by the model only)",
        )
    limit = exceeded_limit(state.budget, context)
    if limit:
        return _finish("budget_exhausted", f"budget limit reached: {limit}")
    looping = sorted(k for k, n in state.action_counts.items() if n > context.max_repeats)
    if looping:
        return _finish(
            "stalled",
            f"the same action repeated more than {context.max_repeats} times: {looping[0]}",
        )
    return None


def goes_on(state: State, context: Context) -> bool:
    """True when the next decision is to run more steps of this plan (no finish, no replan).

    Pure and free of I/O; reflection defers its review only while this holds."""
    return _stop(state, context) is None and _replan_reason(state) is None


def decide(state: State, context: Context) -> dict[str, object]:
    """The decision and its state update, as a pure function of state and settings."""
    stop = _stop(state, context)
    if stop is not None:
        return stop
    reason = _replan_reason(state)
    if reason is None:
        return _dispatch(state, context)
    if state.budget.replans >= context.max_replans:
        return _finish(
            "budget_exhausted", f"budget limit reached: max replans ({context.max_replans})"
        )
    progress = _progress(state)
    stalled = state.stalled_replans + 1 if progress <= state.progress_at_replan else 0
    if stalled >= context.max_stalled_replans:
        return _finish("stalled", f"{stalled} replans in a row made no progress ({reason})")
    return {
        "decision": "replan",
        "replan_reason": reason,
        "stalled_replans": stalled,
        "progress_at_replan": progress,
        "budget": Budget(replans=1),
    }


async def decide_done(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Decide what happens next; the router after this node acts on `decision`."""
    if runtime.context.approval == "none":
        return decide(state, runtime.context)  # no file checks: nothing blocks
    # decide() looks at workspace files (approval of changes to existing files): off the loop.
    return await asyncio.to_thread(decide, state, runtime.context)
