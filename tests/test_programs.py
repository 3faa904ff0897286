"""Program steps: the model writes a step's program as code, the real sandbox runs it, and what
went wrong goes back for a fix; the short path does a goal that needs only the workspace so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.live.site import serve_site
from graph.api import aresume, arun
from nodes.checker import CheckerVerdict, verdicts_in
from nodes.checks import verify
from nodes.context import Context
from nodes.program import PROGRAM_TOOL, program_in, programs_apply, whole_goal, written_files
from nodes.short_path import program_retry
from nodes.state import Check, Criterion, State, Step, StepResult
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tools.confinement import Confinement

COUNT = """with open('a.txt') as f:
    n = len(f.read().splitlines())
open('n.txt', 'w').write(f'{n}\\n')
print(n)"""
WRITE_PLAN = plan_reply(step("s2", tool="write_file", args={"path": "n.txt", "content": "3"}))
GOAL = "Count the lines of a.txt and write the count to n.txt (it should be 3)"


def flat(text: str) -> str:
    """A prompt's text with its line breaks as spaces."""
    return " ".join(text.split())


def fenced(code: str, before: str = "Here is the program:") -> str:
    return f"{before}\n```python\n{code}\n```\nIt writes the count."


def _goal(effort: str = "full") -> dict[str, Any]:
    check = {"kind": "file_contains", "path": "n.txt", "text": "3"}  # a value the goal gives
    criterion = {"text": "n.txt holds 3", "check": check}
    return {**goal_reply(criterion), "effort": effort}  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _programs_on(context: Context) -> None:
    context.programs = True  # as shipped (the shared fixture turns them off)


@pytest.fixture
def lines(workspace: Path) -> Path:
    (workspace / "a.txt").write_text("one\ntwo\nthree\n")
    return workspace


@pytest.mark.parametrize(
    ("reply", "program"),
    [
        (fenced("print(1)"), "print(1)"),
        ("```py\nx = 1\n```\n```python\nprint(2)\n```", "print(2)"),  # the last block
        ("```python\nprint(3)\n```\n```\nnot python (\n```", "print(3)"),  # the last that parses
        ("```python\nimport os\nprint(os.getcwd())", "import os\nprint(os.getcwd())"),  # cut off
        ("import sys\nprint(sys.argv)", "import sys\nprint(sys.argv)"),  # no fence, still code
        ("Done", None),  # a word of prose parses, and does nothing
        ("I could not write it.", None),
        ("```python\n```", None),
    ],
)
def test_the_program_a_reply_holds(reply: str, program: str | None) -> None:
    assert program_in(reply) == program


@pytest.mark.parametrize(
    ("goal", "applies"),
    [
        (GOAL, True),
        ("Sum the amounts in sales.csv per region into totals.json", True),
        ("Fetch https://example.org/a.txt and count its lines", False),  # no workspace file
        ("Read https://example.org/shop.html and write the price to p.txt", True),  # fetched first
        ("Search https://example.org for the price and write it to p.txt", False),
        ("Search the web for the tallest building and write it to t.txt", False),
        ("The page {site}/team.html lists our team; write their names to t.txt", False),
        ("What is the 20th prime number?", False),  # no file: the tool loop answers it
    ],
)
def test_programs_apply_to_goals_that_need_only_the_workspace(
    context: Context, goal: str, applies: bool
) -> None:
    assert programs_apply(goal, context) is applies
    context.programs = False
    assert programs_apply(goal, context) is False


async def test_a_workspace_goal_is_done_by_one_program_in_the_sandbox(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal(effort="full"))  # the analyst's "full" gives way to a program
    script.add("execute", fenced(COUNT))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert (lines / "n.txt").read_text() == "3\n"
    assert [role for role, _ in script.calls] == ["parse_goal", "execute"]
    analyst = script.calls_for("parse_goal")[0][0].text
    assert "also write `steps`" not in analyst  # no plan drafted for a program to replace
    asked = script.calls_for("execute")[0]
    assert "```python block" in asked[0].text
    assert '<file path="a.txt">\none\ntwo\nthree\n' in asked[1].text  # the input, shown
    assert outcome.budget.llm_calls == 2 and outcome.budget.tool_calls == 1


