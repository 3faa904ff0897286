"""Early calls: a planned read-only call starts while the plan is still streaming, is taken by
its step instead of being made again, and is counted once; nothing that acts or needs a human
starts early."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.tools import StructuredTool

from graph.api import arun
from nodes.context import Context
from nodes.early_calls import StepScanner, startable
from nodes.llm import use_model_factory
from nodes.state import State
from tests.fakes import Script, StreamingScriptedModel, goal_reply, plan_reply, reflect_reply, step
from tools import ExtraTools, ToolSpec, offered

WAIT = 30.0
"""Seconds a held reply waits for the early call before the test fails (a bound, never a
synchronisation: the event fires at once when the feature works)."""


class Probe:
    """A read-only tool that records its calls and signals the first one."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.called = asyncio.Event()

    def tool(self) -> StructuredTool:
        async def probe(key: str) -> str:
            """Look up a record.

            Args:
                key: The record key.
            """
            self.calls.append(key)
            self.called.set()
            return f"record {key}: 42"

        return StructuredTool.from_function(coroutine=probe, name="probe")


@pytest.fixture
def probe() -> Iterator[Probe]:
    found = Probe()
    spec = ToolSpec(found.tool(), risk="read_only", untrusted_output=False)
    with offered(ExtraTools(specs=(spec,))):
        yield found


async def test_a_read_only_call_starts_while_the_plan_streams_and_runs_once(
    script: Script, context: Context, db_path: Path, probe: Probe
) -> None:
    script.add("parse_goal", goal_reply("the record is shown"))
    script.add("plan", plan_reply(step("s1", tool="probe", args={"key": "k1"}), step("s2")))
    script.add("execute", "k1 is 42")
    script.add("reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s1 shows 42"}))
    script.add("finish", "k1 is 42")
    held: list[str] = []

    async def hold_plan(text: str, role: str) -> None:
        # Once s1's object is complete, the rest of the plan waits for the probe's call.
        if role == "plan" and '"s2"' in text and not held:
            held.append(text)
            await asyncio.wait_for(probe.called.wait(), WAIT)

    model = StreamingScriptedModel(script=script, between=hold_plan)
    with use_model_factory(lambda _context: model):
        outcome = await arun("show record k1", context=context, db=db_path)

    assert held, "the plan never streamed past s1"
    assert outcome.status == "done"
    assert probe.calls == ["k1"]  # taken by s1, not made again
    assert outcome.results["s1"].output == "record k1: 42"
    assert outcome.budget.tool_calls == 1


async def test_an_early_call_of_a_rejected_plan_is_still_counted(
    script: Script, context: Context, db_path: Path, probe: Probe
) -> None:
    script.add("parse_goal", goal_reply("the record is shown"))
    cycle = [step("s2", depends_on=["s3"]), step("s3", depends_on=["s2"])]
    rejected = plan_reply(step("s1", tool="probe", args={"key": "k9"}), *cycle)
    script.add("plan", rejected, plan_reply(step("s1", tool="probe", args={"key": "k1"})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 shows 42"}))
    script.add("finish", "k1 is 42")

    async def hold_plan(text: str, role: str) -> None:
        if role == "plan" and text == json.dumps(rejected):  # the whole rejected plan
            await asyncio.wait_for(probe.called.wait(), WAIT)

    model = StreamingScriptedModel(script=script, between=hold_plan)
    with use_model_factory(lambda _context: model):
        outcome = await arun("show record k1", context=context, db=db_path)

    assert outcome.status == "done"
    assert sorted(probe.calls) == ["k1", "k9"]
    assert outcome.budget.tool_calls == 2  # the read nobody took was made, so it counts


def _state() -> State:
    return State(goal="g")


@pytest.mark.parametrize(
    ("planned", "settings", "starts"),
    [
        ({"tool": "read_file", "args": {"path": "a.txt"}}, {}, True),
        ({"tool": "read_file", "args": {"path": "a.txt"}}, {"approval": "none"}, True),
        ({"tool": "read_file", "args": {"path": "a.txt"}}, {"approval": "all"}, False),
        ({"tool": "read_file", "args": {"path": "a.txt"}}, {"plan_approval": True}, False),
        ({"tool": "read_file", "args": {"path": "{{s1}}"}}, {}, False),
        ({"tool": "read_file", "args": {"path": "a.txt"}, "depends_on": ["s0"]}, {}, False),
        ({"tool": "read_file"}, {}, False),
        ({"tool": "write_file", "args": {"path": "a.txt", "content": "x"}}, {}, False),
        (
            {"tool": "write_file", "args": {"path": "a.txt", "content": "x"}},
            {"approval": "none"},
            False,
        ),
        ({"tool": "run_python", "args": {"code": "print(1)"}}, {"approval": "none"}, False),
        ({"tool": "no_such_tool", "args": {}}, {"approval": "none"}, False),
        ({"description": "think"}, {}, False),
    ],
)
def test_only_fixed_reads_the_policy_runs_unasked_start_early(
    workspace: Path, planned: dict[str, object], settings: dict[str, object], starts: bool
) -> None:
    context = Context(workspace=str(workspace), model="scripted", **settings)  # type: ignore[arg-type]
    assert startable(planned, _state(), context) is starts


PLAN = {
    "objective": 'find "steps" {and [things]}',
    "steps": [
        {"id": "s1", "tool": "read_file", "args": {"path": 'a\\"}.txt'}},
        {"id": "s2", "args": {"nested": {"steps": [{"id": "x"}]}}},
    ],
    "criteria": ["done"],
}


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
def test_the_scanner_yields_each_step_once_complete_whatever_the_pieces(piece: int) -> None:
    text = json.dumps(PLAN)
    scanner, found, ends = StepScanner(), [], []
    for start in range(0, len(text), piece):
        for item in scanner.feed(text[start : start + piece]):
            found.append(item)
            ends.append(start + piece)
    assert found == PLAN["steps"]
    first_end = text.index('"s2"')  # s1 is reported before s2's object begins
    assert piece >= 1000 or ends[0] <= first_end + piece


def test_the_scanner_ignores_steps_outside_the_top_level_key() -> None:
    text = json.dumps({"note": {"steps": [{"id": "x"}]}, "other": '"steps": [{"id": "y"}]'})
    assert StepScanner().feed(text) == []


async def test_early_calls_stay_within_the_tool_call_budget(workspace: Path) -> None:
    from nodes.early_calls import drop_early_calls, early_calls, take_early_call
    from nodes.state import Budget

    (workspace / "a.txt").write_text("A")
    (workspace / "b.txt").write_text("B")
    context = Context(workspace=str(workspace), model="scripted", max_tool_calls=4)
    state = State(goal="g", budget=Budget(tool_calls=2))  # one may start early, one is kept
    calls = early_calls("budget-test", state, context)
    plan = {"steps": [{"id": "s1", "tool": "read_file", "args": {"path": "a.txt"}},
                      {"id": "s2", "tool": "read_file", "args": {"path": "b.txt"}}]}  # fmt: skip
    calls.begin()
    calls.feed(json.dumps(plan))

    assert calls.spent().tool_calls == 1
    # (outside a graph run the tool itself errs: only which calls started matters here)
    assert await take_early_call("budget-test", "read_file", {"path": "a.txt"}) is not None
    assert await take_early_call("budget-test", "read_file", {"path": "a.txt"}) is None  # once
    assert await take_early_call("budget-test", "read_file", {"path": "b.txt"}) is None
    drop_early_calls("budget-test")
