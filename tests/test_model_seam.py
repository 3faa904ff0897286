"""The model seam against what real small models and their servers do: completion caps per stage,
replies cut off by the cap, timeouts, overloaded servers, json_schema mode, near-JSON, and
progress while a call is in flight.

Most tests talk HTTP to the local stand-in (`tests.openai_server`) through the real ChatOpenAI,
so what they check is what goes over the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from graph.api import arun
from nodes import llm
from nodes.context import Context
from nodes.deadline import OutOfTimeError, deadline_for
from nodes.errors import ModelRequestRejectedError, ModelUnavailableError, StructuredOutputError
from nodes.llm import (
    EXECUTE,
    FILL,
    PARSE_GOAL,
    PLAN,
    STAGES,
    invoke,
    invoke_structured,
    usage_metadata,
    was_truncated,
)
from nodes.replay import Tape, recording, replaying
from nodes.schemas import DraftedGoalSpec, GoalPlanSpec, GoalSpec, PlanSpec
from nodes.state import Budget
from nodes.streaming import repeated_unit
from nodes.structured import forget_json_schema_support
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tests.openai_server import OpenAIStandIn
from tools import tools_for

ANALYST = SystemMessage("You are the goal analyst of planloop.")
PLANNER = SystemMessage("You are the planner of planloop.")
EXECUTOR = SystemMessage("You are the step executor of planloop.")


def _http(server: OpenAIStandIn, workspace: Path, **settings: Any) -> Context:
    settings = {"programs": False, **settings}  # the scripts plan tool calls
    return Context(workspace=str(workspace), model="stand-in", base_url=server.base_url, **settings)


def _cut(text: str) -> AIMessage:
    """A reply the completion cap cut off."""
    return AIMessage(text, response_metadata={"finish_reason": "length"})


def _hello_script() -> Script:
    return Script(
        # c2 is for the model to judge, so every stage (review and report too) is called.
        parse_goal=[goal_reply("hello.txt contains 'hello world'", "the greeting is friendly")],
        plan=[
            plan_reply(
                step("s1", description="write hello world to hello.txt", risk="writes_workspace")
            )
        ],
        execute=[
            tool_call("write_file", {"path": "hello.txt", "content": "hello world"}, "call_w1"),
            "I wrote hello.txt.",
        ],
        reflect=[
            reflect_reply(
                {"s1": True}, {"c1": "s1 wrote hello world to hello.txt", "c2": "s1: hello"}
            )
        ],
        finish=["hello.txt now says hello world."],
    )


# completion caps -------------------------------------------------------------------------------


@pytest.mark.real_http_model
async def test_every_stage_sends_its_cap_as_max_tokens(workspace: Path, tmp_path: Path) -> None:
    script = _hello_script()
    with OpenAIStandIn(script) as server:
        outcome = await arun("write hello.txt", context=_http(server, workspace), db=tmp_path / "d")
    assert outcome.status == "done", outcome.stop_reason
    caps = {stage.name: stage.max_tokens for stage in STAGES}
    roles = [role for role, _ in script.calls]
    assert roles == ["parse_goal", "plan", "execute", "execute", "reflect", "finish"]
    for role, request in zip(roles, server.requests, strict=True):
        stage = "goal_plan" if role == "parse_goal" else role  # the goal and its first plan
        assert request["max_tokens"] == caps[stage], role
        assert "max_completion_tokens" not in request  # llama-server reads only max_tokens
        assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert outcome.budget.completion_tokens == sum(
        r["usage"]["completion_tokens"] for r in server.responses
    ), "streamed replies still report their usage"


@pytest.mark.real_http_model
async def test_one_setting_overrides_every_cap_and_the_fill_stage_has_its_own(
    workspace: Path,
) -> None:
    script = Script(execute=[tool_call("read_file", {"path": "a.txt"})] * 2)
    tool = tools_for(Context(workspace=str(workspace)))["read_file"]
    with OpenAIStandIn(script) as server:
        prompt = [EXECUTOR, HumanMessage("read a.txt")]
        await invoke(
            _http(server, workspace), prompt, stage=FILL, tools=[tool], tool_choice="read_file"
        )
        capped = _http(server, workspace, max_completion_tokens=123)
        await invoke(capped, prompt, stage=FILL, tools=[tool])
    assert [r["max_tokens"] for r in server.requests] == [FILL.max_tokens, 123]


def test_the_cap_setting_describes_the_stage_caps() -> None:
    from dataclasses import fields

    described = next(f for f in fields(Context) if f.name == "max_completion_tokens")
    text = str(described.metadata["description"])
    for stage in STAGES:
        assert f"{stage.max_tokens} " in text, stage


@pytest.mark.parametrize(
    ("model", "setting", "sent"),
    [
        ("gpt-4o-mini", None, 600),
        ("qwen2.5-coder-1.5b", None, 600),
        ("gpt-5-mini", None, None),  # its hidden reasoning would use up a 600-token cap
        ("o3-mini", None, None),
        ("o1", 3000, 3000),
    ],
)
async def test_reasoning_models_get_no_stage_cap_unless_one_is_set(
    model: str, setting: int | None, sent: int | None, script: Script, context: Context
) -> None:
    script.add("parse_goal", goal_reply("a.txt exists"))
    context.model, context.max_completion_tokens = model, setting
    await invoke_structured(context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL)
    assert script.options[0].get("max_tokens") == sent


def test_openai_itself_gets_max_completion_tokens() -> None:
    from nodes.openai_compat import CompatChatOpenAI, is_openai_api

    assert is_openai_api(None) and is_openai_api("https://api.openai.com/v1")
    assert not is_openai_api("http://127.0.0.1:8080/v1")
    model = CompatChatOpenAI(model="gpt-4o-mini", api_key="sk-test")  # type: ignore[arg-type]
    payload = model._get_request_payload([HumanMessage("hi")], max_tokens=5)
    assert payload["max_completion_tokens"] == 5 and "max_tokens" not in payload


# replies cut off by the cap --------------------------------------------------------------------


async def test_a_cut_off_structured_reply_gets_one_shorter_repair_then_a_clean_error(
    script: Script, context: Context
) -> None:
    cut = '{"objective": "write the report", "criteria": ["the report has a section on'
    script.add("parse_goal", _cut(cut), _cut(cut))
    with pytest.raises(StructuredOutputError) as raised:
        await invoke_structured(context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL)
    message = str(raised.value)
    assert "\n" not in message and "cut off at the 600-token cap twice" in message
    assert raised.value.spent.llm_calls == 2  # not structured_retries + 1 = 3
    second = script.calls_for("parse_goal")[1]
    assert "cut off at 600 tokens" in second[-1].text and "shorter" in second[-1].text
    assert all(cut not in m.text for m in second), "the cut-off text is not sent back"
    assert not any("corrected JSON object" in m.text for m in second), "no generic repair"


async def test_a_shorter_answer_after_a_cut_off_one_is_used(
    script: Script, context: Context
) -> None:
    script.add("parse_goal", _cut('{"objective": "x", "crit'), goal_reply("a.txt exists"))
    spec, spent = await invoke_structured(
        context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL
    )
    assert spec.criteria == ["a.txt exists"] and spent.llm_calls == 2


def _ask_about_short_objectives(spec: GoalSpec) -> str | None:
    return "say more" if len(str(spec.objective)) < 5 else None


async def test_advice_is_asked_once_and_the_next_valid_answer_is_taken(
    script: Script, context: Context
) -> None:
    script.add(
        "parse_goal",
        goal_reply("a.txt exists", objective="x"),
        goal_reply("a.txt exists", objective="y"),
    )
    spec, spent = await invoke_structured(
        context,
        [ANALYST, HumanMessage("go")],
        GoalSpec,
        stage=PARSE_GOAL,
        advice=_ask_about_short_objectives,
    )
    assert spec.objective == "y" and spent.llm_calls == 2, "asked once, not until it complies"
    assert script.calls_for("parse_goal")[1][-1].text == "say more"


async def test_the_advised_answer_stands_when_no_valid_answer_follows(
    script: Script, context: Context
) -> None:
    script.add("parse_goal", goal_reply("a.txt exists", objective="x"), "no", "json", "here")
    spec, spent = await invoke_structured(
        context,
        [ANALYST, HumanMessage("go")],
        GoalSpec,
        stage=PARSE_GOAL,
        advice=_ask_about_short_objectives,
    )
    assert spec.objective == "x" and spent.llm_calls == context.structured_retries + 1


@pytest.mark.real_http_model
async def test_a_cut_off_tool_call_is_marked_and_never_run(workspace: Path, tmp_path: Path) -> None:
    cut = tool_call("write_file", {"path": "hello.txt", "content": "hello " * 40}, "call_w1")
    cut.response_metadata = {"finish_reason": "length"}
    script = _hello_script()
    script.queues["execute"].appendleft(cut)
    tool = tools_for(Context(workspace=str(workspace)))["write_file"]
    with OpenAIStandIn(script) as server:
        context = _http(server, workspace)
        reply, _ = await invoke(
            context, [EXECUTOR, HumanMessage("go")], stage=EXECUTE, tools=[tool]
        )
        assert was_truncated(reply)
        assert reply.tool_calls == [] and reply.invalid_tool_calls[0]["name"] == "write_file"

        script.queues["execute"].appendleft(cut)
        outcome = await arun("write hello.txt", context=context, db=tmp_path / "d")
    # The half-written call was not run: the executor was asked again, told why, and its
    # next (whole) call wrote the file.
    assert (workspace / "hello.txt").read_text() == "hello world"
    assert outcome.results["s1"].tool_calls == 1
    retry = script.calls_for("execute")[2]  # the direct invoke above, then the step's two
    assert "cut off at the 1200-token limit" in retry[-1].text


def test_a_reply_repeating_one_unit_is_recognised_and_varied_text_is_not() -> None:
    code = '{"steps": [{"code": "' + "lines[i] = lines[i].replace('Biscuit', 'Biscuit')\\n" * 12
    assert repeated_unit(code) == "lines[i] = lines[i].replace('Biscuit', 'Biscuit')\\n"
    assert repeated_unit("x" * 600) == "x"
    primes = "\n".join(str(n) for n in range(2, 2000) if all(n % d for d in range(2, n)))
    table = "\n".join(f"| item{n} | {n * 3} | {n % 7} |" for n in range(60))
    for varied in (primes, table, "short " * 10):
        assert repeated_unit(varied) is None


@pytest.mark.real_http_model
async def test_a_reply_that_repeats_itself_is_stopped_and_asked_once_more(
    workspace: Path,
) -> None:
    """A 1.5B planner wrote one line of code over and over until the 1,500-token cap (90 s),
    twice. The stream is stopped once the reply's end is one unit repeated, and the model is
    told what it repeated; stopped twice, the call fails with one line."""
    runaway = '{"steps": [{"id": "s1", "tool": "run_python", "args": {"code": "' + (
        "x = x.replace('a', 'a')\\n" * 400
    )
    with OpenAIStandIn(Script(plan=[runaway, runaway])) as server:
        context = _http(server, workspace)
        with pytest.raises(StructuredOutputError) as raised:
            await invoke_structured(context, [PLANNER, HumanMessage("go")], PlanSpec, stage=PLAN)
    message = str(raised.value)
    assert "\n" not in message and "stopped twice for repeating itself" in message
    assert "x = x.replace('a', 'a')" in message
    second = server.requests[1]["messages"][-1]["content"]
    assert "kept repeating" in second and "repeats nothing" in second
    assert raised.value.spent.completion_tokens < 400, "stopped long before the reply's end"


# what is resent, what is not -------------------------------------------------------------------


@pytest.mark.real_http_model
async def test_a_timeout_is_not_resent(workspace: Path) -> None:
    script = Script(parse_goal=["never read"])
    with OpenAIStandIn(script) as server:
        server.hold("parse_goal")  # the server "generates" until the test ends
        context = _http(server, workspace, request_timeout=1)
        with pytest.raises(ModelUnavailableError) as raised:
            await invoke(context, [ANALYST, HumanMessage("go")], stage=PARSE_GOAL)
        assert len(server.requests) == 1
    assert str(raised.value) == (
        f"model server at {server.base_url} timed out (no reply within 1 s)"
    )


@pytest.mark.real_http_model
async def test_a_call_still_generating_when_the_runs_time_runs_out_is_stopped(
    workspace: Path,
) -> None:
    script = Script(parse_goal=["never read"])
    with OpenAIStandIn(script) as server:
        server.hold("parse_goal")  # the server "generates" until the test ends
        context = _http(server, workspace, request_timeout=600, max_seconds=100)
        spent = Budget(seconds=99.5)  # half a second of the run's time is left
        with deadline_for(spent, context), pytest.raises(OutOfTimeError) as raised:
            call = invoke(context, [ANALYST, HumanMessage("go")], stage=PARSE_GOAL)
            await asyncio.wait_for(call, timeout=120)  # only fails the test, never passes it
        assert len(server.requests) <= 1  # a busy machine may have used the half second up
    assert str(raised.value) == (
        "budget limit reached: max seconds (100); the model call in flight was stopped"
    )


async def test_no_call_is_sent_once_the_runs_time_is_up(script: Script, context: Context) -> None:
    context.max_seconds = 60
    with deadline_for(Budget(seconds=60), context), pytest.raises(OutOfTimeError):
        await invoke(context, [ANALYST, HumanMessage("go")], stage=PARSE_GOAL)
    assert script.calls == []
    # Outside a node's deadline (a direct call, a test) no time limit applies.
    script.add("parse_goal", "fine")
    reply, _ = await invoke(context, [ANALYST, HumanMessage("go")], stage=PARSE_GOAL)
    assert reply.text == "fine"


@pytest.mark.real_http_model
async def test_overload_is_resent_and_a_server_error_is_not(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "RETRY_DELAYS", (0.0, 0.0))
    prompt = [ANALYST, HumanMessage("go")]
    with OpenAIStandIn(Script(parse_goal=["fine"]), fail_with=[503, 429]) as server:
        reply, spent = await invoke(_http(server, workspace), prompt, stage=PARSE_GOAL)
    assert reply.text == "fine" and spent.llm_calls == 1 and len(server.requests) == 3

    failing = OpenAIStandIn(Script(), fail_with=[500, 503])
    with failing as server, pytest.raises(ModelUnavailableError, match="answered HTTP 500"):
        await invoke(_http(server, workspace), prompt, stage=PARSE_GOAL)
    assert len(server.requests) == 1


# json_schema mode ------------------------------------------------------------------------------


@pytest.mark.real_http_model
async def test_json_schema_mode_is_used_when_the_server_honours_it(workspace: Path) -> None:
    script = Script(parse_goal=[goal_reply("a.txt exists")], plan=[plan_reply(step("s1"))])
    with OpenAIStandIn(script) as server:
        context = _http(server, workspace)
        goal, spent = await invoke_structured(
            context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL
        )
        await invoke_structured(context, [PLANNER, HumanMessage("go")], PlanSpec, stage=PLAN)
    assert goal.criteria == ["a.txt exists"] and spent.prompt_tokens > 0
    first, second = server.requests
    assert first["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "GoalSpec", "schema": GoalSpec.model_json_schema()},
    }
    assert second["response_format"]["json_schema"]["name"] == "PlanSpec"
    assert first["stream"] is True, "a plain dict goes the ordinary (streaming) way"
    assert '"objective": string' in first["messages"][-1]["content"], "the schema's shape"


@pytest.mark.real_http_model
async def test_a_choice_at_the_schemas_root_is_sent_again_as_one_object_when_refused(
    workspace: Path,
) -> None:
    """The goal analysis that may draft a plan is a choice at the root (llama.cpp's server
    then ends a short-path answer after `effort`); OpenAI's API wants an object there. A
    refused choice is sent again as one object, and json_schema mode stays on."""
    drafted = {**goal_reply("a.txt exists"), "effort": "full", "steps": [step("s1")]}
    script = Script(parse_goal=[drafted], plan=[plan_reply(step("s1"))])
    with OpenAIStandIn(script, object_root=True) as server:
        context = _http(server, workspace)
        answer, spent = await invoke_structured(
            context, [ANALYST, HumanMessage("go")], GoalPlanSpec, stage=PARSE_GOAL
        )
        await invoke_structured(context, [PLANNER, HumanMessage("go")], PlanSpec, stage=PLAN)
    assert isinstance(answer.root, DraftedGoalSpec) and spent.llm_calls == 1
    schemas = [r["response_format"]["json_schema"]["schema"] for r in server.requests]
    assert "anyOf" in schemas[0] and schemas[1]["type"] == "object"
    assert set(schemas[1]["properties"]) >= {"objective", "criteria", "effort", "steps"}
    assert "response_format" in server.requests[2], "json_schema mode stays on"


@pytest.mark.real_http_model
async def test_a_server_refusing_json_schema_is_asked_by_prompt_for_the_rest_of_the_run(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(parse_goal=[goal_reply("a.txt exists")], plan=[plan_reply(step("s1"))])
    caplog.set_level(logging.INFO, logger="nodes.structured")
    with OpenAIStandIn(script, json_schema=False) as server:
        context = _http(server, workspace)
        _, spent = await invoke_structured(
            context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL
        )
        await invoke_structured(context, [PLANNER, HumanMessage("go")], PlanSpec, stage=PLAN)
    formats = [r.get("response_format") for r in server.requests]
    assert [f and f["type"] for f in formats] == ["json_schema", None, None]
    assert server.requests[0]["messages"] == server.requests[1]["messages"]
    assert spent.llm_calls == 1, "the refused request cost nothing"
    notes = [r for r in caplog.records if "json_schema" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO


@pytest.mark.real_http_model
async def test_a_server_ignoring_json_schema_is_remembered_too(workspace: Path) -> None:
    fenced = "```json\n" + json.dumps(goal_reply("a.txt exists")) + "\n```"
    script = Script(parse_goal=[fenced, goal_reply("b.txt exists")])
    with OpenAIStandIn(script) as server:
        context = _http(server, workspace)
        for _ in range(2):
            await invoke_structured(
                context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL
            )
    assert ["response_format" in r for r in server.requests] == [True, False]


async def test_the_setting_forces_either_mode(script: Script, context: Context) -> None:
    script.add("parse_goal", goal_reply("a"), goal_reply("b"))
    prompt = [ANALYST, HumanMessage("go")]
    context.structured_output = "prompt"
    await invoke_structured(context, prompt, GoalSpec, stage=PARSE_GOAL)
    context.structured_output = "json_schema"
    await invoke_structured(context, prompt, GoalSpec, stage=PARSE_GOAL)
    assert ["response_format" in o for o in script.options] == [False, True]
    assert [o["max_tokens"] for o in script.options] == [600, 600]


@pytest.mark.real_http_model
async def test_forced_json_schema_mode_refused_is_an_error(workspace: Path) -> None:
    with OpenAIStandIn(Script(), json_schema=False) as server:
        context = _http(server, workspace, structured_output="json_schema")
        with pytest.raises(ModelRequestRejectedError, match="HTTP 400"):
            await invoke_structured(
                context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL
            )
    assert len(server.requests) == 1


# near-JSON -------------------------------------------------------------------------------------

REGEX_PLAN = r"""{"steps": [{"id": "count", "description": "count them", "tool": "run_python",
 "args": {"code": "import re\nprint(len(re.findall('\d+', open('log.txt').read())))"},
 "expected": "the count", "risk": "executes_code"}]}"""
"""A planner's reply as a small model writes it: a regex backslash left unescaped."""


