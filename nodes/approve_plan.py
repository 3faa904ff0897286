"""approve_plan: with plan approval on, a human approves, rejects or edits each new plan."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from nodes.approval_contract import PlanApprovalRequest, plan_ready_answers
from nodes.context import Context
from nodes.plan_check import to_steps, validate_plan
from nodes.schemas import PlanSpec
from nodes.state import PlanDiff, State, Step
from tools import tools_for

ACCEPTED: dict[str, object] = {"replan_reason": ""}
"""The update of an accepted plan: the replan reason was shown with it, and is cleared so
decide_done starts afresh."""


def plan_diff(old: list[Step], new: list[Step]) -> PlanDiff:
    """Added, removed and changed steps between two plans, by id."""
    before, after = {s.id: s for s in old}, {s.id: s for s in new}
    return PlanDiff(
        added=[i for i in after if i not in before],
        removed=[i for i in before if i not in after],
        changed=[i for i in after if i in before and before[i] != after[i]],
    )


def plan_hash(plan: list[Step]) -> str:
    """What binds an answer to one plan (a changed plan has another hash)."""
    canonical = json.dumps([asdict(s) for s in plan], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def plan_payload(state: State, refused: str) -> PlanApprovalRequest:
    """The interrupt payload: the plan, and on a replan its diff against the previous one."""
    bound_to = plan_hash(state.plan)
    payload: PlanApprovalRequest = {
        "kind": "plan_approval",
        "objective": state.objective,
        "plan": [asdict(s) for s in state.plan],
        "diff": asdict(state.plan_diff) if state.plan_diff else None,
        "replan_reason": state.replan_reason,
        "plan_hash": bound_to,
        "ready_answers": plan_ready_answers(bound_to),
        "resume_with": {
            "action": "approve | reject | edit",
            "feedback": "<why, for reject>",
            "plan": "<the full list of new steps, for edit>",
        },
    }
    if refused:
        payload["refused"] = refused
    return payload


def _edited_plan(state: State, value: Mapping[str, object], context: Context) -> list[Step] | str:
    """The edited plan as steps, or why it is refused."""
    finished = state.results
    kept = [s for s in state.plan if s.id in finished and finished[s.id].verdict == "pass"]
    try:
        spec = PlanSpec.model_validate({"steps": value.get("plan")})
    except ValidationError as exc:
        return f"edited plan is malformed: {exc.errors()[0]['msg']}"
    errors = validate_plan(
        spec.steps, tools=tools_for(context), finished=finished, max_steps=context.max_plan_steps
    )
    return "; ".join(errors) if errors else kept + to_steps(spec.steps, context)


def _apply_answer(state: State, answer: object, context: Context) -> dict[str, object] | str:
    """The state update an answer asks for, or why it is refused."""
    value = dict(answer) if isinstance(answer, Mapping) else {}
    action = value.get("action")
    bound = value.get("plan_hash")
    if bound is not None and bound != plan_hash(state.plan):
        return "plan_hash does not match the pending plan (stale approval)"
    if action == "approve":
        return dict(ACCEPTED)
    if action == "reject":
        feedback = str(value.get("feedback") or "no reason given")
        return {"plan_errors": [f"the user rejected this plan: {feedback}"]}
    if action == "edit":
        edited = _edited_plan(state, value, context)
        if isinstance(edited, str):
            return edited
        return {**ACCEPTED, "plan": edited, "plan_diff": plan_diff(state.plan, edited)}
    return f"action must be approve, reject or edit, not {action!r}"


async def approve_plan(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Interrupt with the plan until a valid answer arrives (no-op unless plan approval is on)."""
    if not runtime.context.plan_approval:
        return dict(ACCEPTED)
    refused = ""
    while True:
        answer = interrupt(plan_payload(state, refused))
        # An edited plan's args are checked against MCP tools' schemas: off the event loop.
        outcome = await asyncio.to_thread(_apply_answer, state, answer, runtime.context)
        if not isinstance(outcome, str):
            return outcome
        refused = outcome
