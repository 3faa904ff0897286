"""reflect: judge new results against their step's `expected` and the done-criteria."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import cast

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.budget import Stopwatch, model_call_limit
from nodes.checks import verify
from nodes.context import Context
from nodes.cross_check import judged_by_programs
from nodes.deadline import OutOfTimeError, out_of_time, within_run_time
from nodes.decide import goes_on
from nodes.errors import StructuredOutputError
from nodes.evidence import checked_files, founded, needs_evidence, unfounded
from nodes.goal_files import named_files_text
from nodes.history import history_text
from nodes.llm import REFLECT, invoke_structured
from nodes.plan_check import ready_steps
from nodes.prompts import (
    ANSWER_AGAIN,
    QUOTE_PROMPT,
    REFLECT_SYSTEM,
    REFLECT_USER,
    SECOND_PROGRAM_PASSES,
    VERDICTS_PROMPT,
)
from nodes.render import criteria_lines, results_text
from nodes.schemas import ReflectionSpec, StepVerdict, reflection_schema
from nodes.second_program import passing_second_program
from nodes.state import Criterion, State, Step, StepResult
from tools.runtime import in_confinement

NEW_RESULT_CHARS = 3000
EARLIER_RESULT_CHARS = 400
REVIEW_CHARS = 24_000
"""All new results together (about 6k tokens): a deferred review of many steps stays bounded."""


def new_result_chars(pending: list[StepResult]) -> int:
    """How much of each new result the review shows."""
    share = REVIEW_CHARS // max(len(pending), 1)
    return max(EARLIER_RESULT_CHARS, min(NEW_RESULT_CHARS, share))


def answerable_only(spec: ReflectionSpec, pending: list[StepResult], shown: int) -> ReflectionSpec:
    """`spec` with its answer step dropped unless it is a new result the review showed whole
    (`shown`: characters of each): finish repeats that result verbatim. A repair, not a
    question: a 1.5B reviewer named a clipped result three times in a row, which had ended a
    live run "failed"."""
    answerable = {r.step_id for r in pending if r.status == "done" and len(r.output) <= shown}
    if spec.answer_step is None or spec.answer_step in answerable:
        return spec
    return spec.model_copy(update={"answer_step": None})


def _advice(
    pending: list[StepResult], criteria: list[Criterion], contents: Mapping[str, str | None]
) -> Callable[[ReflectionSpec], str | None]:
    """The question to ask once, in the same conversation, about what a review may leave as it
    is but had better not: a new step without a verdict (it fails, and its work is planned
    again; a 1.5B reviewer left one out three times in a row, which had ended the run), and a
    criterion marked met on evidence that shows nothing (`nodes.evidence`: it stays unmet; a
    1.5B reviewer restated criteria for right and wrong files alike)."""
    by_id = {c.id: c for c in criteria}
    pending_ids = {r.step_id for r in pending}

    def advise(spec: ReflectionSpec) -> str | None:
        questions = []
        missing = pending_ids - {v.step_id for v in spec.verdicts} - set(spec.passed)
        if missing:
            questions.append(VERDICTS_PROMPT.format(steps=", ".join(sorted(missing))))
        problems = []
        for update in spec.criteria:
            criterion = by_id.get(update.id)
            if criterion is None or not update.met or _code_says(criterion):
                continue  # code's word stands, whatever the evidence
            said = replace(criterion, met=True, evidence=update.evidence)
            why = unfounded(said, contents) if needs_evidence(said) else ""
            if why:
                problems.append(f"{update.id}: {why}")
        if problems:
            questions.append(QUOTE_PROMPT.format(problems="; ".join(problems)))
        return "\n".join([*questions, ANSWER_AGAIN]) if questions else None

    return advise


def apply_reflection(
    spec: ReflectionSpec, pending: list[StepResult], criteria: list[Criterion]
) -> tuple[dict[str, StepResult], list[Criterion]]:
    """New verdicts for the pending results and the updated criteria.

    A step whose execution errored fails whatever the model says.
    """
    verdicts = {step_id: StepVerdict(step_id=step_id, ok=True) for step_id in spec.passed}
    verdicts.update({v.step_id: v for v in spec.verdicts})
    judged = {}
    for result in pending:
        verdict = verdicts.get(result.step_id)
        passed = bool(verdict and verdict.ok) and result.status == "done"
        note = verdict.note if verdict else ""
        if not passed and spec.replan and spec.reason.strip():
            note = f"{note}; {spec.reason.strip()}" if note else spec.reason.strip()
        judged[result.step_id] = replace(result, verdict="pass" if passed else "fail", note=note)
    updates = {u.id: u for u in spec.criteria}
    new_criteria = [
        replace(c, met=updates[c.id].met, evidence=updates[c.id].evidence.strip())
        if c.id in updates
        else c
        for c in criteria
    ]
    return judged, new_criteria


def judgement_due(state: State, pending: list[StepResult], context: Context) -> bool:
    """Whether the unjudged results must be judged now.

    Deferred reflection (the default) judges in one call once the plan cannot simply go on, so
    results that fan out and build on each other cost one review, not one per wave (as
    LLMCompiler's joiner). It is due at once when a step failed, and before any finish or
    replan (no steps ready, a limit or loop hit, a rejected step), so nothing ends unjudged.
    """
    if not pending:
        return False
    if context.reflection == "every_wave" or any(r.status != "done" for r in pending):
        return True
    out_of_steps = state.budget.steps >= context.max_steps
    return out_of_steps or not goes_on(state, context)


def expected_lines(steps: list[Step]) -> str:
    """What each step was expected to achieve, one line per distinct expectation."""
    ids: dict[str, list[str]] = {}
    for step in steps:
        ids.setdefault(step.expected, []).append(step.id)
    return "\n".join(f"expected for {', '.join(i)}: {text}" for text, i in ids.items())


def reflect_messages(
    state: State, pending: list[StepResult], shown: int, context: Context, files: str = "(none)"
) -> list[BaseMessage]:
    """The review prompt: the new results (each up to `shown` characters) with what each step
    was expected to achieve, the criteria, earlier results within the history budget, and
    `files`, the workspace files the criteria's checks name (so a criterion about a file's
    content is judged on the content, not on a step's word for it)."""
    steps_by_id = {s.id: s for s in state.plan}
    earlier = [r for r in state.results.values() if r.verdict != "pending"]
    expected = expected_lines([steps_by_id[r.step_id] for r in pending if r.step_id in steps_by_id])
    return [
        SystemMessage(REFLECT_SYSTEM),
        HumanMessage(
            REFLECT_USER.format(
                objective=state.objective,
                criteria=criteria_lines(state.criteria, with_status=True),
                new_results=results_text(pending, steps_by_id, max_chars=shown) + "\n" + expected,
                earlier_results=history_text(
                    earlier,
                    steps_by_id,
                    budget_tokens=context.history_budget_tokens,
                    detail_chars=EARLIER_RESULT_CHARS,
                ),
                files=files,
            )
        ),
    ]


def left_to_review(criteria: list[Criterion]) -> list[Criterion]:
    """The criteria a model must judge: unmet and left to it (no check, or a partial check that
    passed). A failed check needs no model to say the criterion is unmet."""
    return [
        c
        for c in criteria
        if not c.met and (c.check is None or (not c.check.decides and c.check_passed))
    ]


def needs_review(criteria: list[Criterion]) -> bool:
    """Whether a model must judge some criterion (`left_to_review`)."""
    return bool(left_to_review(criteria))


def judged_by_code(
    state: State, pending: list[StepResult], failures: list[str]
) -> dict[str, object]:
    """The review when code decided every criterion: a step passes when it ran, and a replan
    is asked for when the plan has nothing left to run but a check still fails. No step's
    output becomes the answer: an executor that stopped on a passing check left a tool's
    observation, not words for the user."""
    judged = {
        r.step_id: replace(r, verdict="pass")
        if r.status == "done"
        else replace(r, verdict="fail", note=r.output[:300])
        for r in pending
    }
    results = {**state.results, **judged}
    stuck = not ready_steps(state.plan, results)
    return {
        "results": judged,
        "replan_reason": f"checks failed: {'; '.join(failures)}" if failures and stuck else "",
        "review_answer": "",
    }


def overruled(criteria: list[Criterion], checked: list[Criterion]) -> list[Criterion]:
    """The model's criteria with code's word where code has one: a deciding check's result,
    and a failed check of either kind (unmet, whatever the model says)."""
    by_id = {c.id: c for c in checked}
    merged = []
    for criterion in criteria:
        code = by_id.get(criterion.id)
        if code is None or code.check is None:
            merged.append(criterion)
        elif _code_says(code):
            merged.append(code)
        else:  # a partial check passed: the model's judgement stands
            merged.append(replace(criterion, check_passed=True))
    return merged


def _code_says(criterion: Criterion) -> bool:
    check = criterion.check
    return check is not None and (check.decides or not criterion.check_passed)


def judged_by_model(
    state: State,
    pending: list[StepResult],
    spec: ReflectionSpec,
    failures: list[str],
    contents: Mapping[str, str | None],
) -> dict[str, object]:
    """The review as the model's reflection gives it, with every criterion code checked as code
    decided it (`state` holds the checked criteria); a replan is asked for when the model asks,
    or when the plan has nothing left to run but a check still fails."""
    judged, criteria = apply_reflection(spec, pending, state.criteria)
    by_code = judged_by_code(replace(state, results={**state.results, **judged}), [], failures)
    reason = (spec.reason.strip() or "reflection asked for a replan") if spec.replan else ""
    return {
        "results": judged,
        "criteria": founded(overruled(criteria, state.criteria), contents),
        "replan_reason": reason or by_code["replan_reason"],
        "answer_step": spec.answer_step or "",
        "review_answer": spec.answer.strip(),
    }


@within_run_time
async def reflect(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Judge every result that has no verdict yet (when judgement is due): code checks the
    criteria it can, and one model call judges the rest, when any is left and no limit on
    model calls, tokens, cost or time has been reached."""
    watch = Stopwatch()
    pending = [r for r in state.results.values() if r.verdict == "pending"]
    # Only what is not empty yet: every write is a checkpoint row and a channel update.
    cleared: dict[str, object] = {
        key: [] for key in ("pending_approvals", "next_steps") if getattr(state, key)
    }
    if not judgement_due(state, pending, runtime.context):
        # No budget update: decide_done must see the very budget this check saw, or a time
        # limit crossed in between would end the run with these results unjudged.
        return cleared
    checked, failures = await in_confinement(verify, state.criteria)
    if not needs_review(checked):
        by_code = {**cleared, **judged_by_code(state, pending, failures), "criteria": checked}
        if not _may_retry(state, by_code, runtime.context):
            return {**by_code, "budget": watch.budget()}
        failed = [c for c in checked if c.check is not None and not c.check_passed]
        try:
            second, spent = await passing_second_program(state, pending, failed, runtime.context)
        except OutOfTimeError as exc:
            return {**by_code, **out_of_time(exc), "budget": watch.budget()}
        return {**by_code, **_runs_next(second, by_code), "budget": watch.budget(spent)}
    if model_call_limit(state.budget, runtime.context):
        # A review would cross a limit the user set: code's checks stand, the rest stays
        # unjudged (its steps pending, never passed unseen), and decide_done ends the run on
        # that limit.
        return {**cleared, "criteria": checked, "budget": watch.budget()}
    try:
        state, settled, cross = await judged_by_programs(
            replace(state, criteria=checked), pending, runtime.context
        )
    except OutOfTimeError as exc:  # code's checks stand, the rest stays unjudged
        return {**cleared, **out_of_time(exc), "criteria": checked, "budget": watch.budget()}
    settled_ids = {c.id for c in settled}
    if settled and not needs_review([c for c in state.criteria if c.id not in settled_ids]):
        unmet = [c.evidence for c in settled if not c.met]
        judged = judged_by_code(state, pending, [*failures, *unmet])
        budget = watch.budget(cross.cost)
        return {**cleared, **judged, "criteria": state.criteria, "budget": budget}
    shown = new_result_chars(pending)
    named = " ".join(c.check.path for c in checked if c.check is not None)
    files = await in_confinement(named_files_text, named)
    contents = await in_confinement(checked_files, checked)
    messages = reflect_messages(state, pending, shown, runtime.context, files)
    try:
        spec, spent = await invoke_structured(
            runtime.context,
            messages,
            reflection_schema(
                tuple(c.id for c in state.criteria), tuple(r.step_id for r in pending)
            ),
            stage=REFLECT,
            advice=_advice(pending, state.criteria, contents),
        )
    except (StructuredOutputError, OutOfTimeError) as exc:
        ended = out_of_time(exc) if isinstance(exc, OutOfTimeError) else _failed(exc)
        return {
            **cleared,
            **ended,
            "criteria": _with(state.criteria, settled),
            "budget": watch.budget(exc.spent + cross.cost),
        }
    spec = answerable_only(spec, pending, shown)
    judged = judged_by_model(state, pending, spec, failures, contents)
    if settled:  # what programs settled stands, whatever the review says of it
        judged["criteria"] = _with(cast(list[Criterion], judged["criteria"]), settled)
    said_met = {update.id for update in spec.criteria if update.met}
    told = cross.told(judged, said_met)
    return {**cleared, **told, "budget": watch.budget(spent + cross.cost)}


def _may_retry(state: State, judged: dict[str, object], context: Context) -> bool:
    """Whether a second program could be the retry of what failed its checks: a replan is
    asked for, one is left, and a model call is within the limits (`model_call_limit`)."""
    replan_left = state.budget.replans < context.max_replans
    return (
        bool(judged["replan_reason"])
        and replan_left
        and not model_call_limit(state.budget, context)
    )


def _runs_next(program: str, judged: dict[str, object]) -> dict[str, object]:
    """The update that has the retry run `program`, a second program that passes the checks
    the step's failed (nothing when there is none)."""
    if not program:
        return {}
    reason = f"{judged['replan_reason']}. {SECOND_PROGRAM_PASSES}"
    return {"replan_reason": reason, "second_program": program}


def _failed(exc: StructuredOutputError) -> dict[str, object]:
    return {"status": "failed", "stop_reason": str(exc)}


def _with(criteria: list[Criterion], decided: list[Criterion]) -> list[Criterion]:
    by_id = {c.id: c for c in decided}
    return [by_id.get(c.id, c) for c in criteria]
