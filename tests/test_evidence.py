"""The reviewer's "met" needs evidence that shows something: code unsets a criterion whose
evidence only restates it, or that quotes nothing of the file its check names."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from graph.api import arun
from nodes.context import Context
from nodes.evidence import (
    checked_files,
    founded,
    is_a_line,
    quotes,
    restates,
    unfounded,
)
from nodes.state import Check, Criterion
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tools.confinement import Confinement


def test_restating_the_criterion_is_no_evidence() -> None:
    criterion = "inventory.md holds the Markdown table of inventory.csv"
    assert restates("inventory.md holds the Markdown table of inventory.csv.", criterion)
    assert restates("", criterion)
    assert not restates("s2 wrote | item | qty | with 3 rows", criterion)


@pytest.mark.parametrize(
    ("evidence", "shown"),
    [
        ("adults.txt lists Ana, Chen and Emil", True),  # a whole line, as a word
        ("The tool wrote 25 bytes to the file adults.txt", False),
        ('it holds {"north": 220.0, "south"', True),  # a run of a long JSON line
        ("Anabel is listed", False),  # "Ana" only inside another word
    ],
)
def test_evidence_about_a_file_must_quote_it(evidence: str, shown: bool) -> None:
    content = 'Ana\nChen\nEmil\n{"north": 220.0, "south": 100.0}\n'
    assert quotes(evidence, content) is shown


def test_the_criterions_own_words_in_the_file_are_no_quote() -> None:
    """A replan wrote the goal's sentence into adults.txt; the review's evidence repeated it."""
    criterion = "adults.txt holds the names of the users aged 18 or over, one per line"
    content = "The names of the users aged 18 or over, one per line\n"
    evidence = "The file adults.txt contains the names of the users aged 18 or over, one per line"
    assert quotes(evidence, content) and not quotes(evidence, content, criterion)
    assert quotes("adults.txt lists Ana", "Ana\n", criterion)
    quoted = "hello.txt contains 'hello world'"
    assert quotes("s1 wrote hello world to hello.txt", "hello world", quoted)


def test_a_size_a_tool_reported_is_no_quote_of_a_number_in_the_file() -> None:
    """A live run (word_count, 1.5B) ended a false "done": word_count.txt held "10" (the essay
    has 70 words) and the review's evidence "wrote 10 bytes to word_count.txt" was read as
    quoting its one line."""
    criterion = "word_count.txt holds the number of words in essay.txt"
    assert not quotes("wrote 10 bytes to word_count.txt", "10", criterion)
    assert not quotes("config.ini exists (68 characters)", "68\n", criterion)
    assert quotes("word_count.txt holds 70", "70\n", criterion)
    assert quotes("the essay has 70 words; wrote 3 bytes", "70\n", criterion)


def test_a_line_naming_its_own_file_is_no_quote_of_its_content() -> None:
    """A live run (prime_sum, 1.5B, pass 2 of the fifth measurement) ended a false "done":
    prime_sum.txt held only "The sum of all prime numbers below 5000 is written to
    prime_sum.txt", and the review quoted that line as the sum."""
    criterion = "prime_sum.txt holds the sum of all prime numbers below the number in limit.txt"
    told = "The sum of all prime numbers below 5000 is written to prime_sum.txt"
    assert not quotes(told, told + "\n", criterion, "prime_sum.txt")
    assert not quotes(told, told + "\n", criterion, "out/prime_sum.txt")
    assert quotes(told, told + "\n", criterion)  # without the path, as before
    assert quotes("prime_sum.txt holds 1548136", "1548136\n", criterion, "prime_sum.txt")
    both = "1548136\nwritten to prime_sum.txt\n"
    assert quotes("it holds 1548136", both, criterion, "prime_sum.txt")


def test_a_line_number_alone_is_no_evidence_without_a_file_to_cite() -> None:
    bare = Criterion(id="c1", text="config.ini holds port 9090", met=True, evidence="line 2")
    assert "only restates" in unfounded(bare, {})
    said = Criterion(id="c1", text="the answer names the port", met=True,
                     evidence="line 2 says port = 9090")  # fmt: skip
    assert unfounded(said, {}) == ""


def test_a_whole_line_of_the_file_is_a_quote_even_when_the_criterion_names_it_too() -> None:
    """A live run (six_squares, pass 27) wrote all six files right; asked for a copied line,
    the review quoted "1" for "part1.txt holds the square of 1" (and "4" ... "36" for the
    others), and only c1's was read as restating its criterion: the run replanned."""
    part1 = Check(kind="file_number", path="part1.txt", decides=False)
    said = Criterion(id="c1", text="part1.txt holds the square of 1", check=part1, met=True,
                     evidence="1")  # fmt: skip
    assert unfounded(said, {"part1.txt": "1\n"}) == ""
    assert "only restates" in unfounded(said, {"part1.txt": "2\n"})  # no line of the file
    # The criterion's words without the file's line are still a restatement, and a line of
    # the criterion's prose the file repeats is still no quote.
    restated = replace(said, evidence="part1.txt holds the square of 1")
    assert "only restates" in unfounded(restated, {"part1.txt": "1\n"})
    copied = {"part1.txt": "part1.txt holds the square of 1\n"}
    assert unfounded(restated, copied) != ""
    assert not is_a_line("the square of 1", "the square of 1\n", said.text)


