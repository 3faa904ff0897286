"""parse_goal: the goal becomes an objective with explicit done-criteria, checked by code
wherever a criterion is about a file."""

from __future__ import annotations

import logging

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.budget import Stopwatch
from nodes.check_grounding import grounded_check, is_input, merge_checks, usable_check
from nodes.context import Context, EffortPolicy
from nodes.deadline import OutOfTimeError, out_of_time, within_run_time
from nodes.early_calls import EarlyCalls, early_calls
from nodes.errors import StructuredOutputError
from nodes.goal_files import output_checks
from nodes.goal_plan import drafted_steps, drafting_memories, goal_plan_messages
from nodes.llm import GOAL_PLAN, PARSE_GOAL, invoke_structured
from nodes.program import programs_apply
from nodes.prompts import PARSE_GOAL_SYSTEM, PARSE_GOAL_USER
from nodes.schemas import CriterionSpec, GoalPlanSpec, GoalSpec
from nodes.state import Budget, Check, Criterion, Effort, State
from tools.confinement import Confinement
from tools.runtime import current_thread_id, in_confinement

logger = logging.getLogger(__name__)


def criteria_of(
    spec: GoalSpec, goal: str, runs_code: bool, guard: Confinement
) -> tuple[list[Criterion], list[str]]:
    """The model's criteria with runnable checks, plus a check for each output file the goal
    names (and, when the run may execute code without asking, for each script's output it
    gives); criteria already true before the run, criteria about an input file (when the goal
    names its outputs) and surplus unchecked ones are dropped (a criterion whose check only
    tested a part of it that is true already is left to the model)."""
    criteria, notes = [], []
    outputs = output_checks(goal, runs_code, guard)
    written = {output.path for output in outputs}
    for item in spec.criteria:
        proposed = item if isinstance(item, CriterionSpec) else CriterionSpec(text=item)
        check, why, meant = None, "", None
        if proposed.check is not None:
            meant = grounded_check(Check(**proposed.check.model_dump()), goal)
            if written and is_input(meant, written, guard):
                # Pass 13's top_customer: eight checks on orders.csv and customers.json
                # ("holds exactly one number") that no right run could ever pass.
                notes.append(
                    f"dropped criterion {proposed.text!r}: it is about {meant.path}, an input "
                    "the goal does not ask to change"
                )
                continue
            check, why = usable_check(meant, guard)
        if why.startswith("already true") and meant is not None and meant.decides:
            notes.append(f"dropped criterion {proposed.text!r}: {why}")
            continue
        if why:
            notes.append(f"criterion {proposed.text!r} is judged by the model: {why}")
        criteria.append(Criterion(id="", text=proposed.text.strip(), check=check))
    if not criteria:
        # Nothing of the model's is left (pass 14's top_customer: every criterion was about an
        # input): the objective is the criterion, or a file merely written would decide "done".
        criteria = [Criterion(id="", text=spec.objective.strip())]
    merged, dropped = merge_checks(criteria, outputs)
    return merged, notes + dropped


def effort_of(spec: GoalSpec, chosen: EffortPolicy) -> Effort:
    """The path the goal takes: the user's choice, else the goal analysis' own."""
    return spec.effort if chosen == "auto" else chosen


@within_run_time
async def parse_goal(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Ask the model for the objective, done-criteria and constraints of the goal."""
    watch = Stopwatch()
    if not state.goal.strip():
        return {"status": "failed", "stop_reason": "the goal is empty", "budget": watch.budget()}
    # A goal one program can do takes the short path (its program is written in the executor's
    # prompt, not drafted here); the user's own choice of effort still wins.
    program_path = runtime.context.effort == "auto" and programs_apply(state.goal, runtime.context)
    drafts, hits = await drafting_memories(state, runtime)
    drafts = drafts and not program_path
    early = early_calls(current_thread_id(), state, runtime.context)
    try:
        spec, spent = await _analysed(state, runtime.context, drafts, early)
    except OutOfTimeError as exc:
        return {**out_of_time(exc), "budget": watch.budget(exc.spent + early.spent())}
    except StructuredOutputError as exc:
        spent = exc.spent + early.spent()
        return {"status": "failed", "stop_reason": str(exc), "budget": watch.budget(spent)}
    spent += early.spent()
    runs_code = runtime.context.approval == "none"
    criteria, notes = await in_confinement(criteria_of, spec, state.goal, runs_code)
    for note in notes:
        logger.info("goal analysis: %s", note)
    effort: Effort = "short" if program_path else effort_of(spec, runtime.context.effort)
    return {
        "status": "running",  # written, so the thread's values (and Studio) show it from here on
        "objective": spec.objective,
        "criteria": criteria,
        "criteria_notes": notes,
        "constraints": spec.constraints,
        "effort": effort,
        "budget": watch.budget(spent),
        **({"memory_hits": hits} if hits else {}),
        **({"drafted_plan": drafted_steps(spec, effort)} if drafts else {}),
    }


async def _analysed(
    state: State, context: Context, drafts: bool, early: EarlyCalls
) -> tuple[GoalSpec, Budget]:
    """One goal-analysis call; with `drafts`, it writes the first plan too, whose read-only
    calls start as their steps stream in (`early`)."""
    if drafts:
        messages = await goal_plan_messages(state, context)
        answer, spent = await invoke_structured(
            context, messages, GoalPlanSpec, stage=GOAL_PLAN, observer=early
        )
        return answer.root, spent
    messages = [
        SystemMessage(PARSE_GOAL_SYSTEM),
        HumanMessage(PARSE_GOAL_USER.format(goal=state.goal.strip())),
    ]
    return await invoke_structured(context, messages, GoalSpec, stage=PARSE_GOAL)
