"""End-to-end runs through the compiled graph with a real SQLite checkpoint file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage

from graph.api import aresume, arun, prepare_run
from graph.outcome import RunOutcome
from nodes.context import Context
from nodes.llm import use_model_factory
from nodes.state import Criterion, StepResult
from tests.fakes import (
    Script,
    StreamingScriptedModel,
    goal_reply,
    plan_reply,
    reflect_reply,
    step,
    tool_call,
)


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
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote hello world to hello.txt"}))
    script.add("finish", "I wrote hello.txt with 'hello world'.")

    outcome = await arun("write hello world to hello.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert (workspace / "hello.txt").read_text() == "hello world"
    assert "hello.txt contains 'hello world': s1 wrote hello world to hello.txt" in outcome.answer
    assert isinstance(outcome.criteria[0], Criterion) and outcome.criteria[0].met
    assert outcome.criteria[0].check_passed  # the file exists; its content is the review's
    assert isinstance(outcome.results["s1"], StepResult)
    assert outcome.results["s1"].verdict == "pass"
    # A planned tool call costs no model call, and no report call either: every criterion is
    # met and checked, so the answer is what was checked (parse, plan, reflect only).
    assert [role for role, _ in script.calls] == ["parse_goal", "plan", "reflect"]
    assert outcome.budget.llm_calls == 3 and outcome.budget.steps == 1
    assert outcome.budget.prompt_tokens > 0 and outcome.budget.tool_calls == 1
    report = (workspace / outcome.report_path).read_text()
    assert "s1 wrote hello world to hello.txt" in report and "**done**" in report
    assert "- run_python isolation: " in report
    assert db_path.exists()


async def test_the_reviewer_can_only_name_the_ids_under_review(
    script: Script, context: Context, db_path: Path
) -> None:
    """A 1.5B reviewer wrote `"id": "text"` for a criterion, three times, and a correct run
    failed on it. The schema it is sent lists the ids there are (a server enforcing it cannot
    emit another), and a reply naming another id goes back saying which one is meant."""
    context.structured_output = "json_schema"
    script.add("parse_goal", goal_reply("hello.txt holds a greeting"))
    script.add("plan", _hello_plan())
    script.add("reflect", reflect_reply({"s1": True}, {"text": "s1 wrote it"}), _hello_done())

    outcome = await arun("write a greeting to hello.txt", context=context, db=db_path)

    assert outcome.status == "done"
    roles = [role for role, _ in script.calls]
    sent = script.options[roles.index("reflect")]["response_format"]["json_schema"]["schema"]
    assert _allowed(sent["$defs"]["CriterionUpdate"]["properties"]["id"]) == ["c1"]
    assert _allowed(sent["properties"]["passed"]["items"]) == ["s1"]
    repair = script.calls_for("reflect")[1][-1].text
    assert "criteria.0.id" in repair and "'c1'" in repair


def _allowed(schema: dict[str, Any]) -> list[str]:
    """The values a JSON-schema string property allows (pydantic writes one as `const`)."""
    return [schema["const"]] if "const" in schema else list(schema.get("enum", []))


def _hello_plan() -> dict[str, object]:
    return plan_reply(
        step("s1", tool="write_file", args={"path": "hello.txt", "content": "hello world"})
    )


def _hello_done() -> dict[str, object]:
    return reflect_reply({"s1": True}, {"c1": "s1 wrote hello world to hello.txt"})


async def test_malformed_plan_output_is_repaired(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", "```json\n" + json.dumps(goal_reply("hello.txt exists")) + "\n```")
    script.add(
        "plan",
        "Sure! Here is my plan: first I will write the file.",  # prose
        '{"steps": [{"id": "s1", "description": "write", "expected": "ok", "tool": "write_',  # cut
        {"steps": "write the file"},  # wrong type
        _hello_plan(),
    )
    script.add("reflect", _hello_done())
    script.add("finish", "done")
    context.structured_retries = 3

    outcome = await arun("write hello.txt", context=context, db=db_path)

    assert outcome.status == "done"
    plan_calls = script.calls_for("plan")
    assert len(plan_calls) == 4  # one prompt, three repairs, all in one plan node run
    repair_notes = [m.text for m in plan_calls[-1] if "could not be used" in m.text]
    assert "no JSON object" in repair_notes[0]
    assert "truncated JSON" in repair_notes[1]
    assert "steps: Input should be a valid list" in repair_notes[2]
    assert outcome.budget.llm_calls == 1 + 4  # code decides "hello.txt exists": no review


async def test_invalid_plan_is_rejected_and_fed_back(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("hello.txt exists"))
    # (An unknown tool or dependency is repaired without the model: see test_plan_repair.)
    script.add(
        "plan",
        plan_reply(step("s1", depends_on=["s2"]), step("s2", depends_on=["s1"])),
        _hello_plan(),
    )
    script.add("reflect", _hello_done())
    script.add("finish", "done")

    outcome = await arun("write hello.txt", context=context, db=db_path)

    assert outcome.status == "done"
    second_prompt = script.calls_for("plan")[1][-2].text  # the user message before the schema
    assert "dependency cycle: s1 -> s2 -> s1" in second_prompt


async def test_plan_rejected_every_time_fails_cleanly_without_acting(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    bad = plan_reply(
        step("s1", tool="write_file", args={"path": "x", "content": "y"}, depends_on=["s2"]),
        step("s2", depends_on=["s1"]),
    )
    script.add("parse_goal", goal_reply("hello.txt exists"))
    script.add("plan", bad, bad, bad)

    outcome = await arun("write hello.txt", context=context, db=db_path)

    assert outcome.status == "failed"
    assert "no valid plan after 3 attempts" in outcome.stop_reason
    assert outcome.results == {} and outcome.budget.tool_calls == 0
    assert list(workspace.iterdir()) == [workspace / "planloop-runs"]


async def test_structured_output_never_valid_fails_cleanly(
    script: Script, context: Context, db_path: Path
) -> None:
    script.add("parse_goal", "no", "still no", "never")

    outcome = await arun("write hello.txt", context=context, db=db_path)

    assert outcome.status == "failed"
    assert "no valid GoalPlanSpec after 3 attempts" in outcome.stop_reason
    assert outcome.budget.llm_calls == 3


async def test_budget_stop_writes_partial_result(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("a.txt exists", "b.txt exists"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="write_file", args={"path": "a.txt", "content": "a"}),
            step(
                "s2", tool="write_file", args={"path": "b.txt", "content": "b"}, depends_on=["s1"]
            ),
        ),
    )
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote a.txt"}))
    context.max_steps = 1

    outcome = await arun("write a.txt and b.txt", context=context, db=db_path)

    assert outcome.status == "budget_exhausted"
    assert "max steps (1)" in outcome.stop_reason
    assert (workspace / "a.txt").exists() and not (workspace / "b.txt").exists()
    assert "Left to do" in outcome.answer and "s2" in outcome.answer
    assert "c2: b.txt exists" in outcome.answer
    report = (workspace / outcome.report_path).read_text()
    assert "## Left to do" in report and "budget_exhausted" in report
    assert "finish" not in [role for role, _ in script.calls]  # no model call after the limit


async def _run_holding(
    role: str, script: Script, goal: str, context: Context, db_path: Path
) -> RunOutcome:
    """Run `goal` with a model whose every streamed reply for `role` "generates" until
    something stops it (the run's time limit, or the test's own bound, which only fails it)."""
    never = asyncio.Event()

    async def hold(_text: str, replying: str) -> None:
        if replying == role:
            await never.wait()

    model = StreamingScriptedModel(script=script, between=hold)
    with use_model_factory(lambda _context: model):
        return await asyncio.wait_for(arun(goal, context=context, db=db_path), timeout=120)


async def test_a_model_call_the_time_limit_overtakes_is_stopped_and_the_run_ends_on_it(
    context: Context, workspace: Path, db_path: Path
) -> None:
    script = Script(
        parse_goal=[goal_reply("hello.txt holds a friendly greeting")],
        plan=[_hello_plan()],
        reflect=[_hello_done()],
    )
    # Seconds enough for the nodes before the review on a loaded machine.
    context.max_seconds = 8
    goal = "write a friendly greeting to hello.txt"
    outcome = await _run_holding("reflect", script, goal, context, db_path)

    assert outcome.status == "budget_exhausted"
    assert outcome.stop_reason.startswith("budget limit reached: max seconds (8)")
    assert outcome.budget.seconds >= 8
    assert (workspace / "hello.txt").read_text() == "hello world"  # the step's work is kept
    assert "s1" in outcome.answer and (workspace / outcome.report_path).exists()
    assert "finish" not in [role for role, _ in script.calls]


async def test_a_step_whose_model_call_the_time_limit_overtakes_ends_with_why(
    context: Context, db_path: Path
) -> None:
    script = Script(
        parse_goal=[goal_reply("the files are listed")],
        plan=[plan_reply(step("s1", description="look around", expected="a listing"))],
        execute=["The workspace holds nothing yet."],  # a text reply streams, and is held
    )
    # Seconds enough for two scripted nodes on a loaded machine; the step's call then waits
    # until the limit stops it.
    context.max_seconds = 8
    outcome = await _run_holding("execute", script, "look around", context, db_path)

    assert outcome.status == "budget_exhausted"
    assert outcome.stop_reason == "budget limit reached: max seconds (8)"
    (result,) = outcome.results.values()
    assert result.status == "error"
    assert result.output == (
        "ERROR: stopped mid-step: budget limit reached: max seconds (8); the model call in "
        "flight was stopped"
    )
    assert [role for role, _ in script.calls] == ["parse_goal", "plan", "execute"]


async def test_token_budget_is_checked_on_the_loop_edge(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("hello.txt exists"))
    script.add("plan", _hello_plan())
    context.max_tokens = 50

    outcome = await arun("write hello.txt", context=context, db=db_path)

    assert outcome.status == "budget_exhausted" and "max tokens (50)" in outcome.stop_reason
    assert not (workspace / "hello.txt").exists()


async def test_replans_without_progress_are_stopped(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("answer.txt holds the answer"))
    for n in range(1, 4):
        script.add("plan", plan_reply(step(f"r{n}", tool="read_file", args={"path": "q.txt"})))
        script.add("reflect", reflect_reply({f"r{n}": False}, replan=True, reason="not useful"))
    (workspace / "q.txt").write_text("question")
    context.max_replans = 10

    outcome = await arun("answer the question", context=context, db=db_path)

    assert outcome.status == "stalled"
    assert "2 replans in a row made no progress" in outcome.stop_reason
    assert outcome.budget.replans == 1  # the second replan was refused
    assert len(script.calls_for("plan")) == 2


async def test_repeated_identical_action_is_a_loop(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "q.txt").write_text("question")
    script.add("parse_goal", goal_reply("answer.txt holds the answer"))
    script.add(
        "plan",
        plan_reply(
            *(
                step(
                    f"r{n}",
                    tool="read_file",
                    args={"path": "q.txt"},
                    depends_on=[f"r{n - 1}"] if n > 1 else [],
                )
                for n in range(1, 6)
            )
        ),
    )
    # One deferred review once the loop is detected, judging r1-r4 before the run stops.
    script.add("reflect", reflect_reply({f"r{n}": True for n in range(1, 5)}))

    outcome = await arun("answer the question", context=context, db=db_path)

    assert outcome.status == "stalled"
    assert "repeated more than 3 times: read_file:" in outcome.stop_reason
    assert outcome.budget.steps == 4 and "r5" not in outcome.results
    assert all(outcome.results[f"r{n}"].verdict == "pass" for n in range(1, 5))


async def test_step_without_tool_uses_the_executor_loop(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("poem.txt holds a poem"))
    script.add(
        "plan",
        plan_reply(
            step("s1", description="write a short poem to poem.txt", risk="writes_workspace")
        ),
    )
    script.add(
        "execute",
        tool_call("write_file", {"path": "poem.txt", "content": "roses"}),
        tool_call("nonexistent_tool", {}),
        "I wrote poem.txt.",
    )
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "poem.txt written by s1"}))
    script.add("finish", "poem written")

    outcome = await arun("write a poem", context=context, db=db_path)

    assert outcome.status == "done"
    assert (workspace / "poem.txt").read_text() == "roses"
    third_call = script.calls_for("execute")[2]
    tool_messages = [m for m in third_call if isinstance(m, ToolMessage)]
    assert tool_messages[0].text.startswith("wrote 5 bytes")
    assert "ERROR: unknown tool 'nonexistent_tool'" in tool_messages[1].text
    assert outcome.results["s1"].tool_calls == 2 and outcome.budget.tool_calls == 2


async def test_failed_model_call_is_resumed_without_repeating_steps(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("log.txt has two lines"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="append_file", args={"path": "log.txt", "content": "one\n"}),
            step(
                "s2",
                tool="append_file",
                args={"path": "log.txt", "content": "two\n"},
                depends_on=["s1"],
            ),
        ),
    )
    # Reflection is deferred until nothing else can run, and the script has no reflection:
    # the run fails inside reflect after s1 and s2 ran.
    with pytest.raises(AssertionError, match="no reply left for 'reflect'"):
        await arun("log two lines", context=context, db=db_path, thread_id="t1")
    assert (workspace / "log.txt").read_text() == "one\ntwo\n"

    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s1 and s2 appended"}))
    script.add("finish", "done")
    outcome = await aresume("t1", db=db_path)

    assert outcome.status == "done"
    assert (workspace / "log.txt").read_text() == "one\ntwo\n"  # no step ran twice


async def test_a_thread_killed_before_its_first_checkpoint_starts_again_on_resume(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    # Registered, then killed before the graph wrote anything: resume runs the registered goal.
    thread_id = prepare_run("write hello world to hello.txt", thread_id="t0", context=context,
                            db=db_path)  # fmt: skip
    script.add("parse_goal", goal_reply("hello.txt contains 'hello world'"))
    script.add("plan", _hello_plan())
    script.add("reflect", _hello_done())
    script.add("finish", "done")

    outcome = await aresume(thread_id, db=db_path)

    assert outcome.status == "done" and outcome.answer.startswith("Done.")
    assert (workspace / "hello.txt").read_text() == "hello world"
    goal_prompt = "\n".join(m.text for m in script.calls_for("parse_goal")[0])
    assert "write hello world to hello.txt" in goal_prompt
    # Once it has ended, resuming again does not start it a second time.
    again = await aresume(thread_id, db=db_path)
    assert again.status == "done" and len(script.calls_for("parse_goal")) == 1


async def test_an_executor_loop_stops_at_the_tool_call_limit_within_the_step(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.max_tool_calls = 2
    script.add("parse_goal", goal_reply("the files are listed"))
    script.add("plan", plan_reply(step("s1", description="look around", expected="a listing")))
    for n in range(6):
        (workspace / f"f{n}.txt").write_text(str(n))
    script.add(  # different calls each turn (a repeated one would end the step at once)
        "execute", *(tool_call("read_file", {"path": f"f{n}.txt"}, f"call{n}") for n in range(6))
    )
    script.add("reflect", reflect_reply({"s1": False}))

    outcome = await arun("look around", context=context, db=db_path)

    assert outcome.status == "budget_exhausted"
    assert outcome.results["s1"].output == "ERROR: stopped mid-step: max tool calls (2) reached"
    assert len(script.calls_for("execute")) == 2  # not the 6 turns the step may take


async def test_an_executor_repeating_a_call_that_worked_ends_its_step(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    write = tool_call("write_file", {"path": "note.txt", "content": "hi"}, "w")
    script.add("parse_goal", goal_reply("a friendly note exists"))
    script.add(
        "plan",
        plan_reply(
            step("s1", description="write a note", expected="a note", risk="writes_workspace")
        ),
    )
    script.add("execute", write, write, write, write, "never asked")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote note.txt"}))
    script.add("finish", "note.txt says hi")

    outcome = await arun("say hi", context=context, db=db_path)

    assert outcome.status == "done"
    # The second, identical call ended the step: no refusals, no turns spent until a limit.
    assert len(script.calls_for("execute")) == 2
    assert outcome.results["s1"].output.startswith("wrote 2 bytes to note.txt")
    assert outcome.results["s1"].tool_calls == 1


async def test_an_executor_rereading_after_its_write_worked_ends_its_step(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A 1.5B executor wrote the right todo.md, then listed and read files again and again
    until a replan overwrote it: a read it already made, after its action worked, ends the
    step with that action's result."""
    (workspace / "tasks.txt").write_text("milk\n")
    read = tool_call("read_file", {"path": "tasks.txt"}, "r")
    write = tool_call("write_file", {"path": "todo.md", "content": "- [ ] milk"}, "w")
    script.add("parse_goal", goal_reply("todo.md lists the tasks"))
    script.add(
        "plan",
        plan_reply(
            step("s1", description="write todo.md", expected="a list", risk="writes_workspace")
        ),
    )
    script.add("execute", read, write, read, "never asked")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "todo.md lists milk"}))
    script.add("finish", "todo.md lists the tasks")

    outcome = await arun("make a todo list", context=context, db=db_path)

    assert outcome.status == "done"
    assert len(script.calls_for("execute")) == 3
    assert outcome.results["s1"].output.startswith("wrote 10 bytes to todo.md")
    assert outcome.results["s1"].tool_calls == 2  # the re-read was not made


