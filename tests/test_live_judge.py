"""The judge benchmark (`bench.live.judge`): programs from recorded runs, labelled by their goal's
checker in the sandbox, and the tallies of a judge's verdicts against those labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.live.judge import Case, cases, evaluate, main
from bench.live.judges import JUDGES
from nodes.context import Context
from nodes.reflect import needs_review
from tests.fakes import Script, reflect_reply

REPLAYS = Path(__file__).parent / "replays"


async def test_recorded_programs_are_run_and_labelled_by_their_goals_checker() -> None:
    found = await cases([REPLAYS / "planloop"], extra=None)

    by_goal: dict[str, list[Case]] = {}
    for case in found:
        by_goal.setdefault(case.goal.name, []).append(case)
    # word_count.json holds two programs (the step's and the second programmer's), both right.
    assert [c.right for c in by_goal["word_count"]] == [True, True]
    assert all(c.files["word_count.txt"].strip() == "70" for c in by_goal["word_count"])
    # csv_totals.json holds a program that wrote a list of records: the checker says wrong.
    assert {c.right for c in by_goal["csv_totals"]} == {True, False}
    for case in found:
        assert case.criteria and all(c.id for c in case.criteria)  # planloop's own criteria
        assert case.run.startswith(("exit status", "killed"))


async def test_every_hand_written_wrong_program_is_labelled_wrong() -> None:
    recorded = await cases([REPLAYS / "planloop"], extra=None)
    found = await cases([REPLAYS / "planloop"])

    extra = found[len(recorded) :]
    # One per goal the recordings hold a goal analysis for (word_count: counts lines).
    assert {c.goal.name for c in extra} == {c.goal.name for c in recorded}
    assert not any(c.right for c in extra)


async def test_a_judges_verdicts_are_tallied_against_the_labels(context: Context) -> None:
    found = [c for c in await cases([REPLAYS / "planloop"]) if c.goal.name == "csv_totals"]

    async def accepts_all(case: Case, context: Context) -> tuple[bool, str]:
        return True, "met"

    result = await evaluate({"yes-man": accepts_all}, found, context)

    # Outputs code decides alone (a list where the goal asks for one JSON object) are no
    # judge's to accept.
    judged = [c for c in found if needs_review(list(c.criteria))]
    right = sum(c.right for c in judged)
    wrong = len(judged) - right
    assert right and wrong and len(judged) < len(found)
    summary = result["summary"]
    assert isinstance(summary, dict)
    assert summary["yes-man"]["right_accepted"] == f"{right}/{right}"
    assert summary["yes-man"]["wrong_accepted"] == f"{wrong}/{wrong}"


async def test_each_review_is_asked_its_own_question(script: Script, context: Context) -> None:
    (case, *_) = [c for c in await cases([REPLAYS / "planloop"]) if c.goal.name == "word_count"]
    ids = [c.id for c in case.criteria]
    script.add("reflect", reflect_reply({"s1": True}, dict.fromkeys(ids, "70")))
    judgements = [{"id": i, "evidence": "70", "met": True} for i in ids]
    script.add("program_review", {"criteria": judgements}, {"criteria": judgements})

    assert (await JUDGES["reflect"](case, context))[0]
    assert (await JUDGES["program"](case, context))[0]
    assert (await JUDGES["program-lenient"](case, context))[0]

    review_prompt = script.calls_for("reflect")[0][1].text
    assert case.program not in review_prompt and '<file path="word_count.txt">' in review_prompt
    program_prompt = script.calls_for("program_review")[0][1].text
    assert case.program.strip() in program_prompt and '<file path="essay.txt">' in program_prompt


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--cases", "no-such-folder"], "--cases no-such-folder is not a folder"),
        (["--cases", str(REPLAYS), "--judges", "bogus"], "unknown judge 'bogus'"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
