"""Plan repair: what the system can fix in a proposed plan is fixed before validation (with a
note), so a rejection, and another planner call, is left for what the model must decide."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from graph.api import arun
from nodes.context import Context
from nodes.plan_check import validate_plan
from nodes.plan_repair import Repair, find_placeholders, repair_plan
from nodes.schemas import StepSpec
from nodes.state import StepResult
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tools import tools_for

TOOLS = tools_for(Context())


def passed(step_id: str) -> StepResult:
    return StepResult(step_id=step_id, status="done", output=f"{step_id} out", verdict="pass")


def failed(step_id: str) -> StepResult:
    return StepResult(step_id=step_id, status="error", output="ERROR: x", verdict="fail")


def repair(*steps: dict[str, Any], finished: dict[str, StepResult] | None = None) -> Repair:
    specs = [StepSpec.model_validate(s) for s in steps]
    fixed = repair_plan(specs, tools=TOOLS, finished=finished or {})
    # Whatever was repaired now passes validation.
    assert validate_plan(fixed.specs, tools=TOOLS, finished=finished or {}, max_steps=12) == []
    return fixed


def by_id(fixed: Repair) -> dict[str, StepSpec]:
    return {s.id: s for s in fixed.specs}


def test_a_sound_plan_is_left_as_it_is() -> None:
    steps = (
        step("a", tool="list_files", args={}),
        step("b", tool="read_file", fill_args=True, depends_on=["a"]),
        step("c", depends_on=["b", "done"]),
    )
    specs = [StepSpec.model_validate(s) for s in steps]
    fixed = repair_plan(specs, tools=TOOLS, finished={"done": passed("done")})
    assert fixed.specs == specs and fixed.notes == []


def test_depends_on_written_in_the_args_is_the_steps_dependencies() -> None:
    """A 1.5B planner put `depends_on` inside args, so its executor step saw no earlier result."""
    fixed = repair(
        step("read", tool="read_file", args={"path": "m.csv"}),
        {"id": "values", "description": "extract", "args": {"depends_on": ["read"]}},
        {"id": "list", "tool": "list_files", "args": {"path": ".", "depends_on": "values"}},
    )
    steps = by_id(fixed)
    assert steps["values"].depends_on == ["read"] and steps["values"].args is None
    assert steps["list"].depends_on == ["values"] and steps["list"].args == {"path": "."}
    assert "step values: depends_on taken out of its args" in fixed.notes


# ids ------------------------------------------------------------------------------------------


def test_ids_of_executed_steps_get_fresh_ids_and_the_plans_references_follow() -> None:
    # The real failure: a replan reusing s1, s2 (already executed) was rejected three times.
    fixed = repair(
        step("s1", tool="read_file", args={"path": "a.txt"}, depends_on=["s1"]),
        step("s2", depends_on=["s1"]),
        step("s3", depends_on=["s2", "s1"]),
        finished={"s1": passed("s1"), "s2": passed("s2")},
    )
    assert [s.id for s in fixed.specs] == ["s4", "s5", "s3"]
    steps = by_id(fixed)
    assert steps["s4"].depends_on == ["s1"]  # its own old id: the executed step
    assert steps["s5"].depends_on == ["s4"]  # the plan's own step of that id
    assert steps["s3"].depends_on == ["s5", "s4"]
    assert fixed.notes[:2] == [
        "step s1 renamed to s4: s1 is already the id of an executed step",
        "step s2 renamed to s5: s2 is already the id of an executed step",
    ]


def test_a_later_step_is_meant_even_when_referred_to_before_it() -> None:
    fixed = repair(
        step("check", depends_on=["fetch"]),
        step("fetch", tool="list_files", args={}),
        finished={"fetch": passed("fetch")},
    )
    assert [s.id for s in fixed.specs] == ["check", "fetch_2"]
    assert by_id(fixed)["check"].depends_on == ["fetch_2"]


def test_duplicate_ids_in_one_plan_are_told_apart() -> None:
    fixed = repair(
        step("a", tool="list_files", args={}),
        step("a", depends_on=["a"]),
        step("b", depends_on=["a"]),
    )
    assert [s.id for s in fixed.specs] == ["a", "a_2", "b"]
    steps = by_id(fixed)
    assert steps["a_2"].depends_on == ["a"]  # the earlier a, not itself
    assert steps["b"].depends_on == ["a_2"]  # the nearest earlier a
    assert fixed.notes == [
        "step a renamed to a_2: a is already the id of an earlier step of this plan"
    ]


def test_fresh_ids_avoid_every_id_in_use() -> None:
    fixed = repair(
        step("s1"), step("s2"), step("s1"), finished={"s1": passed("s1"), "s3": passed("s3")}
    )
    assert [s.id for s in fixed.specs] == ["s4", "s2", "s5"]
    long_id = "x" * 40
    fixed = repair(step(long_id), step(long_id))
    assert fixed.specs[1].id == "x" * 38 + "_2"


# dependencies -----------------------------------------------------------------------------------


def test_impossible_dependencies_are_dropped_with_a_note() -> None:
    fixed = repair(
        step("a", depends_on=["a", "ghost", "old", "ok"]),
        finished={"old": failed("old"), "ok": passed("ok")},
    )
    assert fixed.specs[0].depends_on == ["ok"]
    assert fixed.notes == [
        "step a: dropped its dependency on itself",
        "step a: dropped its dependency on unknown step 'ghost'",
        "step a: dropped its dependency on step 'old', which failed",
    ]


def test_a_failed_step_redone_under_its_id_is_the_new_step() -> None:
    fixed = repair(
        step("fetch", tool="list_files", args={}),
        step("use", depends_on=["fetch"]),
        finished={"fetch": failed("fetch")},
    )
    assert by_id(fixed)["use"].depends_on == ["fetch_2"]


# placeholders ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "{{s1}}",
        "{{s1.output}}",
        "{{ s1.result }} lines",
        "{s1}",
        "{s1.output}",
        "$s1",
        "${s1}",
        "<output of s1>",
        "<s1 result>",
        "the result of step s1",
        "Output from s1",
    ],
)
def test_a_placeholder_naming_a_step_becomes_a_filled_call_after_it(content: str) -> None:
    fixed = repair(
        step("s1", tool="read_file", args={"path": "in.txt"}),
        step("s2", tool="write_file", args={"path": "out.txt", "content": content}),
    )
    s2 = by_id(fixed)["s2"]
    assert s2.tool == "write_file" and s2.args is None and s2.depends_on == ["s1"]
    assert 'path="out.txt"' in s2.description and "results of s1" in s2.description
    assert "step s2: now depends on s1, which its args refer to" in fixed.notes
    assert any(n.startswith("step s2: args hold placeholder(s)") for n in fixed.notes)


def test_a_placeholder_of_an_executed_step_depends_on_it() -> None:
    fixed = repair(
        step("w", tool="write_file", args={"path": "o.txt", "content": "{{count_lines.output}}"}),
        finished={"count_lines": passed("count_lines")},
    )
    assert fixed.specs[0].depends_on == ["count_lines"] and fixed.specs[0].args is None


def test_a_placeholder_of_a_renamed_step_follows_the_new_id() -> None:
    fixed = repair(
        step("s1", tool="read_file", args={"path": "in.txt"}),
        step("s2", tool="write_file", args={"path": "o.txt", "content": "{{s1}}"}),
        finished={"s1": passed("s1")},
    )
    assert [s.id for s in fixed.specs] == ["s3", "s2"]
    assert fixed.specs[1].depends_on == ["s3"]


def test_a_placeholder_naming_no_step_depends_on_the_steps_before_it() -> None:
    fixed = repair(
        step("read", tool="read_file", args={"path": "server.log"}),
        step("count", tool="run_python", args={"code": "print(1)"}),
        step("write", tool="write_file", args={"path": "errors.txt", "content": "{{count}}"}),
    )
    # {{count}} names the step "count" here; an unnamed one is {{result}}:
    assert by_id(fixed)["write"].depends_on == ["count"]
    fixed = repair(
        step("read", tool="read_file", args={"path": "server.log"}),
        step("count", tool="run_python", args={"code": "print(1)"}),
        step("write", tool="write_file", args={"path": "errors.txt", "content": "{{result}}"}),
    )
    write = by_id(fixed)["write"]
    assert write.depends_on == ["read", "count"] and write.args is None
    assert (
        "step write: placeholder {{result}} names no step; it now depends on the results "
        "before it: read, count"
    ) in fixed.notes


def test_an_unnamed_placeholder_keeps_the_steps_own_dependencies() -> None:
    fixed = repair(
        step("read", tool="read_file", args={"path": "a"}),
        step("count", tool="run_python", args={"code": "print(1)"}),
        step("w", tool="write_file", args={"path": "b", "content": "{{n}}"}, depends_on=["count"]),
    )
    assert by_id(fixed)["w"].depends_on == ["count"]


def test_an_unnamed_placeholder_never_makes_a_cycle_and_falls_back_to_executed_results() -> None:
    fixed = repair(
        step("later_reader", depends_on=["w"]),
        step("w", tool="write_file", args={"path": "b", "content": "{{value}}"}),
    )
    assert by_id(fixed)["w"].depends_on == []  # later_reader waits on w: no cycle
    finished = {f"e{i}": passed(f"e{i}") for i in range(5)} | {"bad": failed("bad")}
    fixed = repair(
        step("w", tool="write_file", args={"path": "b", "content": "{{value}}"}),
        finished=finished,
    )
    assert fixed.specs[0].depends_on == ["e2", "e3", "e4"]  # the newest usable results


def test_a_placeholder_naming_a_failed_step_adds_no_dependency() -> None:
    fixed = repair(
        step("w", tool="write_file", args={"path": "b", "content": "{{old}}"}),
        finished={"old": failed("old")},
    )
    assert fixed.specs[0].depends_on == [] and fixed.specs[0].args is None
    assert "step w: its args refer to old, which failed" in fixed.notes


@pytest.mark.parametrize(
    "args",
    [
        {"code": "import sys\nprint({'a': 1}['a'], '$1', '{1}')"},
        {"code": "echo $HOME; awk '{print $1}' f"},
        {"code": "html = '<div class=\"s1\">s1</div>'"},
        {"code": "print(s1.output)"},
    ],
)
def test_ordinary_code_and_text_are_not_placeholders(args: dict[str, Any]) -> None:
    assert find_placeholders(args, ["s1", "1"]).found == []


def test_nested_args_are_searched() -> None:
    found = find_placeholders({"rows": [{"cells": ["x", "{{s1}}"]}]}, ["s1"])
    assert found.found == ["{{s1}}"] and found.names == ["s1"]


# tools and args ----------------------------------------------------------------------------------


def test_an_unavailable_tool_becomes_an_executor_step() -> None:
    fixed = repair(
        step("s1", tool="web_search", args={"query": "otters"}, description="find otter facts"),
        {"id": "s2", "tool": "count_words", "args": {"path": "essay.txt"}},
    )
    s1, s2 = fixed.specs
    assert (s1.tool, s1.args, s1.description, s1.expected) == (
        None,
        None,
        "find otter facts",
        "it works",
    )
    assert s2.tool is None and s2.args is None
    assert s2.description == 'do what count_words({"path": "essay.txt"}) would do'
    assert s2.expected == s2.description
    assert fixed.notes[0] == (
        "step s1: tool 'web_search' is not available; the executor does the step with the tools "
        "that are: " + ", ".join(TOOLS)
    )


def test_args_that_do_not_validate_are_filled_in_at_run_time() -> None:
    fixed = repair(
        {"id": "a", "tool": "write_file", "args": {"path": "x"}},
        step("b", tool="read_file", args={"path": "x", "mode": "r"}, description="read x"),
    )
    a, b = fixed.specs
    assert a.args is None and b.args is None and a.tool == "write_file"
    assert a.description.startswith('call write_file (planned args: path="x"; these args were')
    assert "content: Field required" in a.description
    assert b.description.startswith("read x (planned args:")
    assert (
        "step a: invalid args for write_file: content: Field required; the args are filled in "
        "when the step runs"
    ) in fixed.notes
    assert any("unknown argument(s) mode" in n for n in fixed.notes)


def test_args_without_a_tool_are_dropped() -> None:
    fixed = repair({"id": "a", "description": "d", "expected": "e", "args": {"x": 1}})
    assert fixed.specs[0].args is None
    assert fixed.notes == ['step a: args {"x": 1} dropped: they were given without a tool']


def test_missing_descriptions_and_expectations_are_derived() -> None:
    fixed = repair(
        {"id": "t", "tool": "list_files"},
        {"id": "d", "description": "sum the numbers"},
        {"id": "e", "expected": "the sum is known"},
    )
    t, d, e = fixed.specs
    assert t.description == "call list_files" and t.args is None
    assert d.expected == "sum the numbers"
    assert e.description == "the sum is known"
    assert fixed.notes == [
        "step t: no description: described as 'call list_files'",
        "step d: no expected outcome: the description stands for it",
        "step e: no description: the expected outcome stands for it",
    ]


# what is not repaired ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ((), "no steps"),
        (tuple(step(f"s{i}") for i in range(5)), "at most 4"),
        ((step("a", depends_on=["b"]), step("b", depends_on=["a"])), "dependency cycle"),
        (({"id": "a"},), "needs a description and expected"),
    ],
)
def test_what_needs_the_model_is_still_rejected(
    steps: tuple[dict[str, Any], ...], reason: str
) -> None:
    specs = [StepSpec.model_validate(s) for s in steps]
    fixed = repair_plan(specs, tools=TOOLS, finished={})
    errors = validate_plan(fixed.specs, tools=TOOLS, finished={}, max_steps=4)
    assert any(reason in e for e in errors), errors


# end to end ------------------------------------------------------------------------------------


def _roles(script: Script) -> list[str]:
    return [role for role, _ in script.calls]


async def test_a_replan_reusing_executed_ids_runs_with_one_planner_call(
    script: Script,
    context: Context,
    workspace: Path,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    script.add("parse_goal", goal_reply("hello.txt says hello"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="write_file", args={"path": "hello.txt", "content": "hello"}),
            step("s2", tool="read_file", args={"path": "nope.txt"}),
        ),
    )
    script.add("reflect", reflect_reply({"s1": True, "s2": False}, replan=True, reason="s2"))
    replan = plan_reply(
        step("s1", tool="read_file", args={"path": "hello.txt"}),
        step("s2", description="check that it says hello", depends_on=["s1"]),
    )
    script.add("plan", replan)
    script.add("execute", "hello.txt says hello.")
    script.add("reflect", reflect_reply({"s3": True, "s4": True}, {"c1": "s3, s4"}))
    script.add("finish", "hello.txt says hello.")

    with caplog.at_level(logging.INFO, logger="nodes.plan_repair"):
        # A goal naming no output file: its criterion is the model's to judge (no code check
        # would end the run before the replan).
        outcome = await arun("say hello", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert len(script.calls_for("plan")) == 2  # the first plan and ONE replan call
    assert outcome.results["s3"].output == "hello" and outcome.results["s4"].verdict == "pass"
    executor_prompt = script.calls_for("execute")[0][-1].text
    assert "<result step='s3'" in executor_prompt  # s2 -> s4 depends on the new s1 -> s3
    assert "plan repaired: step s1 renamed to s3" in caplog.text
    # The same replan without the repair is rejected (the old code failed the run on it):
    specs = [StepSpec.model_validate(s) for s in replan["steps"]]
    errors = validate_plan(specs, tools=TOOLS, finished=outcome.results, max_steps=12)
    assert "step id 's1' is already used by an executed step" in errors


async def test_a_placeholder_arg_is_filled_from_the_earlier_result(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "count.txt").write_text("2")
    script.add("parse_goal", goal_reply("errors.txt holds the number of ERROR lines"))
    script.add(
        "plan",
        plan_reply(
            step("count", tool="read_file", args={"path": "count.txt"}),
            step(
                "write",
                tool="write_file",
                args={"path": "errors.txt", "content": "{{result}}"},
                description="write the count",
            ),
        ),
    )
    script.add("execute", tool_call("write_file", {"path": "errors.txt", "content": "2"}))
    script.add("reflect", reflect_reply({"count": True, "write": True}, {"c1": "write"}))
    script.add("finish", "2 error lines.")

    outcome = await arun("count the errors into errors.txt", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert (workspace / "errors.txt").read_text() == "2"
    assert _roles(script) == ["parse_goal", "plan", "execute", "reflect", "finish"]
    fill_prompt = "\n".join(m.text for m in script.calls_for("execute")[0])
    assert "one call of the tool `write_file`" in fill_prompt
    assert "<result step='count'" in fill_prompt and "2" in fill_prompt  # its input
    assert 'path="errors.txt"' in fill_prompt  # the planned path reaches the fill call


async def test_a_fill_call_that_copies_the_placeholder_writes_nothing(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A live run (limerick, 1.5B): the fill call wrote `{{cat_name}}` itself, over a
    finished limerick, where the planned args had it and the result said "Biscuit"."""
    (workspace / "cat_name.txt").write_text("Biscuit")
    (workspace / "limerick.md").write_text("There once was a cat named Biscuit\n")
    script.add("parse_goal", goal_reply("limerick.md names the cat"))
    script.add(
        "plan",
        plan_reply(
            step("s2", tool="read_file", args={"path": "cat_name.txt"}),
            step("s3", tool="write_file", args={"path": "limerick.md", "content": "{{cat_name}}"}),
        ),
    )
    script.add(
        "execute", tool_call("write_file", {"path": "limerick.md", "content": "{{cat_name}}"})
    )
    script.defaults["reflect"] = reflect_reply({"s2": True, "s3": False})
    context.max_replans = 0

    outcome = await arun("put the cat's name in limerick.md", context=context, db=db_path)

    assert (workspace / "limerick.md").read_text() == "There once was a cat named Biscuit\n"
    s3 = outcome.results["s3"]
    assert s3.status == "error" and "still hold {{cat_name}}, not values" in s3.output
    assert outcome.budget.tool_calls == 1, "write_file was called"


