"""Recorded real-model runs (tests/replays/, made by `python -m bench.live --record`) replay
offline and end as they did: same status, same checker verdict, same workspace files. A change
that makes a recorded run crash, loop (ask for more model calls than recorded) or end
differently fails here without a model. Re-record after a prompt change with the command in the
README ("Live evaluation").

Requests that differ from the recorded ones are served in recorded order and reported as
divergences (printed, not failed): a reworded prompt alone does not break these tests, a change
of behaviour does.
"""

from __future__ import annotations

import re
import warnings
from contextlib import ExitStack
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from bench.live.goals import GOALS_BY_NAME
from bench.live.runner import Recording, Row, run_goal
from bench.live.site import DEFAULT_PORT, serve_site
from bench.live.systems import SYSTEMS, RunSettings
from nodes.context import Context
from nodes.errors import ModelUnavailableError
from nodes.llm import PARSE_GOAL, ModelFactory, invoke, invoke_structured, use_model_factory
from nodes.replay import ReplayExhaustedError, Tape, recording, replaying
from nodes.schemas import GoalSpec
from tests.fakes import Script, ScriptedChatModel

REPLAYS = Path(__file__).parent / "replays"
RECORDED = sorted(REPLAYS.glob("*/*.json"))
SUPERSEDED: dict[str, str] = {}
"""Recordings whose end this version changes on purpose, and why (they need re-recording)."""


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_replays_cover_passing_and_failing_runs_of_both_systems() -> None:
    rows = [Recording.load(path).row for path in RECORDED]
    assert {row["system"] for row in rows} >= {
        "planloop",
        "planloop-no-cross-check",
        "planloop-tools",
        "react",
    }
    assert any(row["passed"] for row in rows)
    assert any(not row["passed"] for row in rows)
    # With the 1.5B model, planloop's recorded runs end on its limits or on a stall; the
    # scripted-model tests cover the ends a real model seldom reached here.
    assert {row["status"] for row in rows if row["system"].startswith("planloop")} >= {
        "stalled",
        "budget_exhausted",
    }


def test_the_readme_replay_map_names_recordings_that_exist() -> None:
    """Each recording the README's map of failure classes names (last column; a name without
    a folder is in the folder named before it) is under tests/replays/."""
    readme = (REPLAYS.parents[1] / "README.md").read_text()
    start = readme.index("| failure seen with the real model |")
    rows = readme[start:].split("\n\n", 1)[0].splitlines()[2:]
    named = 0
    for row in rows:
        folder = ""
        for token in re.findall(r"`([^`]+)`", row.rsplit("|", 2)[-2]):
            folder, name = token.rsplit("/", 1) if "/" in token else (folder, token)
            assert sorted(REPLAYS.glob(f"{folder}/{name}.json")), f"{token} ({row[:40]}...)"
            named += 1
    assert len(rows) >= 8 and named >= len(rows)


FALSE_DONE = sorted((REPLAYS / "false_done").glob("*/*.json"))
"""Recorded runs that ended a false "done" (the checker said not passed), whose cause was fixed
since: replayed, none may end "done"."""


async def _replayed(recorded: Recording) -> Row:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    goal = GOALS_BY_NAME[recorded.meta["goal"]]
    settings = RunSettings(**recorded.meta["settings"])
    with ExitStack() as stack:
        site_url = f"http://127.0.0.1:{DEFAULT_PORT}"
        if goal.uses_site:  # the recorded replies name the site's fixed address
            site_url = stack.enter_context(serve_site(DEFAULT_PORT)).base_url
        return await run_goal(
            goal,
            SYSTEMS[recorded.meta["system"]],
            settings,
            site_url=site_url,
            wall_cap=600,
            replay=recorded,
        )


@pytest.mark.parametrize("path", RECORDED, ids=_name)
async def test_recorded_run_replays_to_the_same_end(path: Path) -> None:
    if _name(path) in SUPERSEDED:
        pytest.skip(SUPERSEDED[_name(path)])
    recorded = Recording.load(path)
    row = await _replayed(recorded)
    expected = recorded.row
    context = f"{path.name}: divergences {row.divergences}; stop reason {row.stop_reason!r}"
    assert row.status == expected["status"], context
    assert row.passed == expected["passed"], context
    assert row.files == expected["files"], context
    assert row.model_calls == expected["model_calls"], context
    assert row.tool_calls == expected["tool_calls"], context
    if row.divergences:
        print(context)


@pytest.mark.parametrize("path", FALSE_DONE, ids=_name)
async def test_a_recorded_false_done_no_longer_ends_done(path: Path) -> None:
    recorded = Recording.load(path)
    assert recorded.row["status"] == "done" and not recorded.row["passed"]
    row = await _replayed(recorded)
    assert row.status != "done", f"{path.name}: stop reason {row.stop_reason!r}"


# the record/replay seam itself ------------------------------------------------------------------


ANALYST = SystemMessage("You are the goal analyst of planloop.")


