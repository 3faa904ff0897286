"""bench.live's ReAct systems: react-parallel is the same create_agent agent whose every model
request allows parallel tool calls (`parallel_tool_calls: true` in the request), react leaves the
server's default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from nodes.context import Context
from nodes.llm import use_model_factory

pytest.importorskip("langchain.agents", reason="bench extra not installed")


class BindingSpy(BaseChatModel):
    """Answers at once, and keeps the kwargs every request was made with."""

    requests: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "binding-spy"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Runnable[Any, AIMessage]:  # type: ignore[override]
        return self.bind(tools=[getattr(t, "name", t) for t in tools], **kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.requests.append(kw)
        return ChatResult(generations=[ChatGeneration(message=AIMessage("done"))])


async def _request_of(system: str, workspace: Path) -> dict[str, Any]:
    from bench.live.systems import react_agent

    spy = BindingSpy(requests=[])
    context = Context(workspace=str(workspace), model="spy", memory=False)
    with use_model_factory(lambda _context: spy):
        agent = react_agent(context, parallel=system == "react-parallel")
        await agent.ainvoke({"messages": [HumanMessage("hi")]}, context=context)
    assert len(spy.requests) == 1
    return spy.requests[0]


async def test_react_parallel_allows_parallel_tool_calls_and_react_does_not(
    workspace: Path,
) -> None:
    from bench.live.systems import SYSTEMS

    assert {"react", "react-parallel"} <= set(SYSTEMS)
    parallel = await _request_of("react-parallel", workspace)
    plain = await _request_of("react", workspace)
    assert parallel["parallel_tool_calls"] is True and "read_file" in parallel["tools"]
    assert "parallel_tool_calls" not in plain and plain["tools"] == parallel["tools"]


def test_chat_openai_sends_parallel_tool_calls_in_the_request() -> None:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="m", api_key="x", base_url="http://127.0.0.1:9/v1")  # type: ignore[arg-type]
    bound = model.bind_tools([], parallel_tool_calls=True)
    kwargs = dict(getattr(bound, "kwargs", {}))
    payload = model._get_request_payload([HumanMessage("hi")], **kwargs)
    assert payload["parallel_tool_calls"] is True
