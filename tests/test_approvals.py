"""Human approval at interrupt points: approve, edit, reject, stale answers, plan diffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graph.api import RunOutcome, aresume, arun
from graph.threads import thread_state
from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step

EDIT = {"path": "notes.txt", "old_text": "draft", "new_text": "final"}


def _only(outcome: RunOutcome) -> tuple[str, dict[str, Any]]:
    assert len(outcome.pending) == 1, outcome.pending
    return next(iter(outcome.pending.items()))


def _answer(payload: dict[str, Any], action: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "step_id": payload["step_id"],
        "args_hash": payload["args_hash"],
        **extra,
    }


def _script_edit(script: Script) -> None:
    script.add("parse_goal", goal_reply("notes.txt says final"))
    script.add("plan", plan_reply(step("s1", tool="edit_file", args=EDIT)))


async def _paused(script: Script, context: Context, workspace: Path, db: Path) -> RunOutcome:
    (workspace / "notes.txt").write_text("a draft note")
    _script_edit(script)
    outcome = await arun("finalise notes.txt", context=context, db=db, thread_id="t")
    assert outcome.paused and outcome.status == "running"
    assert (workspace / "notes.txt").read_text() == "a draft note"  # nothing ran yet
    return outcome


async def test_risky_step_waits_and_approve_runs_it(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    outcome = await _paused(script, context, workspace, db_path)
    interrupt_id, payload = _only(outcome)
    assert payload["kind"] == "step_approval"
    assert payload["step_id"] == "s1" and payload["tool"] == "edit_file"
    assert payload["args"] == EDIT and payload["risk"] == "writes_workspace"
    assert payload["why"] == "the step may change files that existed before this run"
    assert payload["budget_used"]["llm_calls"] == 2  # type: ignore[index]
    assert payload["projected"]["remaining_steps"] == 1  # type: ignore[index]

    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited notes.txt"}))
    script.add("finish", "notes final")
    done = await aresume("t", db=db_path, answers={interrupt_id: _answer(payload, "approve")})

    assert done.status == "done"
    assert (workspace / "notes.txt").read_text() == "a final note"


async def test_edit_runs_the_edited_args_after_validating_them(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    outcome = await _paused(script, context, workspace, db_path)
    interrupt_id, payload = _only(outcome)

    invalid = _answer(payload, "edit", args={"path": "notes.txt"})  # missing old/new text
    again = await aresume("t", db=db_path, answers={interrupt_id: invalid})
    again_id, again_payload = _only(again)
    assert "edited args rejected" in str(again_payload["refused"])
    assert (workspace / "notes.txt").read_text() == "a draft note"

    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited notes.txt"}))
    script.add("finish", "notes edited")
    edited = {**EDIT, "new_text": "reviewed"}
    done = await aresume("t", db=db_path, answers={again_id: _answer(payload, "edit", args=edited)})
    assert done.status == "done"
    assert (workspace / "notes.txt").read_text() == "a reviewed note"


async def test_reject_becomes_an_observation_the_planner_sees(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    outcome = await _paused(script, context, workspace, db_path)
    interrupt_id, payload = _only(outcome)
    script.add("plan", plan_reply(step("s2", tool="read_file", args={"path": "notes.txt"})))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "user declined; s2 read it"}))
    script.add("finish", "left as is")

    answer = _answer(payload, "reject", feedback="keep my draft")
    done = await aresume("t", db=db_path, answers={interrupt_id: answer})

    assert done.status == "done"
    assert (workspace / "notes.txt").read_text() == "a draft note"
    assert done.results["s1"].verdict == "fail"
    assert "REJECTED by the user before it ran: keep my draft" in done.results["s1"].output
    replan_prompt = script.calls_for("plan")[1][-2].text
    assert "rejected by the user: keep my draft" in replan_prompt


async def test_stale_or_mismatched_answer_is_refused(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    outcome = await _paused(script, context, workspace, db_path)
    interrupt_id, payload = _only(outcome)

    for bad, reason in (
        ({**_answer(payload, "approve"), "args_hash": "0" * 16}, "stale approval"),
        ({**_answer(payload, "approve"), "step_id": "s9"}, "not 's9'"),
        ({"action": "yes"}, "action must be one of"),
    ):
        outcome = await aresume("t", db=db_path, answers={interrupt_id: bad})
        interrupt_id, again = _only(outcome)
        assert reason in str(again["refused"])
        assert (workspace / "notes.txt").read_text() == "a draft note"


async def test_parallel_approvals_are_answered_together(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "all"
    script.add("parse_goal", goal_reply("a.txt and b.txt exist"))
    script.add(
        "plan",
        plan_reply(
            step("a", tool="write_file", args={"path": "a.txt", "content": "A"}),
            step("b", tool="write_file", args={"path": "b.txt", "content": "B"}),
        ),
    )
    outcome = await arun("write two files", context=context, db=db_path, thread_id="p")
    assert sorted(p["step_id"] for p in outcome.pending.values()) == ["a", "b"]

    script.add("reflect", reflect_reply({"a": True, "b": True}, {"c1": "a and b wrote them"}))
    script.add("finish", "both written")
    answers = {i: _answer(p, "approve") for i, p in outcome.pending.items()}
    done = await aresume("p", db=db_path, answers=answers)

    assert done.status == "done"
    assert (workspace / "a.txt").read_text() == "A" and (workspace / "b.txt").read_text() == "B"
    approvals = (await thread_state("p", db_path))["approvals"]
    assert isinstance(approvals, list)
    assert sorted((d.step_id, d.action) for d in approvals) == [("a", "approve"), ("b", "approve")]


async def test_plan_approval_shows_plan_then_diff_on_replan(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.plan_approval = True
    context.approval = "none"
    script.add("parse_goal", goal_reply("answer.txt exists"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="read_file", args={"path": "missing.txt"}),
            step(
                "s2",
                tool="write_file",
                args={"path": "answer.txt", "content": "x"},
                depends_on=["s1"],
            ),
        ),
    )
    first = await arun("write the answer", context=context, db=db_path, thread_id="pl")
    (plan_id, plan_payload) = _only(first)
    assert plan_payload["kind"] == "plan_approval" and plan_payload["diff"] is None
    assert [s["id"] for s in plan_payload["plan"]] == ["s1", "s2"]  # type: ignore[union-attr]

    script.add("reflect", reflect_reply({"s1": False}, replan=True, reason="file missing"))
    script.add(
        "plan",
        plan_reply(step("s3", tool="write_file", args={"path": "answer.txt", "content": "x"})),
    )
    second = await aresume("pl", db=db_path, answers={plan_id: {"action": "approve"}})
    (replan_id, replan_payload) = _only(second)
    assert replan_payload["diff"] == {"added": ["s3"], "removed": ["s1", "s2"], "changed": []}
    assert replan_payload["replan_reason"] == "file missing"

    script.add("plan", plan_reply(step("s4", tool="list_files", args={})))
    third = await aresume(
        "pl", db=db_path, answers={replan_id: {"action": "reject", "feedback": "use list"}}
    )
    (_, third_payload) = _only(third)
    assert [s["id"] for s in third_payload["plan"]] == ["s4"]  # type: ignore[union-attr]
    assert "the user rejected this plan: use list" in script.calls_for("plan")[2][-2].text
    assert not (workspace / "answer.txt").exists()


async def test_rejected_run_python_leaves_no_trace_of_execution(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    code = "open('ran.txt', 'w').write('executed')\nprint('side effect')"
    script.add("parse_goal", goal_reply("nothing is executed without consent"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": code})))
    outcome = await arun("run my script", context=context, db=db_path, thread_id="py")
    interrupt_id, payload = _only(outcome)
    assert payload["risk"] == "executes_code" and payload["why"] == "the step executes code"

    script.add("plan", plan_reply(step("s2", tool="list_files", args={})))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "the user refused; s2 listed files"}))
    script.add("finish", "not run")
    answer = _answer(payload, "reject", feedback="do not run code")
    done = await aresume("py", db=db_path, answers={interrupt_id: answer})

    assert done.status == "done"
    assert not (workspace / "ran.txt").exists()
    assert "side effect" not in str(done.results)
    assert not (workspace / "planloop-runs" / "py" / "artifacts").exists()
    assert done.budget.tool_calls == 1  # only list_files ran


async def test_the_ready_answers_can_be_sent_as_they_are(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    outcome = await _paused(script, context, workspace, db_path)
    interrupt_id, payload = _only(outcome)
    ready = payload["ready_answers"]
    assert ready["approve"] == _answer(payload, "approve")  # bound to the step and its args
    assert ready["reject"]["action"] == "reject" and ready["reject"]["step_id"] == "s1"

    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited notes.txt"}))
    script.add("finish", "notes final")
    done = await aresume("t", db=db_path, answers={interrupt_id: ready["approve"]})
    assert done.status == "done"
    assert (workspace / "notes.txt").read_text() == "a final note"


async def test_a_plan_answer_bound_to_another_plan_is_refused(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.plan_approval = True
    context.approval = "none"
    script.add("parse_goal", goal_reply("answer.txt exists"))
    write = step("s1", tool="write_file", args={"path": "answer.txt", "content": "x"})
    script.add("plan", plan_reply(write))
    first = await arun("write the answer", context=context, db=db_path, thread_id="ph")
    plan_id, payload = _only(first)
    assert payload["ready_answers"]["approve"] == {
        "action": "approve",
        "plan_hash": payload["plan_hash"],
    }

    stale = {"action": "approve", "plan_hash": "0" * 16}
    again = await aresume("ph", db=db_path, answers={plan_id: stale})
    again_id, again_payload = _only(again)
    assert "stale approval" in str(again_payload["refused"])
    assert not (workspace / "answer.txt").exists()

    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote answer.txt"}))
    script.add("finish", "written")
    done = await aresume(
        "ph", db=db_path, answers={again_id: again_payload["ready_answers"]["approve"]}
    )
    assert done.status == "done" and (workspace / "answer.txt").read_text() == "x"
