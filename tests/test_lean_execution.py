"""How planloop saves model calls without losing judgement: deferred reflection, tool args
filled in from earlier results, and a final answer reused when a step already wrote it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph.api import aresume, arun
from nodes.context import Context
from nodes.plan_check import to_steps, validate_plan
from nodes.schemas import StepSpec
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tests.openai_server import OpenAIStandIn
from tools import tools_for


def _appends(n: int) -> list[dict[str, Any]]:
    """A chain of n appends to log.txt (s2 after s1, ...): planned calls, no model needed."""
    return [
        step(
            f"s{i}",
            tool="append_file",
            args={"path": "log.txt", "content": f"{i}\n"},
            depends_on=[f"s{i - 1}"] if i > 1 else [],
        )
        for i in range(1, n + 1)
    ]


def _roles(script: Script) -> list[str]:
    return [role for role, _ in script.calls]


async def test_deferred_reflection_judges_a_chain_once(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("log.txt has three lines"))
    script.add("plan", plan_reply(*_appends(3)))
    # The short form: ids that passed with nothing to note, no verdict object each.
    script.add("reflect", {"passed": ["s1", "s2"], "criteria": []})  # s3 has no verdict
    script.add("reflect", {"passed": ["s1", "s2", "s3"], "criteria": [
        {"id": "c1", "met": True, "evidence": "s1-s3"}]})  # fmt: skip
    script.add("finish", "log.txt has three lines")

    outcome = await arun("log three lines", context=context, db=db_path)

    assert outcome.status == "done"
    assert (workspace / "log.txt").read_text() == "1\n2\n3\n"
    repair = script.calls_for("reflect")[1][-1].text
    assert "Give a verdict for step(s) s3 too" in repair
    assert _roles(script) == ["parse_goal", "plan", "reflect", "reflect", "finish"]
    judged = script.calls_for("reflect")[0][1].text
    new_results = judged.split("New results to judge:")[1].split("Earlier results:")[0]
    assert all(f"<result step='s{i}'" in new_results for i in (1, 2, 3))
    assert all(outcome.results[f"s{i}"].verdict == "pass" for i in (1, 2, 3))


async def test_a_verdict_the_review_never_gives_fails_that_step_not_the_run(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A live run (json_adults, 1.5B) ended "failed": the reviewer left out one step's verdict
    three times in a row. It is asked once; the step without a verdict then fails."""
    context.max_replans = 0
    script.add("parse_goal", goal_reply("log.txt has three lines"))
    script.add("plan", plan_reply(*_appends(3)))
    script.defaults["reflect"] = {"passed": ["s1", "s2"], "criteria": []}  # never s3

    outcome = await arun("log three lines", context=context, db=db_path)

    assert len(script.calls_for("reflect")) == 2, "asked once, not until the retries ran out"
    assert "model gave no valid" not in outcome.stop_reason
    assert outcome.status == "budget_exhausted", outcome.stop_reason  # it would replan s3
    assert [outcome.results[f"s{i}"].verdict for i in (1, 2, 3)] == ["pass", "pass", "fail"]


