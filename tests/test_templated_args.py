"""Placeholders for earlier results (`{{s1}}` in a planned step's args) are filled in by code
from the results they name, with no model call (LLMCompiler's `$1`); what code cannot fill in
exactly is left to the fill call as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.api import aresume, arun
from nodes.context import Context
from nodes.placeholders import result_value, substituted
from nodes.state import StepResult
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tools.python_tool import program_stdout


def _roles(script: Script) -> list[str]:
    return [role for role, _ in script.calls]


def _copy_plan(content: str, path: str = "copy.txt") -> dict[str, object]:
    return plan_reply(
        step("s1", tool="read_file", args={"path": "word.txt"}),
        step("s2", tool="write_file", args={"path": path, "content": content}, depends_on=["s1"],
             risk="writes_workspace"),
    )  # fmt: skip


async def test_a_placeholder_for_a_result_is_filled_in_by_code_without_a_model_call(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "word.txt").write_text("planloop\n")
    script.add("parse_goal", goal_reply("copy.txt holds the word"))
    script.add("plan", _copy_plan("The word is {{s1.output}}."))
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s2 wrote it"}))
    script.add("finish", "copied")

    outcome = await arun("copy the word", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert (workspace / "copy.txt").read_text() == "The word is planloop."
    assert _roles(script) == ["parse_goal", "plan", "reflect", "finish"]  # no fill call


@pytest.mark.parametrize(
    ("code", "content", "depends_on"),
    [
        ("print(max([17, 93, 4]))", "{{s1}}", ["s1"]),  # a placeholder for the whole arg
        ("max_number = max([17, 93, 4])\nprint(max_number)", "max_number", []),  # its name
    ],
    ids=["placeholder", "printed-variable"],
)
async def test_what_a_program_printed_fills_a_whole_arg(
    script: Script, workspace: Path, db_path: Path, code: str, content: str, depends_on: list[str]
) -> None:
    context = Context(workspace=str(workspace), model="scripted", approval="none")
    script.add("parse_goal", goal_reply("max.txt holds the largest number"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="run_python", args={"code": code}, risk="executes_code"),
            step("s2", tool="write_file", args={"path": "max.txt", "content": content},
                 depends_on=depends_on, risk="writes_workspace"),
        ),
    )  # fmt: skip
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s2 wrote 93"}))
    script.add("finish", "93")

    outcome = await arun("write the largest number", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert (workspace / "max.txt").read_text() == "93"
    assert "execute" not in _roles(script)


async def test_a_value_too_long_to_put_inside_a_text_is_left_to_the_fill_call(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "word.txt").write_text("two\nlines\n")
    script.add("parse_goal", goal_reply("copy.txt holds the text"))
    script.add("plan", _copy_plan("Text: {{s1}}"))
    script.add("execute", tool_call("write_file", {"path": "copy.txt", "content": "Text: two"}))
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s2 wrote it"}))
    script.add("finish", "copied")

    outcome = await arun("copy the text", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert _roles(script) == ["parse_goal", "plan", "execute", "reflect", "finish"]
    assert (workspace / "copy.txt").read_text() == "Text: two"


async def test_a_code_filled_call_that_needs_approval_shows_the_filled_args(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    (workspace / "word.txt").write_text("planloop\n")
    (workspace / "copy.txt").write_text("old\n")  # changing it needs approval
    script.add("parse_goal", goal_reply("copy.txt holds the word"))
    script.add("plan", _copy_plan("{{s1}}"))
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s2 wrote it"}))
    script.add("finish", "copied")

    paused = await arun("copy the word", context=context, db=db_path, thread_id="t")

    ((interrupt_id, payload),) = paused.pending.items()
    assert payload["step_id"] == "s2"
    assert payload["args"] == {"path": "copy.txt", "content": "planloop"}
    answer = {"action": "approve", "step_id": "s2", "args_hash": payload["args_hash"]}
    outcome = await aresume("t", db=db_path, answers={interrupt_id: answer})
    assert outcome.status == "done", outcome.stop_reason
    assert (workspace / "copy.txt").read_text() == "planloop"
    assert "execute" not in _roles(script)


VALUES = {"s1": "93", "s2": "two\nlines\n"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"content": "{{s1}}"}, {"content": "93"}),
        ({"content": "{{ s1.output }}"}, {"content": "93"}),
        ({"content": "{{s1[0]}}"}, {"content": "93"}),
        ({"content": "max={{s1}}; again {{s1}}"}, {"content": "max=93; again 93"}),
        ({"content": "{{s2}}"}, {"content": "two\nlines\n"}),
        ({"nested": {"list": ["{{s1}}", 3]}}, {"nested": {"list": ["93", 3]}}),
        ({"content": "Hello {{ name }}, {{s1}}"}, {"content": "Hello {{ name }}, 93"}),
        ({"content": "lines: {{s2}}"}, None),  # a multi-line value inside a text
        ({"content": "{{s3}}"}, None),  # names no step with a value
        ({"content": "{{count}}"}, None),  # a bare name: some result, but which?
        ({"content": "$s1"}, None),  # another form: the fill call reads it
    ],
)
def test_which_placeholders_code_fills_in(
    args: dict[str, object], expected: dict[str, object] | None
) -> None:
    assert substituted(args, VALUES) == expected


def _result(output: str, **extra: object) -> StepResult:
    return StepResult(step_id="s1", status="done", output=output, **extra)  # type: ignore[arg-type]


def test_a_result_stands_for_its_output_or_what_its_program_printed() -> None:
    printed = "exit status 0\n--- stdout ---\n93\n--- stderr ---\nwarn\nisolation: bwrap"
    assert result_value(_result(printed), "run_python") == "93"
    assert result_value(_result("planloop\n"), "read_file") == "planloop"
    assert result_value(_result("a\nb\n"), "read_file") == "a\nb\n"
    assert result_value(_result("exit status 1\n--- stdout ---\n93"), "run_python") is None
    assert result_value(_result("x" * 10, artifacts=["full.txt"]), "read_file") is None
    failed = StepResult(step_id="s1", status="error", output="ERROR: no such file")
    assert result_value(failed, "read_file") is None


def test_a_program_observation_yields_its_stdout_only() -> None:
    created = "exit status 0\n--- stdout ---\nisolation: x\nfiles created or changed: a.txt\n"
    assert program_stdout(created + "isolation: bwrap") == "isolation: x"
    assert program_stdout("exit status 0\nisolation: bwrap") is None
    assert program_stdout("killed: timeout after 5s\n--- stdout ---\n1\nisolation: b") is None


def test_an_arg_naming_a_printed_variable_stands_for_that_steps_result() -> None:
    from nodes.plan_repair import repair_plan
    from nodes.schemas import StepSpec
    from tools import tools_for

    code = "lines = open('poem.txt').readlines()\ncount = sum(1 for l in lines if l.strip())\n"
    specs = [
        StepSpec(id="count_lines", tool="run_python", args={"code": code + "print(count)"}),
        StepSpec(id="write_lines", tool="write_file", args={"path": "count", "content": "count"}),
        StepSpec(id="write_word", tool="write_file", args={"path": "w.txt", "content": "total"}),
    ]

    fixed = repair_plan(specs, tools=tools_for(Context()), finished={})

    _, write_lines, write_word = fixed.specs
    assert write_lines.depends_on == ["count_lines"] and write_lines.args is None
    assert write_lines.templated_args == {"path": "count", "content": "{{count_lines}}"}
    assert write_word.args == {"path": "w.txt", "content": "total"}  # nothing prints `total`
    assert any("names the value step count_lines prints" in note for note in fixed.notes)


def test_an_arg_that_is_the_expression_a_program_prints_stands_for_its_output() -> None:
    from nodes.placeholders import named_values, printed_names

    code = "import json\nrows = [r for r in json.load(open('u.json')) if r['age'] >= 18]\n"
    printed = printed_names([("s2", code + "print(json.dumps(rows))")])
    assert named_values({"path": "a.txt", "content": "json.dumps( rows )"}, printed) == (
        {"path": "a.txt", "content": "{{s2}}"},
        {"content": "s2"},
    )
    assert named_values({"content": "rows"}, printed) == ({"content": "rows"}, {})
