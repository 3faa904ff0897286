"""Plan validation: a bad plan is repaired when the system can fix it, and otherwise rejected
with a reason, before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.context import Context
from nodes.plan_check import ready_steps, to_steps, validate_plan
from nodes.plan_repair import repair_plan
from nodes.schemas import StepSpec
from nodes.state import StepResult
from tests.fakes import step
from tools import tools_for


def check(*steps: dict[str, Any], finished: dict[str, StepResult] | None = None) -> list[str]:
    """The planner's path: the plan is repaired, then validated."""
    specs = [StepSpec.model_validate(s) for s in steps]
    tools, done = tools_for(Context()), finished or {}
    fixed = repair_plan(specs, tools=tools, finished=done)
    return validate_plan(fixed.specs, tools=tools, finished=done, max_steps=4)


def test_valid_plan_passes() -> None:
    assert check(step("a", tool="list_files", args={}), step("b", depends_on=["a"])) == []


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ((), "no steps"),
        (tuple(step(f"s{i}") for i in range(5)), "at most 4"),
        (
            (step("a", depends_on=["c"]), step("b", depends_on=["a"]), step("c", depends_on=["b"])),
            "dependency cycle",
        ),
        (({"id": "a", "tool": None},), "needs a description and expected"),
    ],
)
def test_bad_plans_are_rejected_with_reason(steps: tuple[dict[str, Any], ...], reason: str) -> None:
    errors = check(*steps)
    assert any(reason in e for e in errors), errors


REPAIRABLE = [
    ((step("a", tool="rm_rf", args={}),), "unknown tool 'rm_rf'", "'rm_rf' is not available"),
    (
        (step("a", tool="write_file", args={"path": "x"}),),
        "content: Field required",
        "content: Field required; the args are filled in",
    ),
    (
        (step("a", tool="read_file", args={"path": "x", "mode": "r"}),),
        "unknown argument",
        "unknown argument(s) mode; the args are filled in",
    ),
    ((step("a", depends_on=["ghost"]),), "unknown step 'ghost'", "unknown step 'ghost'"),
    ((step("a", depends_on=["a"]),), "depends on itself", "dependency on itself"),
    ((step("a"), step("a")), "duplicate step id", "renamed to a_2"),
    (
        ({"id": "a", "description": "d", "expected": "e", "args": {"x": 1}},),
        "without a tool",
        "given without a tool",
    ),
]


@pytest.mark.parametrize(("steps", "reason", "note"), REPAIRABLE)
def test_problems_the_system_can_fix_are_repaired_not_rejected(
    steps: tuple[dict[str, Any], ...], reason: str, note: str
) -> None:
    specs = [StepSpec.model_validate(s) for s in steps]
    fixed = repair_plan(specs, tools=tools_for(Context()), finished={})
    assert check(*steps) == []
    assert any(note in n for n in fixed.notes), fixed.notes
    # validate_plan alone (an edited plan's check) still names the problem.
    errors = validate_plan(specs, tools=tools_for(Context()), finished={}, max_steps=4)
    assert any(reason in e for e in errors), errors


def test_reusing_or_depending_on_failed_step_is_repaired() -> None:
    failed = {"old": StepResult(step_id="old", status="error", output="x", verdict="fail")}
    assert check(step("old"), finished=failed) == []
    assert check(step("n", depends_on=["old"]), finished=failed) == []
    specs = [StepSpec.model_validate(step("old"))]
    fixed = repair_plan(specs, tools=tools_for(Context()), finished=failed)
    assert fixed.specs[0].id == "old_2"
    tools = tools_for(Context())
    assert any(
        "already used" in e for e in validate_plan(specs, tools=tools, finished=failed, max_steps=4)
    )
    specs = [StepSpec.model_validate(step("n", depends_on=["old"]))]
    assert any(
        "which failed" in e for e in validate_plan(specs, tools=tools, finished=failed, max_steps=4)
    )


def test_tool_risk_overrides_lower_declared_risk_and_ready_order() -> None:
    specs = [
        StepSpec.model_validate(step("w", tool="write_file", args={"path": "a", "content": "b"})),
        StepSpec.model_validate(step("r", depends_on=["w"])),
    ]
    steps = to_steps(specs)
    assert steps[0].risk == "writes_workspace"
    assert [s.id for s in ready_steps(steps, {})] == ["w"]
    done = {"w": StepResult(step_id="w", status="done", output="", verdict="pass")}
    assert [s.id for s in ready_steps(steps, done)] == ["r"]
