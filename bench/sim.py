"""The simulated world every system in the benchmark shares: a model and a lookup tool.

The model's latency is `per_call + per_output_token * completion_tokens` (asyncio.sleep: it
simulates I/O); replies come from a per-system responder so that every system does the same task.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import StructuredTool
from pydantic import ConfigDict, Field

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Latency:
    """Simulated latencies in seconds."""

    per_call: float = 0.0
    per_output_token: float = 0.0
    tool: float = 0.0


@dataclass
class Meter:
    """What one system spent on one task."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    lock: asyncio.Lock | None = None
    started: float = field(default_factory=time.perf_counter)


def tokens(text: str) -> int:
    """Deterministic token estimate shared by every system."""
    return max(1, len(text) // CHARS_PER_TOKEN)


Responder = Callable[[Sequence[BaseMessage]], AIMessage]


class SimChatModel(BaseChatModel):
    """A chat model with simulated latency whose replies a responder computes from the prompt."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    responder: Responder
    latency: Latency
    meter: Meter
    bound: list[str] = Field(default_factory=list)
    bound_schema_tokens: int = 0
    """Tokens of the tool definitions sent with each call (real APIs bill them as prompt)."""

    @property
    def _llm_type(self) -> str:
        return "planloop-bench-sim"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> SimChatModel:  # type: ignore[override]
        from langchain_core.utils.function_calling import convert_to_openai_tool

        schemas = json.dumps([convert_to_openai_tool(t) for t in tools])
        names = [getattr(t, "name", str(t)) for t in tools]
        return self.model_copy(update={"bound": names, "bound_schema_tokens": tokens(schemas)})

    def _reply(self, messages: Sequence[BaseMessage]) -> tuple[AIMessage, float]:
        reply = self.responder(messages)
        prompt = tokens("".join(str(m.content) for m in messages)) + self.bound_schema_tokens
        completion = tokens(str(reply.content) + str(reply.tool_calls))
        reply.usage_metadata = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        }
        self.meter.llm_calls += 1
        self.meter.prompt_tokens += prompt
        self.meter.completion_tokens += completion
        delay = self.latency.per_call + self.latency.per_output_token * completion
        return reply, delay

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply, delay = self._reply(messages)
        time.sleep(delay)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply, delay = self._reply(messages)
        await asyncio.sleep(delay)
        return ChatResult(generations=[ChatGeneration(message=reply)])


def lookup_tool(latency: Latency, meter: Meter) -> StructuredTool:
    """`lookup(key)`: a simulated, I/O-bound fact lookup."""

    async def lookup(key: str) -> str:
        """Look up the fact stored under a key.

        Args:
            key: The key to look up, e.g. `k3`.
        """
        meter.tool_calls += 1
        await asyncio.sleep(latency.tool)
        return f"fact about {key}: {key} is {len(key) * 7}"

    def lookup_sync(key: str) -> str:
        meter.tool_calls += 1
        time.sleep(latency.tool)
        return f"fact about {key}: {key} is {len(key) * 7}"

    return StructuredTool.from_function(
        func=lookup_sync, coroutine=lookup, name="lookup", description="Look up a fact by key."
    )


@dataclass(frozen=True)
class Task:
    """A DAG of lookups (key -> keys it depends on) followed by one synthesis."""

    name: str
    deps: dict[str, list[str]]

    @property
    def longest_chain(self) -> int:
        """Lookups on the longest dependency chain."""
        depth: dict[str, int] = {}
        for key in self.deps:  # keys are listed in dependency order
            depth[key] = 1 + max((depth[d] for d in self.deps[key]), default=0)
        return max(depth.values())


TASKS = (
    Task("wide", {f"k{n}": [] for n in range(1, 9)}),
    Task("deep", {f"k{n}": [f"k{n - 1}"] if n > 1 else [] for n in range(1, 7)}),
    Task(
        "mixed",
        {"k1": [], "k2": ["k1"], "k3": [], "k4": ["k3"], "k5": [], "k6": [], "k7": ["k2", "k5"]},
    ),
)