def test_a_replanned_step_keeps_one_note_of_its_planned_args() -> None:
    """A replan copies an earlier repaired step's description; the note is not added twice."""
    first = by_id(repair(step("s1", tool="write_file", args={"path": "o.txt", "content": "{{n}}"})))
    again = by_id(
        repair(
            step(
                "s2",
                tool="write_file",
                description=first["s1"].description,
                args={"path": "o.txt", "content": "{{n}}"},
            ),
            finished={"s1": failed("s1")},
        )
    )
    assert again["s2"].description.count("(planned args:") == 1
    assert again["s2"].description == first["s1"].description


async def test_an_unavailable_tools_step_is_done_by_the_executor(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "essay.txt").write_text("one two three")
    script.add("parse_goal", goal_reply("the words of essay.txt are counted"))
    script.add(
        "plan",
        plan_reply({"id": "s1", "tool": "count_words", "args": {"path": "essay.txt"}}),
    )
    script.add("execute", tool_call("read_file", {"path": "essay.txt"}), "essay.txt has 3 words.")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1: 3 words"}))
    script.add("finish", "3 words.")

    outcome = await arun("count the words in essay.txt", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert len(script.calls_for("plan")) == 1
    assert outcome.results["s1"].output == "essay.txt has 3 words."
    assert outcome.results["s1"].tool_calls == 1
    executor_prompt = script.calls_for("execute")[0][-1].text
    assert 'do what count_words({"path": "essay.txt"}) would do' in executor_prompt


def test_a_batch_fill_that_copies_a_placeholder_leaves_that_step_to_fill_itself() -> None:
    from langchain_core.messages import AIMessage

    from nodes.fill_args import matched_args
    from nodes.state import Step

    planned = 'write it (planned args: path="o.txt"; content="{{n}}"; replace each placeholder)'
    steps = [
        Step(id="a", description=planned, expected="e", tool="write_file"),
        Step(id="b", description="read it", expected="e", tool="read_file"),
    ]
    reply = AIMessage(
        content="",
        tool_calls=[
            {"name": "write_file__a", "args": {"path": "o.txt", "content": "{{n}}"}, "id": "1"},
            {"name": "read_file__b", "args": {"path": "o.txt"}, "id": "2"},
        ],
    )
    assert matched_args(steps, reply) == {"b": {"path": "o.txt"}}


def test_a_plan_over_the_budget_loses_the_reads_its_programs_make_again() -> None:
    specs = [
        StepSpec(id="read_poem", tool="read_file", args={"path": "poem.txt"}),
        StepSpec(
            id="count", tool="run_python", args={"code": "print(len(open('poem.txt').read()))"}
        ),
        StepSpec(id="read_word", tool="read_file", args={"path": "word.txt"}),
        StepSpec(id="read_numbers", tool="read_file", args={"path": "numbers.txt"}),
        StepSpec(id="big", tool="run_python", args={"code": 'print(max(open("numbers.txt")))'}),
    ]

    within = repair_plan(specs, tools=TOOLS, finished={}, room=5)
    over = repair_plan(specs, tools=TOOLS, finished={}, room=3)

    assert [s.id for s in within.specs] == [s.id for s in specs]
    assert [s.id for s in over.specs] == ["count", "read_word", "big"]  # word.txt: nobody reads it
    assert sum("reads poem.txt itself" in note for note in over.notes) == 1
