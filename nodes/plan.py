"""plan: criteria and past results become a validated step DAG (or the reasons it is not)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.approve_plan import plan_diff
from nodes.budget import Stopwatch
from nodes.context import Context
from nodes.deadline import OutOfTimeError, out_of_time, within_run_time
from nodes.early_calls import early_calls
from nodes.errors import StructuredOutputError
from nodes.history import history_text
from nodes.llm import PLAN, invoke_structured
from nodes.memory import recall
from nodes.plan_check import to_steps, validate_plan
from nodes.plan_repair import repaired
from nodes.prompts import PLAN_ERRORS_NOTE, PLAN_RULES, PLAN_SYSTEM_HEAD, PLAN_USER, REPLAN_NOTE
from nodes.render import criteria_lines
from nodes.schemas import PlanSpec
from nodes.short_path import program_retry, retries_program, short_plan
from nodes.state import Budget, MemoryHit, State, Step
from nodes.tool_list import tools_text
from tools import tool_specs, tools_for, unavailable_tools
from tools.python_tool import describe_interpreter
from tools.runtime import current_thread_id

PROMPT_RESULT_CHARS = 600


def memories_text(hits: list[MemoryHit]) -> str:
    """Recalled memories as delimited, tagged data blocks."""
    blocks = [
        f'<memory id="{h.id}" kind="{h.kind}" trust="{"trusted" if h.trusted else "untrusted"}" '
        f'source="{h.source}">{h.text}</memory>'
        for h in hits
    ]
    return "\n".join(blocks) or "(none)"


def plan_messages(
    state: State, context: Context, python_note: str = ""
) -> list[SystemMessage | HumanMessage]:
    """The planner's prompt: objective, criteria status, finished work, tools, and feedback.

    `python_note`: what run_python's interpreter can import (`describe_interpreter`)."""
    steps_by_id = {s.id: s for s in state.plan}
    replanning = state.decision == "replan"
    user = PLAN_USER.format(
        # The analyst's objective is a paraphrase, and a small one drops things: a 1.5B
        # analyst left out the web page the goal named, and the planner never fetched it.
        goal=" ".join(state.goal.split()),
        objective=state.objective,
        criteria=criteria_lines(state.criteria, with_status=True),
        constraints="\n".join(f"- {c}" for c in state.constraints) or "(none)",
        completed=history_text(
            list(state.results.values()),
            steps_by_id,
            budget_tokens=context.history_budget_tokens,
            detail_chars=PROMPT_RESULT_CHARS,
        ),
        memories=memories_text(state.memory_hits),
        replan_note=REPLAN_NOTE.format(reason=state.replan_reason) if replanning else "",
        errors=PLAN_ERRORS_NOTE.format(errors="\n".join(f"- {e}" for e in state.plan_errors))
        if state.plan_errors
        else "",
    )
    system = PLAN_SYSTEM_HEAD + plan_rules(state, context, python_note)
    return [SystemMessage(system), HumanMessage(user.strip())]


def plan_rules(state: State, context: Context, python_note: str = "") -> str:
    """The planner's rules and the tools it may use (the goal analyst gets them too when it
    drafts the first plan)."""
    missing = unavailable_tools(context)
    return PLAN_RULES.format(
        max_steps=context.max_plan_steps,
        tools=_planner_tools_text(state, context, python_note),
        unavailable="\n".join(f"- {name}: {why}" for name, why in missing.items()) or "(none)",
    )


def _planner_tools_text(state: State, context: Context, python_note: str = "") -> str:
    """The tools the planner may use, within the tool prompt's budget: those most relevant to
    the goal in detail, and in full any that the plan uses or its errors name (so a replan
    sees what it got wrong)."""
    specs = tool_specs(context)
    in_plan = {s.tool for s in state.plan if s.tool}
    named = {name for name in specs if any(name in error for error in state.plan_errors)}
    tools = tools_text(
        specs.values(),
        budget_tokens=context.tool_prompt_budget_tokens,
        relevant_to=" ".join([state.objective or state.goal, *(c.text for c in state.criteria)]),
        expand=in_plan | named,
    )
    if "run_python" in specs and python_note:
        tools += "\n" + python_note
    return tools