async def test_every_wave_reflection_judges_each_step(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.reflection = "every_wave"
    script.add("parse_goal", goal_reply("log.txt has three lines"))
    script.add("plan", plan_reply(*_appends(3)))
    script.add("reflect", reflect_reply({"s1": True}), reflect_reply({"s2": True}))
    script.add("reflect", reflect_reply({"s3": True}, {"c1": "s1-s3"}))
    script.add("finish", "log.txt has three lines")

    outcome = await arun("log three lines", context=context, db=db_path)

    assert outcome.status == "done"
    assert _roles(script) == ["parse_goal", "plan", "reflect", "reflect", "reflect", "finish"]


async def test_a_failed_step_is_judged_at_once_and_nothing_builds_on_it(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("summary.txt summarises notes.txt"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="read_file", args={"path": "notes.txt"}),  # does not exist
            step(
                "s2",
                tool="write_file",
                args={"path": "summary.txt", "content": "x"},
                depends_on=["s1"],
            ),
        ),
    )
    script.add("reflect", reflect_reply({"s1": False}, replan=True, reason="notes.txt is missing"))
    script.add("plan", plan_reply(step("s3", tool="list_files", args={})))
    script.add("reflect", reflect_reply({"s3": True}, {"c1": "s3: there are no notes"}))
    script.add("finish", "there is no notes.txt to summarise")

    outcome = await arun("summarise notes.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert "s2" not in outcome.results and not (workspace / "summary.txt").exists()
    first_review = script.calls_for("reflect")[0][1].text.split("Earlier results:")[0]
    assert "<result step='s1'" in first_review
    assert _roles(script) == ["parse_goal", "plan", "reflect", "plan", "reflect", "finish"]


async def test_filled_args_cost_one_call_and_the_output_is_the_tool_result(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "pointer.txt").write_text("the data is in data/q3.csv")
    (workspace / "data").mkdir()
    (workspace / "data" / "q3.csv").write_text("month,sales\njul,10\n")
    script.add("parse_goal", goal_reply("the Q3 sales data is shown"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="read_file", args={"path": "pointer.txt"}),
            step(
                "s2",
                tool="read_file",
                fill_args=True,
                depends_on=["s1"],
                description="read the file pointer.txt names",
            ),
        ),
    )
    script.add("execute", tool_call("read_file", {"path": "data/q3.csv"}))
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s2 shows it"}))
    script.add("finish", "Q3: jul 10")

    outcome = await arun("show the Q3 sales data", context=context, db=db_path)

    assert outcome.status == "done"
    assert outcome.results["s2"].output == "month,sales\njul,10\n"
    assert outcome.results["s2"].tool_calls == 1
    assert _roles(script) == ["parse_goal", "plan", "execute", "reflect", "finish"]
    fill_prompt = "\n".join(m.text for m in script.calls_for("execute")[0])
    assert "one call of the tool `read_file`" in fill_prompt
    assert "the data is in data/q3.csv" in fill_prompt  # s1's result is its input


async def test_filled_args_are_guarded_like_an_executor_call(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    # The args are only known at run time, so the approval policy checks the actual call.
    (workspace / "keep.txt").write_text("precious")
    script.add("parse_goal", goal_reply("out.txt is written"))
    script.add(
        "plan",
        plan_reply(
            step(
                "s1",
                tool="write_file",
                fill_args=True,
                description="write the output",
                risk="writes_workspace",
            )
        ),
    )
    script.add("execute", tool_call("write_file", {"path": "keep.txt", "content": "gone"}))
    script.add("reflect", reflect_reply({"s1": False}))
    script.defaults["plan"] = plan_reply(step("s9", tool="list_files", args={}))
    script.defaults["reflect"] = reflect_reply({"s9": True}, {"c1": "s9"})
    script.add("finish", "stopped")

    outcome = await arun("write out.txt", context=context, db=db_path)

    assert (workspace / "keep.txt").read_text() == "precious"
    assert outcome.results["s1"].status == "error"
    assert "existed before this run" in outcome.results["s1"].output


async def test_a_written_answer_is_reused_without_a_finish_call(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("the answer sums both numbers"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="list_files", args={}),
            step("s2", description="sum the numbers", depends_on=["s1"]),
        ),
    )
    script.add("execute", "The sum is 42.")
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s2"}, answer_step="s2"))

    outcome = await arun("sum the numbers", context=context, db=db_path)

    assert outcome.status == "done" and outcome.answer == "The sum is 42."
    assert "finish" not in _roles(script)
    assert (workspace / outcome.report_path).read_text().count("The sum is 42.") >= 1