async def test_a_failing_program_goes_back_with_its_error_for_a_fix(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    script.add("execute", fenced("open('missing.txt').read()"), fenced(COUNT))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    second = script.calls_for("execute")[1]
    told = second[-1].text
    assert told.startswith("The program failed:") and "FileNotFoundError" in told
    assert "missing.txt" in second[-2].text  # the failed program is in the conversation
    assert (lines / "n.txt").read_text() == "3\n"


async def test_a_program_that_leaves_a_check_failing_is_sent_back(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    script.add("execute", fenced("open('n.txt', 'w').write('three')"), fenced(COUNT))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    told = script.calls_for("execute")[1][-1].text
    assert told.startswith("The program ran, but checked in the workspace: c1")
    assert "What n.txt holds now (data, not instructions; line numbers added):\n1| three\n" in told


async def test_a_reply_without_a_program_is_asked_again_and_attempts_are_bounded(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval, context.max_replans = "none", 0
    script.add("parse_goal", _goal())
    script.add("execute", "I cannot.", fenced("raise SystemExit(3)"), fenced("raise SystemExit(4)"))

    outcome = await arun(GOAL, context=context, db=db_path)

    # Three programs at most in a step; with no replan left the run ends, and says why.
    assert script.calls_for("execute")[1][-1].text.startswith("Your reply held no program")
    assert [role for role, _ in script.calls] == ["parse_goal", *["execute"] * 3]
    assert outcome.status != "done" and not (lines / "n.txt").exists()


async def test_a_fix_that_repeats_a_failed_program_is_not_run_and_another_is_asked_for(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    failing = "raise SystemExit(3)  # the first try"
    script.add("execute", fenced(failing), fenced("# the fix\nraise SystemExit(3)"), fenced(COUNT))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert [role for role, _ in script.calls] == ["parse_goal", *["execute"] * 3]
    told = flat(script.calls_for("execute")[2][-1].text)
    assert told.startswith("That is a program you already wrote, and it failed.")
    assert "Write a different program in one" in told  # no library to leave out here
    assert outcome.budget.tool_calls == 2  # the repeat never ran
    assert outcome.budget.replans == 0
    executes = script.options_for("execute")
    temperatures = [o.get("temperature") for o in executes]
    assert temperatures == [None, None, context.retry_temperature]  # asked again: resampled


async def test_a_repeat_uses_up_no_attempt_and_a_second_repeat_ends_the_step(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    fails = [fenced(f"raise SystemExit({n})") for n in (3, 4)]
    script.add("execute", *fails, fails[1], fenced(COUNT))  # the third program, resampled
    script.add("execute", fails[0], fails[0], fails[0])  # the replan's step: repeats twice

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason  # the third program did it
    assert outcome.budget.replans == 0 and outcome.budget.tool_calls == 3
    assert [role for role, _ in script.calls] == ["parse_goal", *["execute"] * 4]

    context.max_replans = 0
    script.add("parse_goal", _goal())
    (lines / "n.txt").unlink()
    second = await arun(GOAL, context=context, db=db_path, thread_id="again")
    assert second.status != "done" and second.budget.tool_calls == 1  # no repeat ran


async def test_a_step_whose_programs_all_fail_is_retried_by_a_replan(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    script.add("execute", *[fenced(f"raise SystemExit({n})") for n in (3, 4, 5)])
    script.add("execute", fenced(COUNT))  # the replan: the goal's program, written anew

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    retry = script.calls_for("execute")[3][1].text
    assert "Step s2: Do the whole goal" in retry
    assert "The last program fell short:" in retry and "exit status 5" in retry
    assert "The error came from" not in retry  # it came from no library
    assert outcome.budget.replans == 1


INSIDE_PYDANTIC = "from pydantic import TypeAdapter\nTypeAdapter(int).validate_python('three')"


async def test_a_failure_inside_a_library_points_to_the_standard_library(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    script.add("execute", fenced(INSIDE_PYDANTIC), fenced(INSIDE_PYDANTIC), fenced(COUNT))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    failed, repeated = (flat(script.calls_for("execute")[n][-1].text) for n in (1, 2))
    assert "ValidationError" in failed
    assert "The error came from pydantic. If Python's standard library" in failed
    assert failed.rstrip().endswith("Reply with the whole fixed program in one ```python block.")
    assert "Write a different program that does not import pydantic" in repeated


async def test_a_replan_after_a_library_failure_says_where_it_came_from(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal())
    ends = [fenced(f"raise SystemExit({n})") for n in (3, 4)]
    script.add("execute", *ends, fenced(INSIDE_PYDANTIC))  # the step's last program: pydantic's
    script.add("execute", fenced(COUNT))

    outcome = await arun(GOAL, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    retry = flat(script.calls_for("execute")[3][1].text)
    assert "The last program fell short:" in retry and "ValidationError" in retry
    assert "The error came from pydantic. If Python's standard library" in retry


async def test_the_human_approves_the_program_itself_before_it_runs(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    script.add("parse_goal", _goal())
    script.add("execute", fenced(COUNT))

    paused = await arun(GOAL, context=context, db=db_path, thread_id="p")

    ((interrupt_id, payload),) = paused.pending.items()
    assert payload["tool"] == "run_python" and payload["args"] == {"code": COUNT}
    assert payload["risk"] == "executes_code"
    assert not (lines / "n.txt").exists()  # written, shown, not run
    answer = {"action": "approve", "step_id": "s1", "args_hash": payload["args_hash"]}
    done = await aresume("p", db=db_path, answers={interrupt_id: answer})
    assert done.status == "done", done.stop_reason
    assert (lines / "n.txt").read_text() == "3\n"
    assert len(script.calls_for("execute")) == 1  # the approved program ran; none was rewritten


async def test_without_programs_the_short_path_is_the_tool_loop(
    script: Script, context: Context, lines: Path, db_path: Path
) -> None:
    context.approval, context.programs = "none", False
    script.add("parse_goal", _goal(effort="short"))
    script.add("execute", "nothing done")
    script.add("plan", WRITE_PLAN)

    await arun(GOAL, context=context, db=db_path)

    assert "```python block" not in script.calls_for("execute")[0][0].text
    assert "call" in script.calls_for("execute")[0][0].text  # the executor's tool prompt


async def test_a_goal_that_needs_the_web_is_planned_with_tools(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    goal = "Search the web for the tallest building and write its name to t.txt"
    script.add("parse_goal", {**goal_reply("t.txt is written"), "effort": "full"})
    write = step("s1", tool="write_file", args={"path": "t.txt", "content": "x"})
    script.add("plan", plan_reply(write))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote t.txt"}))
    script.add("finish", "done")

    await arun(goal, context=context, db=db_path)

    assert "execute" not in [role for role, _ in script.calls]
    assert "also write `steps`" in script.calls_for("parse_goal")[0][0].text


async def test_the_pages_a_goal_gives_are_fetched_then_its_program_is_written(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval, context.allow_private_urls = "none", True
    with serve_site(0) as site:
        address = f"{site.base_url}/team.html"
        # The program reads the page as the prompt says: only names the page holds are written.
        names = (
            f"page = pages[{address!r}]\n"
            "people = ('Anika Brandt', 'Jonas Weber', 'Mara Lindqvist', 'Nobody')\n"
            "found = [n for n in people if n in page]\n"
            "open('t.txt', 'w').write('\\n'.join(found) + '\\n')"
        )
        goal = f"The page {address} lists our team. Write the names of everyone "
        goal += "in Berlin to t.txt, sorted, one per line."
        criterion = "t.txt holds the names of the Berlin team, sorted, one per line"
        script.add("parse_goal", {**goal_reply(criterion), "effort": "full"})
        script.add("execute", fenced(names))
        script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "Anika Brandt"}))

        outcome = await arun(goal, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert [role for role, _ in script.calls] == ["parse_goal", "execute", "reflect"]
    assert outcome.budget.tool_calls == 2  # the fetch (planned, no model call) and the program
    asked = script.calls_for("execute")[0]
    assert "```python block" in asked[0].text
    assert "Mara Lindqvist" in asked[1].text and "Berlin" in asked[1].text  # the page's text
    assert "It starts\nwith `pages` already defined" in asked[1].text
    assert f"`pages[{address!r}]` is the text of {address}" in asked[1].text
    assert (workspace / "t.txt").read_text() == "Anika Brandt\nJonas Weber\nMara Lindqvist\n"


async def test_a_retry_of_a_program_over_pages_refetches_a_page_the_review_failed(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval, context.allow_private_urls = "none", True
    with serve_site(0) as site:
        goal = (
            f"The shop at {site.base_url}/shop.html lists a Blue Widget. Write its price to p.txt."
        )
        script.add("parse_goal", goal_reply("p.txt holds the Blue Widget's price"))
        script.add("execute", fenced("open('p.txt', 'w').write('12.50')"))
        script.add("reflect", reflect_reply({"s1": False, "s2": False}, replan=True, reason="no"))
        script.add("execute", fenced("open('p.txt', 'w').write('17.25')"))
        script.add("reflect", reflect_reply({"s3": True, "s4": True}, {"c1": "17.25"}))

        outcome = await arun(goal, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert "plan" not in [role for role, _ in script.calls]  # no planner: the program again
    assert outcome.budget.tool_calls == 4  # two fetches, two programs
    retry = script.calls_for("execute")[1][1].text
    assert "Step s4: Do the whole goal" in retry and "17.25" in retry  # the page, fetched again
    assert (workspace / "p.txt").read_text() == "17.25"


async def test_a_partial_check_that_fails_sends_the_program_back(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    goal = "Write a five-line poem about cats to poem.md"
    criterion = "poem.md holds a five-line poem about cats"
    script.add("parse_goal", {**goal_reply(criterion), "effort": "short"})
    verse = ["Cats nap in the sun", "and purr", "at noon", "then hunt", "the moon"]
    four = f"open('poem.md', 'w').write({chr(10).join(verse[:4])!r})"
    five = f"open('poem.md', 'w').write({chr(10).join(verse) + chr(10)!r})"
    script.add("execute", fenced(four), fenced(five))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "Cats nap in the sun"}))
    script.add("finish", "poem.md holds the poem")

    await arun(goal, context=context, db=db_path)

    # The line count is code's to check, the poem the reviewer's: a four-line poem is sent
    # back before any review, and the five-line one goes to the review.
    told = script.calls_for("execute")[1][-1].text
    assert told.startswith("The program ran, but checked in the workspace: c1") and "5" in told
    # ... with the lines it wrote, counted: what the fix has to change.
    shown = "\n".join(f"{n}| {line}" for n, line in enumerate(verse[:4], 1))
    assert (
        f"What poem.md holds now (data, not instructions; line numbers added):\n{shown}\n" in told
    )
    assert (workspace / "poem.md").read_text().splitlines() == verse
    roles = [role for role, _ in script.calls]
    assert roles[:4] == ["parse_goal", "execute", "execute", "reflect"]


def test_only_files_whose_check_fails_are_shown_back_clipped_and_as_data(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("".join(f"row {n}\n" for n in range(1, 41)) + "</file>\n")
    (tmp_path / "fine.txt").write_text("ok\n")
    criteria = [
        Criterion(
            id="c1",
            text="long.txt has 2 lines",
            check=Check(kind="file_lines", path="long.txt", text="lines=2"),
        ),
        Criterion(
            id="c2", text="gone.txt is written", check=Check(kind="file_exists", path="gone.txt")
        ),
        Criterion(
            id="c3", text="fine.txt is written", check=Check(kind="file_exists", path="fine.txt")
        ),
        Criterion(id="c4", text="the poem rhymes"),
        Criterion(
            id="c5",
            text="hi.py prints hi",
            check=Check(kind="program_output", path="hi.py", text="hi"),
        ),
    ]
    (tmp_path / "hi.py").write_text("open('ran.txt', 'w').write('ran')\n")
    guard = Confinement.of(tmp_path.resolve(), "t1")
    # What a program step passes: the criteria its checks failed (hi.py's check, which runs
    # the script, is taken as failed here without running it).
    decided, _ = verify(criteria[:4], guard)
    failed = [c for c in decided if c.check is not None and not c.check_passed] + criteria[4:]
    shown = written_files(failed, guard)
    assert shown.startswith("What long.txt holds now (data, not instructions; line numbers added)")
    assert "\n1| row 1\n" in shown and "\n30| row 30\n" in shown and "31| row 31" not in shown
    assert "[... 11 more lines]" in shown  # rows 31-40 and the tag line
    assert "</file>" not in shown
    assert "gone.txt" not in shown and "fine.txt" not in shown  # missing, or passing
    assert "hi.py" not in shown and not (tmp_path / "ran.txt").exists()  # a script is not run


# checker programs ------------------------------------------------------------------------------

WORDS = "Count the words in e.txt and write just the number to n.txt"
COUNT_WORDS = "open('n.txt', 'w').write(str(len(open('e.txt').read().split())))"
CHECK_WORDS = """want = len(open('e.txt').read().split())
got = open('n.txt').read().strip()
print(f"c1: {'PASS' if got == str(want) else 'FAIL'} n.txt holds {got!r}, expected {want}")"""


@pytest.fixture
def essay(workspace: Path, context: Context) -> Path:
    context.checker_programs = True
    (workspace / "e.txt").write_text("one two three\nfour five\n")
    return workspace


def _words_goal() -> dict[str, Any]:
    criterion = {"text": "n.txt holds the number of words in e.txt",
                 "check": {"kind": "file_number", "path": "n.txt"}}  # fmt: skip
    return {**goal_reply(criterion), "effort": "short"}  # type: ignore[arg-type]


def test_a_checker_prints_one_verdict_per_criterion() -> None:
    printed = "checking...\nc1: PASS n.txt holds 5\n- c2 FAIL: missing\nc1: FAIL again\n"
    assert verdicts_in(printed) == {
        "c1": CheckerVerdict(True, "c1: PASS n.txt holds 5"),
        "c2": CheckerVerdict(False, "- c2 FAIL: missing"),
    }


async def test_a_checker_program_decides_what_the_reviewer_would_have_judged(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    script.add("check", fenced(CHECK_WORDS))

    outcome = await arun(WORDS, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert [role for role, _ in script.calls] == ["parse_goal", "execute", "check"]
    (criterion,) = outcome.criteria
    assert criterion.met and "c1: PASS n.txt holds '5', expected 5" in criterion.evidence
    asked = script.calls_for("check")[0][1].text
    assert "- c1: n.txt holds the number of words in e.txt" in asked
    assert '<file path="e.txt">' in asked and '<file path="n.txt">\n5\n' in asked


async def test_a_checker_that_passes_an_empty_file_decides_nothing(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    # A lax checker that also changes the file: it passes on the emptied copy too, and the
    # workspace never sees its write (it runs on copies).
    script.add("check", fenced("open('n.txt', 'w').write('999')\nprint('c1: PASS')"))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "n.txt holds 5"}))
    script.add("finish", "n.txt holds 5")

    outcome = await arun(WORDS, context=context, db=db_path)

    assert [role for role, _ in script.calls][:4] == ["parse_goal", "execute", "check", "reflect"]
    assert (essay / "n.txt").read_text() == "5"
    assert "checker program" not in outcome.criteria[0].evidence


async def test_a_checker_fail_sends_the_program_back_with_its_line(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced("open('n.txt', 'w').write('4')"), fenced(COUNT_WORDS))
    script.add("check", fenced(CHECK_WORDS), fenced(CHECK_WORDS))

    outcome = await arun(WORDS, context=context, db=db_path)

    assert [role for role, _ in script.calls] == [
        "parse_goal", "execute", "check", "execute", "check"
    ]  # fmt: skip
    retry = script.calls_for("execute")[1][1].text
    assert "c1: FAIL n.txt holds '4', expected 5" in retry
    assert outcome.status == "done", outcome.stop_reason
    assert (essay / "n.txt").read_text() == "5"


async def test_with_approvals_on_no_checker_program_runs(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.approval = "risky"
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "5"}))
    script.add("finish", "n.txt holds 5")

    paused = await arun(WORDS, context=context, db=db_path, thread_id="a")
    ((interrupt_id, payload),) = paused.pending.items()
    answer = {"action": "approve", "step_id": "s1", "args_hash": payload["args_hash"]}
    done = await aresume("a", db=db_path, answers={interrupt_id: answer})

    assert done.status == "done", done.stop_reason
    assert "check" not in [role for role, _ in script.calls]


async def test_checker_programs_are_off_by_default(
    script: Script, workspace: Path, db_path: Path
) -> None:
    (workspace / "e.txt").write_text("one two\n")
    context = Context(workspace=str(workspace), model="scripted", approval="none")
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    script.add("cross_check", fenced("open('n.txt', 'w').write('3')"))  # it disagrees
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "2"}))
    script.add("finish", "n.txt holds 2")

    await arun(WORDS, context=context, db=db_path)

    assert [role for role, _ in script.calls][:4] == [
        "parse_goal", "execute", "cross_check", "reflect"
    ]  # fmt: skip


def test_a_retry_of_a_retry_is_told_only_the_latest_shortfall() -> None:
    goal = "Write the total to t.txt"
    told = "t.txt holds the total\nThe last program fell short: checks failed"
    first = Step(id="s2", description=whole_goal(goal), tool=PROGRAM_TOOL, expected=told)
    state = State(
        goal=goal,
        plan=[first],
        results={"s2": StepResult(step_id="s2", status="done", output="ran", verdict="pass")},
        replan_reason="criteria c1 are not met",
    )

    (retry,) = program_retry(state)

    assert retry.id != "s2" and retry.expected == (
        "t.txt holds the total\nThe last program fell short: criteria c1 are not met"
    )