async def test_an_executor_repeating_a_failed_call_ends_its_step_as_failed(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A 1.5B executor called the same failing fetch five times, three of them refused as
    repeats, and used up the run's tool calls: a failed call made again with nothing done
    since ends the step, failed, with the error, and the run replans."""
    missing = tool_call("read_file", {"path": "cat_name.txt"}, "r")
    script.add("parse_goal", goal_reply("the cat's name is known"))
    script.add("plan", plan_reply(step("s1", description="find the name", expected="a name")))
    script.add("execute", missing, missing, "never asked")
    script.add("reflect", reflect_reply({"s1": False}))
    script.defaults["plan"] = plan_reply()  # the replan gives up: an empty plan

    outcome = await arun("what is my cat's name", context=context, db=db_path)

    assert len(script.calls_for("execute")) == 2
    result = outcome.results["s1"]
    assert result.status == "error" and result.tool_calls == 1
    assert result.output.startswith("ERROR: the step repeated a call that failed: ERROR:")
    assert "cat_name.txt" in result.output


@pytest.mark.parametrize("approval", ["risky", "none"])
async def test_a_call_above_its_steps_risk_is_refused_only_when_approvals_are_on(
    script: Script, context: Context, workspace: Path, db_path: Path, approval: str
) -> None:
    """A step's risk class is what its approval was decided on, so a read-only step may not
    write under an approval policy. With approvals off there is nothing to bypass: a 1.5B
    planner's read-only "read the CSV" step whose executor wrote the totals was refused,
    replanned the same way, and stalled."""
    context.approval = approval  # type: ignore[assignment]
    write = tool_call("write_file", {"path": "totals.json", "content": "{}"}, "w")
    script.add("parse_goal", goal_reply("totals.json holds the totals"))
    script.add("plan", plan_reply(step("s1", description="read the data", expected="data")))
    script.add("execute", write, "done")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote totals.json"}))
    script.defaults["plan"] = plan_reply()
    script.defaults["finish"] = "finished"

    await arun("total the data", context=context, db=db_path)

    first_turn = script.calls_for("execute")[1][-1].text
    if approval == "risky":
        assert "write_file is writes_workspace, but step s1 was planned as read_only" in first_turn
        assert not (workspace / "totals.json").exists()
    else:
        assert first_turn.startswith("wrote 2 bytes to totals.json")
        assert (workspace / "totals.json").read_text() == "{}"