def test_a_met_the_evidence_does_not_show_is_unset(workspace: Path) -> None:
    guard = Confinement.of(workspace.resolve(), "t", (), ())
    (workspace / "adults.txt").write_text("Ana\nBo\nChen\n")
    partial = Check(kind="file_exists", path="adults.txt", decides=False)
    said = Criterion(id="c1", text="adults.txt holds the adults", check=partial, met=True,
                     evidence="The tool wrote 11 bytes to adults.txt")  # fmt: skip
    quoted = Criterion(id="c2", text="adults.txt holds the adults", check=partial, met=True,
                       evidence="adults.txt lists Ana and Chen")  # fmt: skip
    unchecked = Criterion(id="c3", text="the answer is friendly", met=True,
                          evidence="the answer is friendly")  # fmt: skip
    criteria = [said, quoted, unchecked]
    first, second, third = founded(criteria, checked_files(criteria, guard))
    assert not first.met and "quotes nothing of adults.txt" in first.evidence
    assert second.met and second.evidence == "adults.txt lists Ana and Chen"
    assert not third.met and "only restates the criterion" in third.evidence


async def test_a_review_that_only_restates_the_criterion_does_not_finish_a_run(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A 1.5B reviewer marked "inventory.md holds the table" met with those very words, for a
    file holding the 13 characters "inventory.csv": the run ended "done" (a false done)."""
    script.add("parse_goal", goal_reply("inventory.md holds the Markdown table"))
    write = {"path": "inventory.md", "content": "inventory.csv"}
    script.add(
        "plan", plan_reply(step("s1", tool="write_file", args=write, risk="writes_workspace"))
    )
    restated = reflect_reply({"s1": True}, {"c1": "inventory.md holds the Markdown table"})
    script.defaults["reflect"] = restated
    script.defaults["plan"] = plan_reply()
    script.defaults["finish"] = "could not finish"

    outcome = await arun("convert the inventory", context=context, db=db_path)

    assert outcome.status != "done"
    assert not outcome.criteria[0].met
    assert "only restates the criterion" in outcome.criteria[0].evidence


async def test_evidence_that_shows_nothing_is_asked_about_once_in_the_same_conversation(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A right file the reviewer only restated ended "failed" (three runs of the 1.5B model);
    asked once to copy a line of the file, the reviewer can show it."""
    script.add("parse_goal", goal_reply("adults.txt holds the names of the adults"))
    write = {"path": "adults.txt", "content": "Ana\nChen\n"}
    script.add(
        "plan", plan_reply(step("s1", tool="write_file", args=write, risk="writes_workspace"))
    )
    restated = reflect_reply({"s1": True}, {"c1": "adults.txt holds the names of the adults"})
    quoted = reflect_reply({"s1": True}, {"c1": "adults.txt has the line Chen"})
    script.add("reflect", restated, quoted)
    script.defaults["finish"] = "adults.txt lists the adults"

    outcome = await arun("write the names of the adults to adults.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert (
        outcome.criteria[0].met and outcome.criteria[0].evidence == "adults.txt has the line Chen"
    )
    first, second = script.calls_for("reflect")
    assert second[: len(first)] == first, "the question follows the first answer"
    assert second[len(first)].text == json.dumps(restated)
    question = second[len(first) + 1].text
    assert "c1: the evidence only restates the criterion" in question


async def test_evidence_still_showing_nothing_after_the_question_leaves_the_criterion_unmet(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """One question per review, not a loop: the second answer is taken as it is, and code
    unsets what its evidence does not show."""
    context.max_replans = 0
    script.add("parse_goal", goal_reply("adults.txt holds the names of the adults"))
    write = {"path": "adults.txt", "content": "Ana\nChen\n"}
    script.add(
        "plan", plan_reply(step("s1", tool="write_file", args=write, risk="writes_workspace"))
    )
    script.defaults["reflect"] = reflect_reply({"s1": True}, {"c1": "The tool wrote 9 bytes"})
    script.defaults["plan"] = plan_reply()
    script.defaults["finish"] = "could not finish"

    outcome = await arun("write the names of the adults to adults.txt", context=context, db=db_path)

    assert outcome.status != "done"
    assert "quotes nothing of adults.txt" in outcome.criteria[0].evidence
    asked = [
        sum("Evidence must show" in m.text for m in call) for call in script.calls_for("reflect")
    ]
    assert 1 in asked and max(asked) == 1


async def test_a_re_read_after_a_failed_edit_does_not_end_the_step(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """read, edit (works), edit (fails), read again: the re-read is how the model recovers,
    so the step goes on (its second edit is made), not "done" with the first edit's result."""
    context.approval = "none"
    (workspace / "config.ini").write_text("port = 8080\nhost = localhost\n")
    read = tool_call("read_file", {"path": "config.ini"}, "r")
    port = {"path": "config.ini", "old_text": "port = 8080", "new_text": "port = 9090"}
    wrong = {"path": "config.ini", "old_text": "host=localhost", "new_text": "host = 0.0.0.0"}
    host = {"path": "config.ini", "old_text": "host = localhost", "new_text": "host = 0.0.0.0"}
    edits = [tool_call("edit_file", args, f"e{n}") for n, args in enumerate((port, wrong, host))]
    script.add("parse_goal", goal_reply("config.ini is updated"))
    script.add("plan", plan_reply(step("s1", description="edit", risk="writes_workspace")))
    script.add("execute", read, edits[0], edits[1], read, edits[2], "done")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "config.ini says port = 9090"}))
    script.defaults["finish"] = "done"

    outcome = await arun("set port 9090 and host 0.0.0.0", context=context, db=db_path)

    assert (workspace / "config.ini").read_text() == "port = 9090\nhost = 0.0.0.0\n"
    assert outcome.results["s1"].tool_calls == 5
