"""Cross-checks: a second program, written apart from the first, does the goal again on a copy of
the workspace (the real sandbox), and an output both wrote alike settles the criteria about it
that a reviewer would otherwise judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph.api import aresume, arun
from nodes.context import Context
from nodes.same_output import same_output
from tests.fakes import Script, goal_reply, reflect_reply

WORDS = "Count the words in e.txt and write just the number to n.txt"
COUNT_WORDS = "open('n.txt', 'w').write(str(len(open('e.txt').read().split())))"
COUNT_WORDS_AGAIN = """words = 0
with open('e.txt') as essay:
    for line in essay:
        words += len(line.split())
with open('n.txt', 'w') as out:
    out.write(f'{words}\\n')"""


def fenced(code: str) -> str:
    return f"Here it is:\n```python\n{code}\n```"


@pytest.fixture(autouse=True)
def _as_shipped(context: Context) -> None:
    # The shared fixture turns programs and cross-checks off; a user's run has both, and the
    # live suite runs with no approvals.
    context.programs, context.cross_check, context.approval = True, True, "none"


@pytest.fixture
def essay(workspace: Path) -> Path:
    (workspace / "e.txt").write_text("one two three\nfour five\n")
    return workspace


def _words_goal() -> dict[str, Any]:
    criterion = {"text": "n.txt holds the number of words in e.txt",
                 "check": {"kind": "file_number", "path": "n.txt"}}  # fmt: skip
    return {**goal_reply(criterion), "effort": "short"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("70", "70\n", True),
        ("3", "3.0", True),
        ("- [ ] a\n- [ ] b\n", "- [ ]  a\n\n- [ ] b", True),  # spacing and blank lines aside
        ("|a|b|\n|---|---|\n|1|2|\n", "| a | b |\n| --- | --- |\n| 1 | 2 |", True),
        ('{"north": 1.5, "south": 2}', '{\n  "south": 2.0,\n  "north": 1.5\n}', True),
        ("70", "71", False),
        ("a\nb\n", "b\na\n", False),  # order matters
        ("Alice\nbob\n", "alice\nbob\n", False),  # so does case
        ('[{"north": 1.5}]', '{"north": 1.5}', False),  # a list of records is not one object
        ('{"ok": true}', '{"ok": 1}', False),
        ("", "", False),  # two empty files show no work
        ("\n", "  \n", False),
    ],
)
def test_two_outputs_are_the_same_up_to_layout(first: str, second: str, same: bool) -> None:
    assert same_output(first, second) is same
    assert same_output(second, first) is same


async def test_an_output_two_programs_wrote_alike_and_judged_unmet_ends_the_run(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    script.add("cross_check", fenced(COUNT_WORDS_AGAIN))  # "5\n" beside the first's "5"
    script.add("reflect", reflect_reply({"s1": True}))  # the 1.5B reviewer's "not met"

    outcome = await arun(WORDS, context=context, db=db_path)

    # A rewrite would write the same file again: the run ends, and does not claim it is done.
    assert [role for role, _ in script.calls] == [
        "parse_goal", "execute", "cross_check", "reflect"
    ]  # fmt: skip
    assert outcome.status == "stalled"
    assert "two programs written apart wrote the same n.txt" in outcome.stop_reason
    assert not outcome.criteria[0].met
    assert (essay / "n.txt").read_text() == "5"  # the first program's file, untouched
    asked = script.calls_for("cross_check")[0]
    assert f"Goal: {WORDS}" in asked[1].text
    assert '<file path="e.txt">' in asked[1].text
    assert "n.txt" not in asked[1].text.split("Input files", 1)[1]  # not shown the output


async def test_a_met_only_its_evidence_failed_gets_another_review_not_a_stop(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS), fenced(COUNT_WORDS_AGAIN))
    script.add("cross_check", fenced(COUNT_WORDS_AGAIN), fenced(COUNT_WORDS_AGAIN))
    restated = reflect_reply({"s1": True}, {"c1": "n.txt holds the number of words in e.txt"})
    script.add("reflect", restated, restated)  # "met", on evidence that shows nothing
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "n.txt holds 5"}))

    outcome = await arun(WORDS, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert len(script.calls_for("execute")) == 2  # the review's "met" earned another round


async def test_with_settling_on_an_output_two_programs_wrote_alike_settles_the_criterion(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.cross_check_settles = True
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    script.add("cross_check", fenced(COUNT_WORDS_AGAIN))

    outcome = await arun(WORDS, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert [role for role, _ in script.calls] == ["parse_goal", "execute", "cross_check"]
    (criterion,) = outcome.criteria
    assert criterion.met and "a second program" in criterion.evidence
    assert "'5'" in criterion.evidence  # it quotes the file


async def test_a_retry_runs_the_second_program_that_wrote_an_output_otherwise(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced("open('n.txt', 'w').write('4')"))
    script.add("cross_check", fenced(COUNT_WORDS_AGAIN), fenced(COUNT_WORDS_AGAIN))
    script.add("reflect", reflect_reply({"s1": True}))  # not met
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "n.txt holds 5"}))

    outcome = await arun(WORDS, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert [role for role, _ in script.calls] == [
        "parse_goal", "execute", "cross_check", "reflect", "cross_check", "reflect"
    ]  # fmt: skip
    assert (essay / "n.txt").read_text() == "5\n"  # the second program's, run in the workspace
    told = script.calls_for("reflect")[1][1].text  # the review of the retry sees why it ran
    assert "A second program, written apart from the first, wrote n.txt as\n'5'" in told
    assert "where the first wrote '4'; this retry runs the second program" in told


async def test_the_second_program_run_as_the_retry_is_not_checked_against_itself(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.max_replans = 1
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced("open('n.txt', 'w').write('4')"))
    # Asked again after the retry ran its program, the model writes that program again.
    script.add("cross_check", fenced(COUNT_WORDS_AGAIN), fenced("# again\n" + COUNT_WORDS_AGAIN))
    script.add("reflect", reflect_reply({"s1": True}), reflect_reply({"s2": True}))  # not met

    outcome = await arun(WORDS, context=context, db=db_path)

    assert (essay / "n.txt").read_text() == "5\n"  # the retry ran the second program
    checks = script.options_for("cross_check")
    assert [o.get("temperature") for o in checks] == [None, context.retry_temperature]
    # One program's output agrees with itself: no "two programs written apart" stop.
    assert outcome.status == "budget_exhausted", outcome.stop_reason
    assert "two programs" not in outcome.stop_reason


async def test_a_second_program_cannot_copy_the_first_programs_output(
    script: Script, context: Context, essay: Path, db_path: Path
) -> None:
    context.max_replans = 0
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    # It would agree by copying: n.txt is not in its copy of the workspace.
    copier = "open('x.txt', 'w')\ntext = open('n.txt').read()\nopen('n.txt', 'w').write(text)"
    script.add("cross_check", fenced(copier))
    script.add("reflect", reflect_reply({"s1": True}))  # no criterion met

    outcome = await arun(WORDS, context=context, db=db_path)

    assert "reflect" in [role for role, _ in script.calls]
    assert outcome.status == "budget_exhausted"  # no agreement ended it
    assert "two programs" not in outcome.stop_reason
    assert not (essay / "x.txt").exists()  # nothing it wrote reached the workspace


@pytest.mark.parametrize("setting", ["approval", "cross_check"])
async def test_no_second_program_runs_with_approvals_on_or_cross_checks_off(
    script: Script, context: Context, essay: Path, db_path: Path, setting: str
) -> None:
    if setting == "approval":
        context.approval = "risky"  # it would run code no human approved
    else:
        context.cross_check = False
    script.add("parse_goal", _words_goal())
    script.add("execute", fenced(COUNT_WORDS))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "n.txt holds 5"}))
    script.add("finish", "n.txt holds 5")

    outcome = await arun(WORDS, context=context, db=db_path, thread_id="t")
    if outcome.pending:  # approvals on: the program waits for a human first
        ((interrupt_id, payload),) = outcome.pending.items()
        answer = {"action": "approve", "step_id": "s1", "args_hash": payload["args_hash"]}
        outcome = await aresume("t", db=db_path, answers={interrupt_id: answer})

    assert outcome.status == "done", outcome.stop_reason
    assert "cross_check" not in [role for role, _ in script.calls]


TOTALS = (
    "sales.csv has the columns region and amount. Write the total amount per region to "
    'totals.json as one JSON object, e.g. {"north": 1.5}.'
)
RECORDS = """import csv, json
rows = csv.DictReader(open('sales.csv'))
json.dump([{'region': r['region'], 'amount': float(r['amount'])} for r in rows],
          open('totals.json', 'w'))"""
PER_REGION = """import csv, json
totals = {}
for row in csv.DictReader(open('sales.csv')):
    totals[row['region']] = totals.get(row['region'], 0) + float(row['amount'])
