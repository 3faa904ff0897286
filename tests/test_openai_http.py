"""Whole runs through the real `ChatOpenAI` over HTTP, against the local stand-in server."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from graph.api import arun
from nodes.context import Context
from nodes.errors import ModelUnavailableError
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tests.openai_server import OpenAIStandIn

pytestmark = pytest.mark.real_http_model


def _function_names(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools") or []]


async def test_goal_runs_over_http_with_an_executor_tool_loop(
    workspace: Path, tmp_path: Path
) -> None:
    script = Script(
        # c2 is the model's to judge: the executor answers in text, then review and report run.
        parse_goal=[goal_reply("hello.txt contains 'hello world'", "the greeting is friendly")],
        plan=[
            "```json\n"
            + json.dumps(
                plan_reply(
                    step(
                        "s1", description="write hello world to hello.txt", risk="writes_workspace"
                    )
                )
            )
            + "\n```"
        ],
        execute=[
            tool_call("write_file", {"path": "hello.txt", "content": "hello world"}, "call_w1"),
            "I wrote hello.txt.",
        ],
        reflect=[
            reflect_reply({"s1": True}, {"c1": "s1 wrote hello world to hello.txt", "c2": "s1: hi"})
        ],
        finish=["hello.txt now says hello world."],
    )
    with OpenAIStandIn(script) as server:
        context = Context(
            workspace=str(workspace),
            model="stand-in-model",
            base_url=server.base_url,
            programs=False,  # the script's executor calls tools
        )
        outcome = await arun(
            "write hello world to hello.txt", context=context, db=tmp_path / "x.db"
        )

    assert server.errors == []
    assert outcome.status == "done", outcome.stop_reason
    assert outcome.answer == "hello.txt now says hello world."
    assert (workspace / "hello.txt").read_text() == "hello world"
    assert outcome.results["s1"].tool_calls == 1

    roles = [role for role, _ in script.calls]
    assert roles == ["parse_goal", "plan", "execute", "execute", "reflect", "finish"]
    assert all(request["model"] == "stand-in-model" for request in server.requests)
    first_exec, second_exec = server.requests[2], server.requests[3]
    assert "write_file" in _function_names(first_exec)
    assert "tools" not in server.requests[0]  # structured outputs are plain prompts

    assistant, tool_result = second_exec["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["id"] == "call_w1"
    assert assistant["tool_calls"][0]["function"]["name"] == "write_file"
    arguments = json.loads(assistant["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"path": "hello.txt", "content": "hello world"}
    assert tool_result["role"] == "tool" and tool_result["tool_call_id"] == "call_w1"
    assert tool_result["content"].startswith("wrote 11 bytes")

    usages = [response["usage"] for response in server.responses]
    assert len(usages) == 6 == outcome.budget.llm_calls
    assert outcome.budget.prompt_tokens == sum(u["prompt_tokens"] for u in usages)
    assert outcome.budget.completion_tokens == sum(u["completion_tokens"] for u in usages)


async def test_unreachable_server_raises_model_unavailable(workspace: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    # A refused connection fails at once: far within the request timeout, even when busy.
    context = Context(workspace=str(workspace), base_url=url, request_timeout=600)

    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=f"cannot reach the model server at {url}"):
        await arun("write hello.txt", context=context, db=tmp_path / "x.db")
    assert time.monotonic() - started < 120  # two short resends, no request timeout waited


async def test_script_failure_is_http_500_and_recorded(workspace: Path, tmp_path: Path) -> None:
    with OpenAIStandIn(Script()) as server:
        context = Context(workspace=str(workspace), model="m", base_url=server.base_url)
        with pytest.raises(ModelUnavailableError, match="answered HTTP 500"):
            await arun("write hello.txt", context=context, db=tmp_path / "x.db")
    assert len(server.errors) == 1  # HTTP 500 is not resent (only 429, 502, 503 and refusals)
    assert "no reply left for 'parse_goal'" in str(server.errors[0])


def test_streaming_and_hold_release() -> None:
    """The SSE answer parses in ChatOpenAI; a held request waits for `release()`."""
    script = Script(
        execute=[tool_call("write_file", {"path": "a.txt", "content": "a"}), "all done"]
    )
    prompt = [SystemMessage("You are the step executor of planloop."), HumanMessage("go")]
    with OpenAIStandIn(script) as server:
        model = ChatOpenAI(
            model="m",
            base_url=server.base_url,
            api_key=SecretStr("x"),
            streaming=True,
            stream_usage=True,
        )
        call = model.invoke(prompt)
        assert call.tool_calls[0]["name"] == "write_file"
        assert call.tool_calls[0]["args"] == {"path": "a.txt", "content": "a"}
        assert call.usage_metadata and call.usage_metadata["input_tokens"] > 0

        server.hold("execute")
        replies: list[str] = []
        worker = threading.Thread(target=lambda: replies.append(model.invoke(prompt).text))
        worker.start()
        assert server.held.wait(10)
        assert replies == [] and len(script.calls) == 1
        server.release()
        worker.join(10)
    assert replies == ["all done"]
    assert server.requests[0]["stream"] is True
