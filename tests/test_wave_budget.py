"""Steps that run in one wave share the run's limits: a wave of N steps cannot spend what was
left N times over (each used to check the limits against its own spending only)."""

from __future__ import annotations

from pathlib import Path

from graph.api import arun
from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, step


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
    script.defaults["reflect"] = {"passed": ["s0", "s1", "s2"]}  # judged before the stop

    outcome = await arun("take three notes", context=context, db=db_path)

    assert outcome.status == "budget_exhausted"
    assert len(script.calls_for("execute")) == 2, "not one call per step"
    stopped = [r for r in outcome.results.values() if r.status == "error"]
    assert [r.output for r in stopped] == ["ERROR: stopped mid-step: max LLM calls (4) reached"]