async def test_raw_tool_output_is_never_reused_as_the_answer(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    # Tool output (web text, say) goes through the reporter; only executor-written text is reused.
    script.add("parse_goal", goal_reply("the files are listed"))
    script.add("plan", plan_reply(step("s1", tool="list_files", args={})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1"}, answer_step="s1"))
    script.add("finish", "The workspace is empty.")

    outcome = await arun("list the files", context=context, db=db_path)

    assert outcome.answer == "The workspace is empty."
    assert _roles(script)[-1] == "finish"


async def test_an_unknown_answer_step_is_sent_back_for_repair(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("the files are listed"))
    script.add("plan", plan_reply(step("s1", tool="list_files", args={})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1"}, answer_step="ghost"))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1"}))
    script.add("finish", "The workspace is empty.")

    outcome = await arun("list the files", context=context, db=db_path)

    assert outcome.status == "done"
    repair = script.calls_for("reflect")[1][-1].text
    assert "answer_step: Input should be 's1'" in repair  # the ids there are


async def test_a_clipped_result_named_as_the_answer_is_not_reused_and_ends_nothing(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A live run (inventory_table, 1.5B) ended "failed": the reviewer named a result it saw
    clipped as the answer three times. The name is dropped; the reporter writes the answer."""
    script.add("parse_goal", goal_reply("the report is written"))
    script.add("plan", plan_reply(step("s1", description="write the report")))
    script.add("execute", "word " * 5000)  # far longer than the review shows
    script.add(
        "reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote word word"}, answer_step="s1")
    )
    script.add("finish", "The report is written.")

    outcome = await arun("write the report", context=context, db=db_path)

    assert outcome.status == "done" and outcome.answer == "The report is written."
    assert _roles(script) == ["parse_goal", "plan", "execute", "reflect", "finish"]


def test_a_planned_call_needs_no_description_but_an_executor_step_does() -> None:
    tools = tools_for(Context())
    terse = StepSpec.model_validate({"id": "a", "tool": "read_file", "args": {"path": "x"}})
    vague = StepSpec.model_validate({"id": "b", "description": "do it"})
    fill = StepSpec.model_validate({"id": "c", "tool": "read_file", "depends_on": ["a"]})
    assert validate_plan([terse], tools=tools, finished={}, max_steps=4) == []
    (problem,) = validate_plan([vague], tools=tools, finished={}, max_steps=4)
    assert "needs a description and expected" in problem
    (problem,) = validate_plan([terse, fill], tools=tools, finished={}, max_steps=4)
    assert "say what the args are" in problem
    (step_a,) = to_steps([terse])
    assert step_a.description == 'call read_file({"path": "x"})' and step_a.expected
    assert step_a.args == {"path": "x"}


@pytest.mark.real_http_model
async def test_the_fill_call_offers_only_its_tool_and_forces_it(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / "pointer.txt").write_text("see b.txt")
    (workspace / "b.txt").write_text("found it")
    script = Script(
        parse_goal=[goal_reply("b.txt is read")],
        plan=[
            plan_reply(
                step("s1", tool="read_file", args={"path": "pointer.txt"}),
                step(
                    "s2",
                    tool="read_file",
                    fill_args=True,
                    depends_on=["s1"],
                    description="read the file s1 names",
                ),
            )
        ],
        execute=[tool_call("read_file", {"path": "b.txt"})],
        reflect=[reflect_reply({"s1": True, "s2": True}, {"c1": "s2 read b.txt"})],
        finish=["b.txt says found it"],
    )
    with OpenAIStandIn(script) as server:
        context = Context(
            workspace=str(workspace), model="stand-in", base_url=server.base_url, programs=False
        )
        outcome = await arun("read what pointer.txt names", context=context, db=tmp_path / "x.db")

    assert outcome.status == "done" and outcome.results["s2"].output == "found it"
    (fill,) = [r for r in server.requests if r.get("tools")]
    assert [t["function"]["name"] for t in fill["tools"]] == ["read_file"]
    assert fill["tool_choice"] == {"type": "function", "function": {"name": "read_file"}}
    assert json.dumps(fill).count("see b.txt") == 1


async def test_results_are_judged_before_a_budget_stop(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    # s1 and s2 run together; s3 (after s1) would be next, but the tool-call limit is reached:
    # the review still judges s1 and s2, and s1 meets the criterion, so the run is done.
    context.max_tool_calls = 2
    script.add("parse_goal", goal_reply("the files are listed"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="list_files", args={}),
            step("s2", tool="list_files", args={"path": "."}),
            step("s3", tool="list_files", args={}, depends_on=["s1"]),
        ),
    )
    script.add("reflect", {"passed": ["s1", "s2"], "criteria": [
        {"id": "c1", "met": True, "evidence": "s1 listed them"}]})  # fmt: skip
    script.add("finish", "listed")

    outcome = await arun("list the files", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert {outcome.results[s].verdict for s in ("s1", "s2")} == {"pass"}
    assert "s3" not in outcome.results


async def test_a_rejected_step_replans_only_after_its_wave_mates_are_judged(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "notes.txt").write_text("a draft note")
    edit = {"path": "notes.txt", "old_text": "draft", "new_text": "final"}
    script.add("parse_goal", goal_reply("notes.txt is final"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="edit_file", args=edit),  # needs approval: rejected below
            step("s2", tool="list_files", args={}),
            step("s3", tool="read_file", args={"path": "notes.txt"}, depends_on=["s2"]),
        ),
    )
    paused = await arun("finalise notes.txt", context=context, db=db_path, thread_id="t")
    ((interrupt_id, payload),) = paused.pending.items()
    script.add("reflect", reflect_reply({"s2": True}))
    script.add("plan", plan_reply(step("s4", tool="read_file", args={"path": "notes.txt"})))
    script.add("reflect", reflect_reply({"s4": True}, {"c1": "s4: the user keeps the draft"}))
    script.add("finish", "kept the draft")
    answer = {"action": "reject", "step_id": "s1", "args_hash": payload["args_hash"],
              "feedback": "keep it"}  # fmt: skip

    outcome = await aresume("t", db=db_path, answers={interrupt_id: answer})

    assert outcome.status == "done"
    assert _roles(script)[2:] == ["reflect", "plan", "reflect", "finish"]
    assert outcome.results["s2"].verdict == "pass"  # judged before the replan


def test_network_args_chosen_at_run_time_need_approval() -> None:
    from nodes.approval import approval_reason
    from nodes.state import Step

    context = Context()
    planned = Step(id="a", description="d", expected="e", tool="fetch_url",
                   args={"url": "https://example.org"}, risk="network")  # fmt: skip
    filled = Step(id="b", description="d", expected="e", tool="fetch_url", risk="network")
    assert approval_reason(planned, context, web_content_seen=False) is None
    why = approval_reason(filled, context, web_content_seen=False)
    assert why is not None and "args taken from earlier results" in why


async def test_a_filled_call_that_needs_approval_shows_its_real_args(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "pointer.txt").write_text("fetch https://example.org/a")
    script.add("parse_goal", goal_reply("the page is read"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="read_file", args={"path": "pointer.txt"}),
            step("s2", tool="fetch_url", fill_args=True, depends_on=["s1"], risk="network",
                 description="fetch the URL s1 names"),
        ),
    )  # fmt: skip
    script.add("execute", tool_call("fetch_url", {"url": "https://example.org/a"}))

    paused = await arun("read the page", context=context, db=db_path, thread_id="t")

    ((interrupt_id, payload),) = paused.pending.items()
    assert payload["step_id"] == "s2" and payload["tool"] == "fetch_url"
    assert payload["args"] == {"url": "https://example.org/a"}
    assert "args taken from earlier results" in payload["why"]
    assert paused.budget.llm_calls == 3  # the fill call was counted before the pause
    # The filled args are checkpointed: resuming answers this exact call, without a new fill.
    script.add("plan", plan_reply(step("s3", tool="list_files", args={})))
    script.add("reflect", reflect_reply({"s1": True}, replan=True, reason="s2 was rejected"))
    script.add("reflect", reflect_reply({"s3": True}, {"c1": "s3: no page needed"}))
    script.add("finish", "skipped the page")
    answer = {"action": "reject", "step_id": "s2", "args_hash": payload["args_hash"],
              "feedback": "not that site"}  # fmt: skip

    outcome = await aresume("t", db=db_path, answers={interrupt_id: answer})

    assert outcome.status == "done", outcome.stop_reason
    assert outcome.results["s2"].output.startswith("REJECTED by the user")
    assert len(script.calls_for("execute")) == 1


async def test_a_filled_call_that_needs_approval_without_forced_calls_goes_back_to_the_planner(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    # Nobody could review a call the model makes freely: the step fails, the planner replans.
    script.add("parse_goal", goal_reply("the page is read"))
    script.add("plan", plan_reply(step("s1", tool="fetch_url", fill_args=True, risk="network",
                                       description="fetch the page")))  # fmt: skip
    script.add("execute", "I would fetch it.")  # the forced call is ignored
    script.add("reflect", reflect_reply({"s1": False}, replan=True, reason="no args"))
    script.add("plan", plan_reply(step("s2", tool="list_files", args={})))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "s2"}))
    script.add("finish", "done")

    outcome = await arun("read the page", context=context, db=db_path)

    assert outcome.status == "done" and not outcome.pending
    assert "plan this step with explicit args, or without a tool" in outcome.results["s1"].output


async def test_the_fallback_loop_may_call_only_the_planned_tool(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "b.txt").write_text("found it")
    script.add("parse_goal", goal_reply("b.txt is read"))
    script.add("plan", plan_reply(step("s1", tool="read_file", fill_args=True,
                                       description="read b.txt", risk="network")))  # fmt: skip
    script.add("execute", "no call")  # ignored forced call: the loop takes over
    script.add("execute", tool_call("write_file", {"path": "x.txt", "content": "x"}))
    script.add("execute", tool_call("read_file", {"path": "b.txt"}), "b.txt: found it")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1"}))
    script.add("finish", "found it")
    context.approval = "none"

    outcome = await arun("read b.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert not (workspace / "x.txt").exists()
    loop_prompt = script.calls_for("execute")[2]
    refused = [m.text for m in loop_prompt if m.type == "tool"]
    assert refused and "call only read_file" in refused[0]


async def test_a_resumed_filled_write_is_not_refused_for_the_file_it_wrote(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    # A crash after the write but before the checkpoint: the file exists, and the journal
    # shows that this step's exact call started; resumed, the step is not refused.
    from checkpoints.journal import Journal, idempotency_key

    args = {"path": "out.txt", "content": "result"}
    (workspace / "out.txt").write_text("result")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(db_path)
    journal.start(idempotency_key("t", "s1", "write_file", args), thread_id="t", step_id="s1",
                  tool="write_file", expected_digest=None)  # fmt: skip
    journal.close()
    script.add("parse_goal", goal_reply("out.txt is written"))
    writer = step("s1", tool="write_file", fill_args=True, description="write the result",
                  risk="writes_workspace")  # fmt: skip
    script.add("plan", plan_reply(writer))
    script.add("execute", tool_call("write_file", args))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote out.txt"}))
    script.add("finish", "written")

    outcome = await arun("write out.txt", context=context, db=db_path, thread_id="t")

    assert outcome.status == "done", outcome.results["s1"].output
    assert (workspace / "out.txt").read_text() == "result"


async def test_a_model_that_ignores_the_forced_call_falls_back_to_the_executor_loop(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "b.txt").write_text("found it")
    script.add("parse_goal", goal_reply("b.txt is read"))
    script.add("plan", plan_reply(step("s1", tool="read_file", fill_args=True,
                                       description="read b.txt")))  # fmt: skip
    script.add("execute", "I would read b.txt.")  # no tool call despite the forced choice
    script.add("execute", tool_call("read_file", {"path": "b.txt"}), "b.txt says: found it")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 read it"}))
    script.add("finish", "found it")

    outcome = await arun("read b.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert outcome.results["s1"].output == "b.txt says: found it"
    assert outcome.results["s1"].tool_calls == 1
    assert outcome.budget.llm_calls == 7  # the ignored fill call is counted too


@pytest.mark.real_http_model
async def test_a_server_without_named_tool_choice_gets_the_executor_loop(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / "b.txt").write_text("found it")
    script = Script(
        parse_goal=[goal_reply("b.txt is read")],
        plan=[plan_reply(step("s1", tool="read_file", fill_args=True, description="read b.txt"))],
        execute=[tool_call("read_file", {"path": "b.txt"}), "b.txt says: found it"],
        reflect=[reflect_reply({"s1": True}, {"c1": "s1 read it"})],
        finish=["found it"],
    )
    with OpenAIStandIn(script, named_tool_choice=False) as server:
        context = Context(
            workspace=str(workspace), model="stand-in", base_url=server.base_url, programs=False
        )
        outcome = await arun("read b.txt", context=context, db=tmp_path / "x.db")

    assert outcome.status == "done", outcome.stop_reason
    assert outcome.results["s1"].output == "b.txt says: found it"
    forced = [r for r in server.requests if isinstance(r.get("tool_choice"), dict)]
    assert len(forced) == 1  # tried once, refused with HTTP 400, then the loop did the step
    assert outcome.budget.llm_calls == len(server.responses) == 6


def test_an_unreadable_model_reply_is_one_clear_error() -> None:
    from pydantic import BaseModel, ValidationError

    from nodes.errors import ModelUnavailableError
    from nodes.model_errors import translate as _translate

    class Call(BaseModel):
        args: dict[str, object]

    try:
        Call.model_validate({"args": "not an object"})
    except ValidationError as exc:
        translated = _translate(exc, Context(base_url="http://127.0.0.1:9/v1"))
    assert isinstance(translated, ModelUnavailableError)
    message = str(translated)
    assert "\n" not in message and "sent a reply planloop cannot read" in message


def test_an_unusable_path_is_not_a_crash_in_the_approval_check() -> None:
    from nodes.approval import changes_existing_file

    context = Context(workspace="/tmp")
    assert changes_existing_file({"path": "x" * 5000}, context, []) is False
    assert changes_existing_file({"path": "a\x00b"}, context, []) is False


def test_batch_filled_calls_are_matched_to_steps_by_name_not_by_order(context: Context) -> None:
    """Two read_file steps filled in one call: each is offered its own tool name, so a reply
    that answers them in another order still gives each step its own args."""
    from langchain_core.messages import AIMessage

    from nodes.fill_args import matched_args, step_tools
    from nodes.state import Step
    from tools import tools_for

    report = Step(id="s2", description="read the report s1 listed", expected="", tool="read_file")
    config = Step(id="s3", description="read the config s1 listed", expected="", tool="read_file")
    offered = step_tools([report, config], tools_for(context))
    assert list(offered) == ["read_file__s2", "read_file__s3"]
    assert offered["read_file__s3"].args == tools_for(context)["read_file"].args
    reply = AIMessage(
        "",
        tool_calls=[
            {"name": "read_file__s3", "args": {"path": "config.ini"}, "id": "a"},
            {"name": "read_file__s2", "args": {"path": "report.md"}, "id": "b"},
        ],
    )
    assert matched_args([report, config], reply) == {
        "s2": {"path": "report.md"},
        "s3": {"path": "config.ini"},
    }