async def test_a_plan_with_a_regex_backslash_is_read_without_a_repair_call(
    script: Script, context: Context
) -> None:
    with pytest.raises(json.JSONDecodeError, match="Invalid \\\\escape"):
        json.loads(REGEX_PLAN)
    script.add("plan", REGEX_PLAN)
    spec, spent = await invoke_structured(
        context, [PLANNER, HumanMessage("go")], PlanSpec, stage=PLAN
    )
    assert spent.llm_calls == 1 and len(script.calls_for("plan")) == 1
    code = (spec.steps[0].args or {})["code"]
    assert code == "import re\nprint(len(re.findall('\\d+', open('log.txt').read())))"


async def test_a_repair_that_does_not_validate_is_fed_back_as_the_strict_error(
    script: Script, context: Context
) -> None:
    script.add("parse_goal", '{"objective": "x", "criteria": [],}', goal_reply("a.txt exists"))
    await invoke_structured(context, [ANALYST, HumanMessage("go")], GoalSpec, stage=PARSE_GOAL)
    repair = script.calls_for("parse_goal")[1][-1].text
    assert "could not be used: invalid or truncated JSON" in repair


# progress --------------------------------------------------------------------------------------


@pytest.mark.real_http_model
async def test_a_streamed_call_reports_its_progress(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(llm, "progress_writer", lambda: events.append)
    monkeypatch.setattr("nodes.streaming.TOKEN_EVENT_SECONDS", 0.0)
    script = Script(plan=["one two three four five six seven eight nine ten"])
    with OpenAIStandIn(script) as server:
        reply, spent = await invoke(
            _http(server, workspace), [PLANNER, HumanMessage("go")], stage=PLAN
        )
    calls = [e["model_call"] for e in events]
    assert [c["state"] for c in calls[:1] + calls[-1:]] == ["started", "done"]
    assert {c["stage"] for c in calls} == {"plan"} and len({c["id"] for c in calls}) == 1
    streamed = [c["tokens"] for c in calls if c["state"] == "tokens"]
    assert streamed == list(range(1, len(streamed) + 1)) and len(streamed) > 3
    assert calls[-1]["tokens"] == spent.completion_tokens and calls[-1]["truncated"] is False
    assert reply.text == "one two three four five six seven eight nine ten"


async def test_a_run_reports_each_model_call_to_on_event(
    script: Script, context: Context, db_path: Path
) -> None:
    for role, replies in _hello_script().queues.items():
        script.add(role, *replies)
    events: list[Any] = []
    outcome = await arun("write hello.txt", context=context, db=db_path, on_event=events.append)
    assert outcome.status == "done"
    calls = [e["model_call"] for e in events]
    done = [c for c in calls if c["state"] == "done"]
    started = [c["stage"] for c in calls if c["state"] == "started"]
    assert started == [c["stage"] for c in done]
    assert started == ["goal_plan", "plan", "execute", "execute", "reflect", "finish"]
    assert all(c["tokens"] > 0 and c["seconds"] >= 0 for c in done)


async def test_a_call_that_fails_says_so_and_no_status_line_waits_on_it(
    script: Script, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graph.cli.progress import ModelStatus

    def refused(_messages: Any) -> str:
        raise ValueError("the server refused the request")

    status = ModelStatus(_Terminal())  # type: ignore[arg-type]
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(llm, "progress_writer", lambda: lambda e: (events.append(e), status(e)))
    script.add("plan", refused)
    with pytest.raises(ValueError, match="refused"):
        await invoke(context, [PLANNER, HumanMessage("go")], stage=PLAN)
    calls = [e["model_call"] for e in events]
    assert [c["state"] for c in calls] == ["started", "failed"]
    assert calls[1]["error"] == "ValueError" and calls[0]["id"] == calls[1]["id"]
    assert status.line() == "", "a failed call still shown as waiting"


class _Terminal:
    """A stderr that says it is a terminal and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("quiet", [False, True])
def test_the_cli_shows_a_status_line_on_a_terminal_unless_quiet(
    quiet: bool,
    script: Script,
    workspace: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    from graph.cli import main

    for role, replies in _hello_script().queues.items():
        script.add(role, *replies)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["run", "write hello.txt", "--workspace", str(workspace), "--db", str(db_path)]
    argv.append("--no-programs")  # the script plans a tool call
    assert main([*argv, "--quiet"] if quiet else argv) == 0
    if quiet:
        assert terminal.text == ""
        return
    for stage in ("goal_plan", "plan", "execute", "reflect", "finish"):
        assert f"{stage}: waiting for the model · " in terminal.text
    assert terminal.text.endswith("\r\x1b[2K"), "the status line is gone at the end"
    assert "waiting for the model" not in capsys.readouterr().out


def test_no_status_line_without_a_terminal(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from graph.cli import main

    for role, replies in _hello_script().queues.items():
        script.add(role, *replies)
    argv = ["run", "write hello.txt", "--workspace", str(workspace), "--db", str(db_path)]
    argv.append("--no-programs")  # the script plans a tool call
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


def test_the_status_line_names_the_oldest_call_and_counts_the_others() -> None:
    from graph.cli.progress import ModelStatus

    terminal = _Terminal()
    status = ModelStatus(terminal)  # type: ignore[arg-type]
    status({"model_call": {"id": "a", "stage": "execute", "state": "started", "tokens": 0}})
    status({"model_call": {"id": "b", "stage": "execute", "state": "started", "tokens": 0}})
    status({"model_call": {"id": "a", "stage": "execute", "state": "tokens", "tokens": 85}})
    status({"other": "event"})
    assert status.line().startswith("execute: waiting for the model · ")
    assert status.line().endswith(" s · 85 tokens (+1 more call)")
    status({"model_call": {"id": "a", "state": "done", "tokens": 90}})
    status({"model_call": {"id": "b", "state": "done", "tokens": 3}})
    assert status.line() == "" and terminal.text.endswith("\r\x1b[2K")


# record and replay -----------------------------------------------------------------------------


@pytest.mark.real_http_model
async def test_a_streamed_run_with_a_json_schema_fallback_records_and_replays(
    workspace: Path,
) -> None:
    script = Script(parse_goal=[goal_reply("a.txt exists")], plan=[plan_reply(step("s1"))])
    prompts: list[list[BaseMessage]] = [
        [ANALYST, HumanMessage("go")],
        [PLANNER, HumanMessage("go")],
    ]
    tape = Tape(workspace=str(workspace))
    with OpenAIStandIn(script, json_schema=False) as server, recording(tape):
        context = _http(server, workspace)
        recorded = [
            await invoke_structured(context, prompts[0], GoalSpec, stage=PARSE_GOAL),
            await invoke_structured(context, prompts[1], PlanSpec, stage=PLAN),
        ]
    first, second, _ = tape.exchanges
    assert first.reply is None and first.error is not None
    assert (first.error["type"], first.error["status"]) == ("BadRequestError", "400")
    assert first.request["response_format"] == "json_schema:GoalSpec"
    assert second.request["max_tokens"] == 600 and "response_format" not in second.request
    assert second.reply and second.reply["data"]["usage_metadata"]["output_tokens"] > 0

    forget_json_schema_support()
    with replaying(Tape.from_json(tape.to_json()), str(workspace)) as player:
        replayed = [
            await invoke_structured(context, prompts[0], GoalSpec, stage=PARSE_GOAL),
            await invoke_structured(context, prompts[1], PlanSpec, stage=PLAN),
        ]
    assert replayed == recorded
    assert player.divergences == [] and player.remaining == 0


@pytest.mark.real_http_model
async def test_a_reply_stopped_for_repeating_itself_records_and_replays(workspace: Path) -> None:
    """The recording keeps the part of a runaway reply the run read (cut off, with what it
    repeated), not the reader's stop as an error: a replay must serve what the run saw."""
    runaway = '{"steps": [{"id": "s1", "tool": "run_python", "args": {"code": "' + (
        "x = x.replace('a', 'a')\\n" * 400
    )
    prompt = [PLANNER, HumanMessage("go")]
    tape = Tape(workspace=str(workspace))
    script = Script(plan=[runaway, plan_reply(step("s1"))])
    with OpenAIStandIn(script) as server, recording(tape):
        context = _http(server, workspace)
        recorded = await invoke_structured(context, prompt, PlanSpec, stage=PLAN)
    stopped = tape.exchanges[0]
    assert stopped.error is None and stopped.reply is not None
    metadata = stopped.reply["data"]["response_metadata"]
    assert metadata["finish_reason"] == "length" and "x = x.replace" in metadata["repeated"]

    forget_json_schema_support()
    with replaying(Tape.from_json(tape.to_json()), str(workspace)) as player:
        replayed = await invoke_structured(context, prompt, PlanSpec, stage=PLAN)
    assert replayed == recorded
    assert player.divergences == [] and player.remaining == 0


def test_usage_metadata_totals_the_tokens() -> None:
    assert usage_metadata(10, 5) == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
