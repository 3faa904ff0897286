"""Schemas the model's structured answers must satisfy (validated with pydantic)."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model
from pydantic.json_schema import SkipJsonSchema

from nodes.state import ModelCheckKind

RiskName = Literal["read_only", "writes_workspace", "executes_code", "network"]


class CheckSpec(BaseModel):
    """How code can test a criterion against the workspace files."""

    # The goal analyst's prompt explains the kinds: descriptions here would be sent twice.
    kind: ModelCheckKind
    path: str = Field(min_length=1)
    text: str = ""


class CriterionSpec(BaseModel):
    """One done-criterion, with a check when code can test it."""

    text: str = Field(min_length=1)
    check: CheckSpec | None = None


class GoalSpec(BaseModel):
    """The goal turned into an objective with checkable done-criteria."""

    objective: str = Field(min_length=1, description="The goal as one concrete objective.")
    criteria: list[CriterionSpec | str] = Field(min_length=1, max_length=8)
    constraints: list[str] = Field(default_factory=list, description="Limits the goal sets.")
    effort: Literal["short", "full"] = "full"


class StepSpec(BaseModel):
    """One proposed plan step."""

    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = Field(default="", description="What the step does (needed without args).")
    expected: str = Field(default="", description="What success looks like (needed without tool).")
    tool: str | None = Field(default=None, description="Tool to call directly, if known.")
    args: dict[str, object] | None = Field(
        default=None, description="Arguments for `tool`; omit when earlier results decide them."
    )
    depends_on: list[str] = Field(default_factory=list)
    risk: RiskName = "read_only"
    templated_args: SkipJsonSchema[dict[str, object] | None] = Field(default=None, exclude=True)
    """Set by `nodes.plan_repair`, never by the model (the schema it is shown leaves it out):
    the planned args that held placeholders for earlier results, kept for code to fill in."""


class PlanSpec(BaseModel):
    """A proposed plan: a DAG of steps."""

    steps: list[StepSpec]


class DraftedGoalSpec(GoalSpec):
    """The goal analysis of a goal that needs a plan, with the first plan."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})
    effort: Literal["full"] = "full"
    steps: list[StepSpec] = Field(min_length=1)


class UndraftedGoalSpec(GoalSpec):
    """The goal analysis alone: nothing may follow it (a server enforcing the schema ends the
    reply there; a 1.5B analyst wrote a 525-token plan after choosing the short path)."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})


class GoalPlanSpec(RootModel[DraftedGoalSpec | UndraftedGoalSpec]):
    """The goal analysis, with the first plan when the goal needs one (`effort` "full")."""


class StepVerdict(BaseModel):
    """Reflection's judgement of one step result."""

    step_id: str
    ok: bool
    note: str = ""


class CriterionUpdate(BaseModel):
    """Reflection's judgement of one done-criterion."""

    id: str
    met: bool
    evidence: str = ""


class ReflectionSpec(BaseModel):
    """Reflection's judgement of the newest results."""

    passed: list[str] = Field(
        default_factory=list, description="Ids of new steps that passed with nothing to note."
    )
    verdicts: list[StepVerdict] = Field(
        default_factory=list, description="Every other new step: failures, or notes worth keeping."
    )
    criteria: list[CriterionUpdate] = Field(default_factory=list)
    replan: bool = False
    reason: str = ""
    answer_step: str | None = Field(
        default=None,
        description="When every criterion is met and one step's output already is the complete "
        "final answer for the user (a synthesis or report step), that step's id; else null.",
    )
    answer: str = Field(
        default="", description="When every criterion is met: the final answer; else empty."
    )


@functools.lru_cache(maxsize=64)
def reflection_schema(
    criterion_ids: tuple[str, ...], step_ids: tuple[str, ...]
) -> type[ReflectionSpec]:
    """`ReflectionSpec` whose ids can only be the ones under review.

    A small model writes a criterion's text or a made-up name where its id belongs (`"id":
    "text"`), and three repairs later the run fails on it. With the ids as enums, a server
    that enforces the schema cannot emit another id, and the prompt shows the model which
    ids there are."""
    if not criterion_ids or not step_ids:
        return ReflectionSpec
    criterion_id = Literal[criterion_ids]  # type: ignore[valid-type]
    step_id = Literal[step_ids]  # type: ignore[valid-type]
    update = create_model("CriterionUpdate", __base__=CriterionUpdate, id=(criterion_id, ...))
    verdict = create_model("StepVerdict", __base__=StepVerdict, step_id=(step_id, ...))
    fields = ReflectionSpec.model_fields
    return create_model(
        "ReflectionSpec",
        __base__=ReflectionSpec,
        passed=(list[step_id], fields["passed"]),
        verdicts=(list[verdict], fields["verdicts"]),  # type: ignore[valid-type]
        criteria=(list[update], fields["criteria"]),  # type: ignore[valid-type]
        answer_step=(step_id | None, fields["answer_step"]),
    )