json.dump(totals, open('totals.json', 'w'))"""


async def test_a_second_program_passing_the_checks_the_first_failed_is_what_the_retry_runs(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """Live (csv_totals), told that its list of records is not the JSON object the goal asks
    for, the 1.5B executor wrote the same program until the replans ran out."""
    (workspace / "sales.csv").write_text("region,amount\nnorth,1.5\nsouth,2\nnorth,1\n")
    criterion = {"text": "totals.json holds the total amount per region",
                 "check": {"kind": "file_json", "path": "totals.json"}}  # fmt: skip
    script.add("parse_goal", {**goal_reply(criterion), "effort": "short"})  # type: ignore[arg-type]
    script.defaults["execute"] = fenced(RECORDS)  # whatever it is told
    script.add("cross_check", fenced(PER_REGION), fenced("# again\n" + PER_REGION))
    evidence = 'totals.json holds {"north": 2.5, "south": 2.0}'
    script.add("reflect", reflect_reply({"s2": True}, {"c1": evidence}))
    script.add("finish", "totals.json holds the totals")

    outcome = await arun(TOTALS, context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    roles = [role for role, _ in script.calls]
    # The first program, its fix and a resample (each the same), then the second program on
    # a copy; the retry runs that one with no model call, and a cross-check and a review
    # judge it.
    assert roles[:6] == [
        "parse_goal",
        "execute",
        "execute",
        "execute",
        "cross_check",
        "cross_check",
    ]
    assert roles.count("execute") == 3
    assert json.loads((workspace / "totals.json").read_text()) == {"north": 2.5, "south": 2.0}
    told = script.calls_for("reflect")[0][1].text  # the review of the retry sees why it ran
    assert "totals.json holds a JSON array, not the JSON object the goal asks for" in told
    assert "A second program, written apart from the first, passes those checks" in told


async def test_no_second_program_runs_for_a_failed_check_a_copy_cannot_show(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """The copy a second program runs in lacks the first program's outputs, an edited file
    among them: there is nothing there for it to edit."""
    context.max_replans = 1
    (workspace / "config.ini").write_text("[server]\nhost = a\nport = 8080\n")
    check = {"kind": "file_contains", "path": "config.ini", "text": "port = 9090"}
    criterion = {"text": "config.ini holds port = 9090", "check": check}
    script.add("parse_goal", {**goal_reply(criterion), "effort": "short"})  # type: ignore[arg-type]
    # It drops the other lines: code decides every criterion, and the kept-lines check fails.
    script.defaults["execute"] = fenced("open('config.ini', 'w').write('port = 9090\\n')")

    goal = "In config.ini change port = 8080 to port = 9090. Leave every other line as it is."
    outcome = await arun(goal, context=context, db=db_path)

    assert outcome.status == "budget_exhausted", outcome.stop_reason
    assert "max replans (1)" in outcome.stop_reason
    assert "cross_check" not in [role for role, _ in script.calls]


async def test_a_second_program_that_did_not_pass_is_not_asked_for_again_at_temperature_0(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """Nor is one asked for when no replan is left to run it."""
    context.max_replans = 2
    (workspace / "sales.csv").write_text("region,amount\nnorth,1.5\n")
    criterion = {"text": "totals.json holds the total amount per region",
                 "check": {"kind": "file_json", "path": "totals.json"}}  # fmt: skip
    script.add("parse_goal", {**goal_reply(criterion), "effort": "short"})  # type: ignore[arg-type]
    script.defaults["execute"] = fenced(RECORDS)
    script.defaults["cross_check"] = fenced(RECORDS)  # no better

    outcome = await arun(TOTALS, context=context, db=db_path)

    assert outcome.status == "budget_exhausted", outcome.stop_reason
    asked = [o.get("temperature") for o in script.options_for("cross_check")]
    assert asked == [None, context.retry_temperature]  # the third failure had no replan left
    assert "max replans (2)" in outcome.stop_reason
    assert isinstance(json.loads((workspace / "totals.json").read_text()), list)  # never ran