def scripted(*replies: str) -> ModelFactory:
    """A model factory whose calls get `replies` in order."""
    script = Script(parse_goal=[AIMessage(text) for text in replies])
    return lambda _context: ScriptedChatModel(script=script)


async def test_a_recorded_exchange_replays_with_its_reply_and_usage(workspace: Path) -> None:
    context = Context(workspace=str(workspace), model="scripted")
    tape = Tape(workspace=str(workspace))
    with use_model_factory(scripted("hello")), recording(tape):
        reply, spent = await invoke(
            context, [ANALYST, HumanMessage(f"read {workspace}/a.txt")], stage=PARSE_GOAL
        )
    assert reply.text == "hello" and spent.prompt_tokens > 0
    assert len(tape.exchanges) == 1
    assert "<WORKSPACE>/a.txt" in str(tape.exchanges[0].request)

    other = workspace.parent / "elsewhere"
    with replaying(Tape.from_json(tape.to_json()), str(other)) as player:
        again, spent_again = await invoke(
            context, [ANALYST, HumanMessage(f"read {other}/a.txt")], stage=PARSE_GOAL
        )
        assert again.text == "hello" and spent_again == spent
        assert player.divergences == []
        with pytest.raises(ReplayExhaustedError):
            await invoke(context, [ANALYST, HumanMessage("one call too many")], stage=PARSE_GOAL)


async def test_a_resampled_request_is_recorded_with_its_temperature(workspace: Path) -> None:
    context = Context(workspace=str(workspace), model="scripted", retry_temperature=0.6)
    tape = Tape()
    with use_model_factory(scripted("first", "again")), recording(tape):
        await invoke(context, [ANALYST, HumanMessage("write it")], stage=PARSE_GOAL)
        await invoke(context, [ANALYST, HumanMessage("write it")], stage=PARSE_GOAL, resample=True)
    plain, resampled = (exchange.request for exchange in tape.exchanges)
    assert "temperature" not in plain, "the run's own temperature is the model's, not the call's"
    assert resampled["temperature"] == 0.6


async def test_a_different_request_is_served_in_order_and_noted(workspace: Path) -> None:
    context = Context(workspace=str(workspace), model="scripted")
    tape = Tape()
    with use_model_factory(scripted("first", "second")), recording(tape):
        await invoke(context, [ANALYST, HumanMessage("question one")], stage=PARSE_GOAL)
        await invoke(context, [ANALYST, HumanMessage("question two")], stage=PARSE_GOAL)
    with replaying(tape) as player:
        second, _ = await invoke(context, [ANALYST, HumanMessage("question two")], stage=PARSE_GOAL)
        changed, _ = await invoke(
            context, [ANALYST, HumanMessage("question one, reworded")], stage=PARSE_GOAL
        )
    assert second.text == "second", "an identical request gets its own reply, even out of order"
    assert changed.text == "first", "a changed request gets the next unserved reply"
    assert len(player.divergences) == 1 and player.divergences[0].position == 0
    assert "reworded" in player.divergences[0].detail


async def test_a_recorded_timeout_replays_as_the_same_planloop_error(workspace: Path) -> None:
    context = Context(workspace=str(workspace), model="scripted", base_url="http://x/v1")
    tape = Tape.from_json(
        [{"request": {}, "reply": None, "error": {"type": "APITimeoutError", "message": ""}}]
    )
    with replaying(tape), pytest.raises(ModelUnavailableError, match="timed out"):
        await invoke(context, [ANALYST, HumanMessage("slow")], stage=PARSE_GOAL)


CSV_TOTALS_GOAL_REPLY = (
    "```json\n"
    "{\n"
    '  "objective": "Write the total amount per region to totals.json as one JSON obj'
    'ect, e.g. {"north": 1.5}",\n'
    '  "criteria": [\n'
    '    "A file named totals.json exists.",\n'
    '    "The file contains a JSON object with one key-value pair for each region in '
    'the sales.csv file.",\n'
    "    \"The value for each region is the sum of the 'amount' column for that region"
    '.",\n'
    '    "The JSON object is correctly formatted and valid."\n'
    "  ],\n"
    '  "constraints": [\n'
    '    "The sales.csv file is accessible and contains the necessary data.",\n'
    "    \"The sales.csv file has the correct column names ('region' and 'amount').\"\n"
    "  ]\n"
    "}\n"
    "```"
)
"""A real goal reply (Qwen2.5-Coder-1.5B, csv_totals, recorded 2026-12-01): the unescaped quotes
inside its objective failed three repairs then, and ended the run."""


async def test_a_real_reply_with_unescaped_quotes_is_read_in_one_call(workspace: Path) -> None:
    script = Script(parse_goal=[CSV_TOTALS_GOAL_REPLY])
    context = Context(workspace=str(workspace), model="scripted")
    with use_model_factory(lambda _context: ScriptedChatModel(script=script)):
        spec, spent = await invoke_structured(
            context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL
        )
    assert spent.llm_calls == 1
    assert spec.objective.endswith('e.g. {"north": 1.5}') and len(spec.criteria) == 4
