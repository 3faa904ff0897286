"""Steps that run in one wave share the run's limits: a wave of N steps cannot spend what was
left N times over (each used to check the limits against its own spending only); and the calls
outside the steps (the review, the final answer) make none past a limit on model calls."""

from __future__ import annotations

from pathlib import Path

from graph.api import arun
from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step


async def test_a_wave_of_planned_calls_makes_no_more_tool_calls_than_the_limit(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.max_tool_calls, context.max_parallel_steps = 2, 4
    for n in range(4):
        (workspace / f"f{n}.txt").write_text(str(n))
    reads = [step(f"s{n}", tool="read_file", args={"path": f"f{n}.txt"}) for n in range(4)]
    script.add("parse_goal", goal_reply("the files are read"))
    script.add("plan", plan_reply(*reads))
    script.defaults["reflect"] = {"passed": [f"s{n}" for n in range(4)]}

    outcome = await arun("read the files", context=context, db=db_path)

    assert outcome.status == "budget_exhausted"
    assert outcome.budget.tool_calls == 2
    outputs = [r.output for r in outcome.results.values()]
    assert outputs.count("ERROR: not run: max tool calls (2) reached") == 2
    read = [o for o in outputs if not o.startswith("ERROR")]
    assert len(read) == 2 and set(read) <= {"0", "1", "2", "3"}


async def test_parallel_executor_steps_share_the_model_call_limit(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.max_llm_calls, context.max_parallel_steps = 4, 3  # goal + plan leave 2
    script.add("parse_goal", goal_reply("the notes are written"))
    script.add("plan", plan_reply(*(step(f"s{n}", description=f"note {n}") for n in range(3))))
    script.defaults["execute"] = "noted"
    script.defaults["reflect"] = {"passed": ["s0", "s1", "s2"]}  # never asked: no calls left

    outcome = await arun("take three notes", context=context, db=db_path)

    assert outcome.status == "budget_exhausted"
    assert len(script.calls_for("execute")) == 2, "not one call per step"
    stopped = [r for r in outcome.results.values() if r.status == "error"]
    assert [r.output for r in stopped] == ["ERROR: stopped mid-step: max LLM calls (4) reached"]


# The calls outside the steps respect the same limits -------------------------------------------


async def test_no_review_is_asked_for_once_the_model_call_limit_is_reached(
    script: Script, context: Context, db_path: Path
) -> None:
    context.max_llm_calls = 3  # goal, plan and the step's own call
    script.add("parse_goal", goal_reply("the note is taken"))
    script.add("plan", plan_reply(step("s1", description="take the note")))
    script.defaults["execute"] = "noted"
    script.defaults["reflect"] = reflect_reply({"s1": True}, {"c1": "the executor said 'noted'"})

    outcome = await arun("take a note", context=context, db=db_path)

    assert script.calls_for("reflect") == [], "a review past the limit"
    assert outcome.budget.llm_calls == 3
    assert outcome.status == "budget_exhausted"
    assert "max LLM calls (3)" in outcome.stop_reason
    assert outcome.results["s1"].verdict == "pending", "a step never reviewed is not passed"
    assert not any(c.met for c in outcome.criteria)


async def test_a_run_done_at_the_model_call_limit_answers_without_another_call(
    script: Script, context: Context, db_path: Path
) -> None:
    context.max_llm_calls = 4  # goal, plan, the step, and the review that finds the goal met
    script.add("parse_goal", goal_reply("the note is taken"))
    script.add("plan", plan_reply(step("s1", description="take the note")))
    script.defaults["execute"] = "noted"
    script.defaults["reflect"] = reflect_reply({"s1": True}, {"c1": "the executor said 'noted'"})
    script.defaults["finish"] = "a final answer past the limit"

    outcome = await arun("take a note", context=context, db=db_path)

    assert outcome.status == "done"
    assert script.calls_for("finish") == [] and outcome.budget.llm_calls == 4
    assert outcome.answer.startswith("Done: every done-criterion is met")
    assert "the executor said 'noted'" in outcome.answer
    assert "No answer was written: max LLM calls (4)" in outcome.answer