def _rejected(state: State, context: Context, errors: list[str]) -> dict[str, object]:
    attempts = state.plan_attempts + 1
    update: dict[str, object] = {"plan_errors": errors, "plan_attempts": attempts}
    if attempts >= context.max_plan_attempts:
        update["status"] = "failed"
        update["stop_reason"] = (
            f"no valid plan after {attempts} attempts: {'; '.join(errors)[:500]}"
        )
    return update


@within_run_time
async def plan(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Propose a plan, validate it, and keep it only if every check passes."""
    context = runtime.context
    watch = Stopwatch()
    if state.effort == "short" and not state.plan and not state.results:
        steps = short_plan(state, context)
        return {"plan": steps, "plan_errors": [], "plan_attempts": 0, "budget": watch.budget()}
    if state.decision == "replan" and retries_program(state, context):
        again = program_retry(state)
        return {**_accepted_steps(state, again), "second_program": "", "budget": watch.budget()}
    draft = drafted(state)
    recalled: dict[str, object] = {"drafted_plan": []}  # a draft is used once
    if draft is None:
        state, memories = await _with_memories(state, runtime)
        recalled.update(memories)
    try:
        spec, spent = (draft, Budget()) if draft else await _proposed_plan(state, context)
    except OutOfTimeError as exc:
        return {**recalled, **out_of_time(exc), "budget": watch.budget(exc.spent)}
    except StructuredOutputError as exc:
        return {
            **recalled,
            **_rejected(state, context, [str(exc)]),
            "budget": watch.budget(exc.spent),
        }
    # What the system can fix itself costs no planner call (the fixes are logged).
    room = context.max_steps - state.budget.steps
    spec = await asyncio.to_thread(
        repaired, spec, tools=tools_for(context), finished=state.results, room=room
    )
    errors = await asyncio.to_thread(  # MCP tools' schemas check args: outside content
        validate_plan,
        spec.steps,
        tools=tools_for(context),
        finished=state.results,
        max_steps=context.max_plan_steps,
    )
    if errors:
        return {**recalled, **_rejected(state, context, errors), "budget": watch.budget(spent)}
    return {**recalled, **_accepted(state, spec, context), "budget": watch.budget(spent)}


def drafted(state: State) -> PlanSpec | None:
    """The first plan as the goal analysis drafted it, when there is one to validate: it is
    checked like any planner's plan, and a rejected draft goes to the planner with its errors."""
    if state.drafted_plan and not state.plan and not state.plan_errors:
        return PlanSpec.model_validate({"steps": state.drafted_plan})
    return None


async def _with_memories(
    state: State, runtime: Runtime[Context]
) -> tuple[State, dict[str, object]]:
    """The state with its memories recalled (once per run), and the update that records them."""
    hits = state.memory_hits if state.memory_hits else await recall(state, runtime)
    recalled: dict[str, object] = {"memory_hits": hits}
    if any(not h.trusted for h in hits):
        recalled["web_content_seen"] = True  # web-derived memories taint later actions too
    return replace(state, memory_hits=hits), recalled


async def _proposed_plan(state: State, context: Context) -> tuple[PlanSpec, Budget]:
    """One planner call for a `PlanSpec` (a malformed answer is sent back by `invoke_structured`)
    and what it cost, the read-only calls started while it streamed (`nodes.early_calls`)
    included."""
    messages = plan_messages(state, context, await describe_interpreter(context))
    early = early_calls(current_thread_id(), state, context)
    try:
        spec, spent = await invoke_structured(
            context, messages, PlanSpec, stage=PLAN, observer=early
        )
    except (StructuredOutputError, OutOfTimeError) as exc:
        exc.spent += early.spent()
        raise
    return spec, spent + early.spent()


def _accepted(state: State, spec: PlanSpec, context: Context) -> dict[str, object]:
    """The update that adopts a valid plan (`_accepted_steps`)."""
    return _accepted_steps(state, to_steps(spec.steps, context))


def _accepted_steps(state: State, new_steps: list[Step]) -> dict[str, object]:
    """The update that adopts new steps: executed steps that passed stay, the new steps
    follow, and a replan records what changed."""
    kept = [
        s for s in state.plan if s.id in state.results and state.results[s.id].verdict == "pass"
    ]
    dropped = [s for s in state.plan if s not in kept]
    return {
        "plan": kept + new_steps,
        "plan_diff": plan_diff(dropped, new_steps) if state.plan else None,
        "plan_errors": [],
        "plan_attempts": 0,
        "decision": "continue",
    }
