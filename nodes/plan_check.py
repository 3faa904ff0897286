"""Validating a proposed plan before anything runs, and reading the DAG afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from langchain_core.tools import BaseTool

from nodes.context import Context
from nodes.schemas import StepSpec
from nodes.state import Risk, Step, StepResult
from tools import risk_of, riskier, validate_args


def _find_cycle(steps: Mapping[str, StepSpec]) -> list[str] | None:
    """Return one dependency cycle among the steps, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in steps:
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterable[str]]] = [(root, iter(steps[root].depends_on))]
        state[root] = 1
        path.append(root)
        while stack:
            node, children = stack[-1]
            child = next((c for c in children if c in steps), None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(steps[child].depends_on)))
    return None


def _check_step(spec: StepSpec, tools: Mapping[str, BaseTool]) -> list[str]:
    if spec.tool is None:
        if spec.args:
            return [f"step {spec.id}: args given without a tool"]
        if not (spec.description.strip() and spec.expected.strip()):
            return [f"step {spec.id}: a step without a tool needs a description and expected"]
        return []
    tool = tools.get(spec.tool)
    if tool is None:
        return [f"step {spec.id}: unknown tool {spec.tool!r} (available: {', '.join(tools)})"]
    if spec.args is None:
        # The args come from earlier results: one model call fills them when the step runs.
        return [] if spec.description.strip() else [f"step {spec.id}: say what the args are"]
    problem = validate_args(tool, spec.args)
    return [f"step {spec.id}: {problem}"] if problem else []


def usable(result: StepResult | None) -> bool:
    """A result later steps may build on: passed, or done and not judged yet (deferred)."""
    return result is not None and (
        result.verdict == "pass" or (result.verdict == "pending" and result.status == "done")
    )


def _check_dependencies(
    spec: StepSpec, proposed_ids: set[str], finished: Mapping[str, StepResult]
) -> list[str]:
    """What is wrong with one step's dependencies (itself, a failed step, an unknown one)."""
    errors = []
    for dep in spec.depends_on:
        if dep == spec.id:
            errors.append(f"step {spec.id} depends on itself")
        elif dep in finished and not usable(finished[dep]):
            errors.append(f"step {spec.id} depends on step {dep!r}, which failed")
        elif dep not in proposed_ids and dep not in finished:
            errors.append(f"step {spec.id} depends on unknown step {dep!r}")
    return errors


def validate_plan(
    specs: list[StepSpec],
    *,
    tools: Mapping[str, BaseTool],
    finished: Mapping[str, StepResult],
    max_steps: int,
) -> list[str]:
    """Every reason the plan cannot run; an empty list means it is valid."""
    if not specs:
        return ["the plan has no steps"]
    if len(specs) > max_steps:
        return [f"the plan has {len(specs)} steps; at most {max_steps} are allowed"]
    errors: list[str] = []
    proposed_ids = {spec.id for spec in specs}
    by_id: dict[str, StepSpec] = {}
    for spec in specs:
        if spec.id in by_id:
            errors.append(f"duplicate step id {spec.id!r}")
        elif spec.id in finished:
            errors.append(f"step id {spec.id!r} is already used by an executed step")
        by_id[spec.id] = spec
        errors.extend(_check_step(spec, tools))
        errors.extend(_check_dependencies(spec, proposed_ids, finished))
    cycle = _find_cycle(by_id)
    if cycle and len(cycle) > 2:
        errors.append(f"dependency cycle: {' -> '.join(cycle)}")
    return errors


def to_steps(specs: list[StepSpec], context: Context | None = None) -> list[Step]:
    """Validated specs as state steps; a tool's own risk class overrides a lower declared one
    (a tool whose risk nobody declared is the riskiest class)."""
    context = context or Context()
    steps = []
    for spec in specs:
        risk: Risk = spec.risk
        if spec.tool:
            risk = riskier(risk_of(spec.tool, context), risk)
        steps.append(
            Step(
                id=spec.id,
                # Only a planned call may omit it: the call describes itself.
                description=spec.description.strip()
                or f"call {spec.tool}({json.dumps(spec.args, ensure_ascii=False)})",
                expected=spec.expected.strip() or f"{spec.tool} succeeds",
                tool=spec.tool,
                args=dict(spec.args) if spec.tool and spec.args is not None else None,
                depends_on=list(dict.fromkeys(spec.depends_on)),
                risk=risk,
                templated_args=spec.templated_args if spec.tool and spec.args is None else None,
            )
        )
    return steps


def ready_steps(plan: list[Step], results: Mapping[str, StepResult]) -> list[Step]:
    """Steps not yet run whose dependencies are all usable, in plan order."""
    return [
        step
        for step in plan
        if step.id not in results and all(usable(results.get(dep)) for dep in step.depends_on)
    ]
