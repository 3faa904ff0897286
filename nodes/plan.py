"""plan: criteria and past results become a validated step DAG (or the reasons it is not)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.approve_plan import plan_diff
from nodes.budget import Stopwatch
from nodes.context import Context
from nodes.early_calls import early_calls
from nodes.errors import StructuredOutputError
from nodes.history import history_text
from nodes.llm import PLAN, invoke_structured
from nodes.memory import recall
from nodes.plan_check import to_steps, usable, validate_plan
from nodes.plan_repair import fresh_id, repaired
from nodes.program import (
    FAILURE_CHARS,
    FETCH_TOOL,
    PROGRAM_TOOL,
    is_program_step,
    is_whole_goal_program,
    library_note,
    pages_of,
    programs_apply,
    whole_goal,
)
from nodes.program_errors import traceback_libraries
from nodes.prompts import PLAN_ERRORS_NOTE, PLAN_RULES, PLAN_SYSTEM_HEAD, PLAN_USER, REPLAN_NOTE
from nodes.render import criteria_lines
from nodes.schemas import PlanSpec
from nodes.state import Budget, MemoryHit, Risk, State, Step
from nodes.tool_list import tools_text
from tools import BUILTIN, RISK_ORDER, risk_of, tool_specs, tools_for, unavailable_tools
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


def whole_goal_step(state: State, context: Context) -> Step:
    """The short path's step that does the whole goal: one executor step with the tools, or
    one program step (`nodes.program`) when the goal needs nothing but the workspace and the
    pages it gives the address of.

    Its risk is the riskiest available tool the executor is offered, so the approval policy
    asks before anything runs whenever any of them would need it. (A change to a file that
    existed before the run is still refused inside it, and planned, and approved, as a step of
    its own.)"""
    offered: list[Risk] = [
        spec.effective_risk
        for spec in tool_specs(context).values()
        if (spec.source == BUILTIN or not spec.side_effects) and not spec.why_unavailable()
    ]
    risk: Risk = max(offered, key=RISK_ORDER.index) if offered else "read_only"
    program = programs_apply(state.goal, context)
    return Step(
        id="s1",
        description=whole_goal(state.goal),
        expected="; ".join(c.text for c in state.criteria),
        tool=PROGRAM_TOOL if program else None,
        risk=risk_of(PROGRAM_TOOL, context) if program else risk,
    )


def short_plan(state: State, context: Context) -> list[Step]:
    """The short path's plan: the whole-goal step, after a planned fetch_url call for each
    page the goal gives the address of when a program does the goal (a program has no
    network; the pages reach its prompt as the results of the steps it depends on)."""
    step = whole_goal_step(state, context)
    if not is_program_step(step.tool):
        return [step]
    fetches = [
        Step(
            id=f"s{n}",
            description=f"Fetch {url}",
            expected="the page's text",
            tool=FETCH_TOOL,
            args={"url": url},
            risk=risk_of(FETCH_TOOL, context),
        )
        for n, url in enumerate(pages_of(state.goal), 1)
    ]
    depends_on = [fetch.id for fetch in fetches]
    return [*fetches, replace(step, id=f"s{len(fetches) + 1}", depends_on=depends_on)]


def _fetches_a_page(step: Step) -> bool:
    return step.tool == FETCH_TOOL and step.args is not None


def retries_program(state: State, context: Context) -> bool:
    """Whether a replan writes the goal's program again rather than planning tool calls: the
    plan so far was the short path's (whole-goal program steps, after the fetches of its
    pages), and programs still apply. A 1.5B planner, handed a program step's failure, planned
    tool calls that overwrote a right file with a placeholder; the same model fixes its own
    program far more often."""
    whole = [s for s in state.plan if is_whole_goal_program(s, state.goal)]
    rest = [s for s in state.plan if s not in whole]
    short = bool(whole) and all(_fetches_a_page(s) for s in rest)
    return short and programs_apply(state.goal, context)


def program_retry(state: State) -> list[Step]:
    """The next whole-goal program step, told why the last one fell short: a program the model
    writes again, or the cross-check's second program when it wrote an output otherwise. It
    depends on the fetched pages as the latest program did (an earlier one's fetch may have
    been failed and fetched again since); a fetch whose result cannot be used (the review
    failed it) is planned again first."""
    whole = [s for s in state.plan if is_whole_goal_program(s, state.goal)]
    first, last_step = whole[0], whole[-1]
    taken = {s.id for s in state.plan} | set(state.results)
    refetched = []
    depends_on = []
    for dep in last_step.depends_on:  # the pages as the latest program had them
        fetch = next((s for s in state.plan if s.id == dep), None)
        if usable(state.results.get(dep)) or fetch is None:
            depends_on.append(dep)
            continue
        again = replace(fetch, id=fresh_id(fetch.id, taken))
        taken.add(again.id)
        refetched.append(again)
        depends_on.append(again.id)
    new_id = fresh_id(first.id, taken)
    reason = state.replan_reason.strip() or "the criteria were not met"
    library = ""
    last = state.results.get(last_step.id)
    if last is not None and last.status == "error":
        reason += f"; it ended: {last.output.strip()[-FAILURE_CHARS // 3 :]}"
        libraries = traceback_libraries(last.output)
        library = f"\n{library_note(libraries)}" if libraries else ""
    args: dict[str, object] | None = (
        {"code": state.second_program} if state.second_program else None
    )
    retry = replace(first, id=new_id, args=args, depends_on=depends_on, expected=(
        f"{first.expected}\nThe last program fell short: {reason[:FAILURE_CHARS]}{library}"
    ))  # fmt: skip
    return [*refetched, retry]


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
    except StructuredOutputError as exc:
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
