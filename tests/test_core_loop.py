"""End-to-end runs through the compiled graph with a real SQLite checkpoint file."""

from __future__ import annotations

from pathlib import Path

from graph.api import arun
from nodes.context import Context
from nodes.state import Criterion, StepResult
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step


async def test_goal_writes_file_and_finishes(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("hello.txt contains 'hello world'"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="write_file", args={"path": "hello.txt", "content": "hello world"})
        ),
    )
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote hello.txt"}))
    script.add("finish", "I wrote hello.txt with 'hello world'.")

    outcome = await arun("write hello world to hello.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert (workspace / "hello.txt").read_text() == "hello world"
    assert outcome.answer == "I wrote hello.txt with 'hello world'."
    assert isinstance(outcome.criteria[0], Criterion) and outcome.criteria[0].met
    assert isinstance(outcome.results["s1"], StepResult)
    assert outcome.results["s1"].verdict == "pass"
    # A planned tool call costs no model call: parse, plan, reflect, finish only.
    assert [role for role, _ in script.calls] == ["parse_goal", "plan", "reflect", "finish"]
    assert outcome.budget.llm_calls == 4 and outcome.budget.steps == 1
    assert outcome.budget.prompt_tokens > 0 and outcome.budget.tool_calls == 1
    report = (workspace / outcome.report_path).read_text()
    assert "s1 wrote hello.txt" in report and "**done**" in report
    assert db_path.exists()
