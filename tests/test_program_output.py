"""A criterion about what a script prints is checked by running the script in the sandbox,
when the run may execute code without asking; the check decides it either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.api import arun
from nodes.context import Context
from nodes.goal_files import output_checks, program_checks
from nodes.state import Check
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tools.confinement import Confinement

GOAL = "Write hello.py that prints 'Hello, world'."


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        (GOAL, [("hello.py", "Hello, world")]),
        ("Fix calc.py so that running it prints 42.", [("calc.py", "42")]),
        ('Make tools/greet.py output the line "hi there"', [("tools/greet.py", "hi there")]),
        ("Write hello.py that prints a friendly greeting.", []),  # words, not a value
        ("Write notes.txt that prints nicely", []),  # not a script
    ],
)
def test_a_script_output_check_comes_only_from_a_value_the_goal_gives(
    goal: str, expected: list[tuple[str, str]]
) -> None:
    assert [(c.path, c.text) for c in program_checks(goal)] == expected


def test_the_output_is_checked_only_when_code_may_run_without_asking(workspace: Path) -> None:
    guard = Confinement.of(workspace.resolve(), "t", (), ())
    hello = Check(kind="program_output", path="hello.py", text="Hello, world")
    assert output_checks(GOAL, True, guard) == [hello]
    assert output_checks(GOAL, False, guard) == [Check(kind="file_exists", path="hello.py")]


def _write(step_id: str, source: str) -> dict[str, object]:
    args = {"path": "hello.py", "content": source}
    return step(step_id, tool="write_file", args=args, risk="writes_workspace")


async def test_the_printed_value_decides_the_criterion_with_no_review(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", goal_reply("hello.py prints Hello, world"))
    script.add("plan", plan_reply(_write("s1", "print('Hello, ' + 'world')\n")))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    [criterion] = outcome.criteria
    assert criterion.met
    assert criterion.text == "hello.py prints Hello, world"
    assert criterion.evidence == "checked: running hello.py prints 'Hello, world'"
    assert [role for role, _ in script.calls] == ["parse_goal", "plan"], "no model judged it"


async def test_a_script_that_fails_or_prints_otherwise_leaves_it_unmet_and_says_why(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", goal_reply("hello.py prints Hello, world"))
    script.add("plan", plan_reply(_write("s1", "print(1 / 0)\n")))
    script.add("plan", plan_reply(_write("s2", "print('Hello')\n")))
    script.add("plan", plan_reply(_write("s3", "print('Hello, world')\n")))
    script.add("finish", "hello.py prints Hello, world")

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    first, second = ("\n".join(m.text for m in call) for call in script.calls_for("plan")[1:])
    assert "exit status 1: ZeroDivisionError: division by zero" in first
    assert "does not print 'Hello, world'; it printed 'Hello'" in second


async def test_a_run_resumed_with_approvals_on_does_not_run_the_script(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """The check was derived under --approve none; a stricter setting later wins."""
    from graph.api import aresume

    context.approval, context.plan_approval = "none", True
    script.add("parse_goal", goal_reply("hello.py prints Hello, world"))
    script.add("plan", plan_reply(_write("s1", "print('Hello, world')\n")))
    paused = await arun(GOAL, context=context, db=db_path, thread_id="t")
    assert paused.criteria[0].check is not None
    [(plan_id, payload)] = paused.pending.items()
    script.defaults["reflect"] = reflect_reply({"s1": True}, {"c1": "hello.py prints Hello"})
    script.defaults["plan"] = plan_reply()
    script.defaults["finish"] = "could not check it"

    answers = {plan_id: payload["ready_answers"]["approve"]}  # type: ignore[index]
    outcome = await aresume("t", db=db_path, answers=answers, approval="risky")

    assert outcome.status != "done"
    assert (workspace / "hello.py").exists(), "the step ran"
    replan = "\n".join(m.text for m in script.calls_for("plan")[1])
    assert "hello.py: not run: running code waits for approval" in replan
