"""Human approval of risky steps: which steps need it, what the interrupt shows, what it accepts.

The interrupt payload and the resume value are plain JSON-like dicts (documented in the README)
so the CLI, Python callers and LangGraph Studio can all answer them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import asdict
from typing import cast

from langgraph.types import interrupt

from nodes.approval_contract import (
    ACTIONS,
    ApprovalAction,
    StepApprovalRequest,
    step_ready_answers,
)
from nodes.context import Context
from nodes.render import step_line
from nodes.state import ApprovalDecision, Budget, Step
from tools import BUILTIN, spec_of, tools_for, validate_args
from tools.workspace import WorkspaceError, relative_name, resolve_in_workspace


def args_hash(step_id: str, tool: str | None, args: Mapping[str, object] | None) -> str:
    """What an approval binds to: the step id, its tool and the exact args."""
    canonical = json.dumps([step_id, tool, args or {}], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def changes_existing_file(
    args: Mapping[str, object] | None, context: Context, written: Collection[str]
) -> bool:
    """True when a write with these args targets a file that predates this run."""
    path = (args or {}).get("path")
    if not isinstance(path, str):
        return False
    try:
        target = resolve_in_workspace(context.workspace, path)
        exists = target.exists()
    except (WorkspaceError, OSError, ValueError):
        return False  # the tool itself will refuse the path
    return exists and relative_name(context.workspace, target) not in written


def approval_reason(
    step: Step, context: Context, *, web_content_seen: bool, written: Collection[str] = ()
) -> str | None:
    """Why the policy wants a human to approve this step, or None when it may just run.

    Under `risky`: running code; calls that act outside the workspace (network side effects,
    MCP tools that are not read-only, any tool whose risk nobody declared); and writes that
    change files the run did not create itself, or that were planned after web content was read.
    """
    if context.approval == "none":
        return None
    if context.approval == "all":
        return "the approval policy is 'all'"
    if step.risk == "executes_code":
        return "the step executes code"
    spec = spec_of(step.tool, context) if step.tool else None
    if step.risk == "network" and (spec is None or spec.side_effects):
        if spec is not None and spec.source != BUILTIN:
            return (
                f"the step calls {step.tool} ({spec.source}), which may act outside the workspace"
            )
        return "the step sends data over the network"
    if step.risk == "network" and step.args is None:
        # A query or URL chosen at run time from earlier results could carry them out.
        return "the step sends data over the network, with args taken from earlier results"
    if step.risk == "writes_workspace" and web_content_seen:
        return "the step writes files and was planned after reading web content"
    # Steps whose call is not fixed yet (no tool, or args filled in at run time) are guarded
    # per call instead: see nodes.execute.
    if (
        step.tool
        and step.args is not None
        and step.risk == "writes_workspace"
        and changes_existing_file(step.args, context, written)
    ):
        return "the step may change files that existed before this run"
    return None


def approval_payload(
    step: Step, why: str, budget: Budget, remaining_steps: int, refused: str = ""
) -> StepApprovalRequest:
    """The interrupt payload for one step (plain data, safe to show and to serialise)."""
    per_step_cost = budget.cost_usd / max(budget.steps, 1)
    bound_to = args_hash(step.id, step.tool, step.args)
    payload: StepApprovalRequest = {
        "kind": "step_approval",
        "step_id": step.id,
        "description": step.description,
        "summary": step_line(step),
        "tool": step.tool,
        "args": step.args or {},
        "risk": step.risk,
        "why": why,
        "args_hash": bound_to,
        "budget_used": asdict(budget),
        "projected": {
            "remaining_steps": remaining_steps,
            "estimated_cost_usd": round(per_step_cost * remaining_steps, 6),
        },
        "ready_answers": step_ready_answers(step.id, bound_to),
        "resume_with": {
            "action": "approve | reject | edit",
            "step_id": step.id,
            "args_hash": bound_to,
            "args": "<edited args, for edit>",
            "feedback": "<why, for reject>",
        },
    }
    if refused:
        payload["refused"] = refused
    return payload


def check_answer(step: Step, answer: object, context: Context) -> tuple[dict[str, object], str]:
    """The resume value as a dict, and the reason it must be refused ('' when it is valid)."""
    if not isinstance(answer, Mapping):
        return {}, "the resume value must be an object with an 'action'"
    value = dict(answer)
    action = value.get("action")
    if action not in ACTIONS:
        return value, f"action must be one of {', '.join(ACTIONS)}, not {action!r}"
    if value.get("step_id") != step.id:
        return value, f"this approval is for step {step.id!r}, not {value.get('step_id')!r}"
    if value.get("args_hash") != args_hash(step.id, step.tool, step.args):
        return value, "args_hash does not match the pending step (stale approval)"
    if action == "edit":
        edited = value.get("args")
        if not isinstance(edited, Mapping) or step.tool is None:
            return value, "edit needs 'args' (an object) and a step with a tool"
        tool = tools_for(context).get(step.tool)
        problem = validate_args(tool, edited) if tool else f"unknown tool {step.tool!r}"
        if problem:
            return value, f"edited args rejected: {problem}"
    return value, ""


def ask_approval(
    step: Step, why: str, budget: Budget, remaining_steps: int, context: Context
) -> ApprovalDecision:
    """Interrupt until a valid answer for this step arrives; invalid ones are refused visibly."""
    refused = ""
    while True:
        answer = interrupt(approval_payload(step, why, budget, remaining_steps, refused))
        value, refused = check_answer(step, answer, context)
        if not refused:
            break
    action = cast(ApprovalAction, value["action"])
    edited = value.get("args") if action == "edit" else None
    return ApprovalDecision(
        step_id=step.id,
        action=action,
        args=dict(cast(Mapping[str, object], edited)) if edited is not None else None,
        feedback=str(value.get("feedback") or ""),
        why=why,
    )
