"""The approval contract: what an interrupt asks and what an answer says, as types.

The nodes build the requests (`nodes.approval` for a step, `nodes.approve_plan` for a plan);
the CLI (`graph.cli.approvals`), the Python API and Studio / SDK users read them and send the
answers back with `Command(resume={interrupt_id: answer})`. The wire format is plain JSON.

Every request carries `ready_answers`: an approve and a reject answer already bound to the
question, which can be sent as they are (in Studio: copy one into the resume value). An answer
bound to another question (a stale step id, args hash or plan hash) is refused and the question
is asked again, with the reason in `refused`.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

ApprovalAction = Literal["approve", "reject", "edit"]
ACTIONS: tuple[ApprovalAction, ...] = ("approve", "reject", "edit")


class StepAnswer(TypedDict):
    """The answer to a step approval."""

    action: ApprovalAction
    step_id: str
    """The step asked about (the answer is refused for any other)."""
    args_hash: str
    """The hash of the args asked about: an answer to older args is refused."""
    args: NotRequired[dict[str, object]]
    """For `edit`: the args to run instead (validated again)."""
    feedback: NotRequired[str]
    """For `reject`: why, shown to the planner."""


class PlanAnswer(TypedDict):
    """The answer to a plan approval."""

    action: ApprovalAction
    plan_hash: NotRequired[str]
    """The plan asked about (when given, an answer to another plan is refused)."""
    plan: NotRequired[list[dict[str, object]]]
    """For `edit`: the full list of new steps (validated like a planned one)."""
    feedback: NotRequired[str]
    """For `reject`: why, shown to the planner."""


class StepReadyAnswers(TypedDict):
    """Answers that can be sent as they are."""

    approve: StepAnswer
    reject: StepAnswer


class PlanReadyAnswers(TypedDict):
    """Answers that can be sent as they are."""

    approve: PlanAnswer
    reject: PlanAnswer


class Projection(TypedDict):
    """What is left of the run if this step is approved."""

    remaining_steps: int
    estimated_cost_usd: float


class StepApprovalRequest(TypedDict):
    """The interrupt before a step acts."""

    kind: Literal["step_approval"]
    step_id: str
    description: str
    summary: str
    """One line: the tool call as the step will make it."""
    tool: str | None
    args: dict[str, object]
    risk: str
    why: str
    """Why the policy asks (e.g. the step may change files that existed before this run)."""
    args_hash: str
    budget_used: dict[str, object]
    projected: Projection
    ready_answers: StepReadyAnswers
    resume_with: dict[str, str]
    """A template of the answer's fields (kept for older clients; `ready_answers` is simpler)."""
    refused: NotRequired[str]
    """Why the previous answer was refused."""


class PlanApprovalRequest(TypedDict):
    """The interrupt before a (re)plan runs, with plan approval on."""

    kind: Literal["plan_approval"]
    objective: str
    plan: list[dict[str, object]]
    diff: dict[str, list[str]] | None
    """On a replan: added, removed and changed step ids."""
    replan_reason: str
    plan_hash: str
    ready_answers: PlanReadyAnswers
    resume_with: dict[str, str]
    """A template of the answer's fields (kept for older clients; `ready_answers` is simpler)."""
    refused: NotRequired[str]


ApprovalRequest = StepApprovalRequest | PlanApprovalRequest
"""Any interrupt payload planloop sends."""


def step_ready_answers(step_id: str, args_hash: str) -> StepReadyAnswers:
    """Approve and reject, bound to this step and these args."""
    return {
        "approve": {"action": "approve", "step_id": step_id, "args_hash": args_hash},
        "reject": {
            "action": "reject",
            "step_id": step_id,
            "args_hash": args_hash,
            "feedback": "rejected by the reviewer",
        },
    }


def plan_ready_answers(plan_hash: str) -> PlanReadyAnswers:
    """Approve and reject, bound to this plan."""
    return {
        "approve": {"action": "approve", "plan_hash": plan_hash},
        "reject": {
            "action": "reject",
            "plan_hash": plan_hash,
            "feedback": "rejected by the reviewer",
        },
    }
