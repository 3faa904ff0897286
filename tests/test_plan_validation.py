"""Plan validation: every bad plan is rejected with a reason, before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.context import Context
from nodes.plan_check import ready_steps, to_steps, validate_plan
from nodes.schemas import StepSpec
from nodes.state import StepResult
from tests.fakes import step
from tools import tools_for


def check(*steps: dict[str, Any], finished: dict[str, StepResult] | None = None) -> list[str]:
    specs = [StepSpec.model_validate(s) for s in steps]
    return validate_plan(specs, tools=tools_for(Context()), finished=finished or {}, max_steps=4)


def test_valid_plan_passes() -> None:
    assert check(step("a", tool="list_files", args={}), step("b", depends_on=["a"])) == []


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ((), "no steps"),
        (tuple(step(f"s{i}") for i in range(5)), "at most 4"),
        ((step("a", tool="rm_rf", args={}),), "unknown tool 'rm_rf'"),
        ((step("a", tool="write_file", args={"path": "x"}),), "content: Field required"),
        ((step("a", tool="read_file", args={"path": "x", "mode": "r"}),), "unknown argument"),
        ((step("a", depends_on=["ghost"]),), "unknown step 'ghost'"),
        ((step("a", depends_on=["a"]),), "depends on itself"),
        (
            (step("a", depends_on=["c"]), step("b", depends_on=["a"]), step("c", depends_on=["b"])),
            "dependency cycle",
        ),
        ((step("a"), step("a")), "duplicate step id"),
        (({"id": "a", "description": "d", "expected": "e", "args": {"x": 1}},), "without a tool"),
    ],
)
def test_bad_plans_are_rejected_with_reason(steps: tuple[dict[str, Any], ...], reason: str) -> None:
    errors = check(*steps)
    assert any(reason in e for e in errors), errors


def test_reusing_or_depending_on_failed_step_is_rejected() -> None:
    failed = {"old": StepResult(step_id="old", status="error", output="x", verdict="fail")}
    assert any("already used" in e for e in check(step("old"), finished=failed))
    assert any("which failed" in e for e in check(step("n", depends_on=["old"]), finished=failed))


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
