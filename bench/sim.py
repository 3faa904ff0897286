"""The simulated world every system in the benchmark shares: a model, a lookup tool, the tasks.

The model's latency is `per_call + per_output_token * completion_tokens` (asyncio.sleep: it
simulates I/O); its replies come from a per-system responder so that every system does the same
task. Token counts use one deterministic estimate (4 characters per token) for every system:
the prompt is every message's text and tool calls plus the schemas of the tools bound to the call;
the completion is the reply's text and the name and arguments of each tool call it makes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import StructuredTool
from pydantic import ConfigDict

from nodes.llm import usage_metadata
from nodes.streaming import closing_piece

CHARS_PER_TOKEN = 4
STREAM_TOKENS = 4
"""Tokens per streamed piece of a simulated reply."""
GOAL = "Look up every record listed in the task and combine what they say into one summary."


@dataclass(frozen=True)
class Latency:
    """Simulated latencies in seconds."""

    per_call: float = 0.0
    per_output_token: float = 0.0
    tool: float = 0.0

    def call(self, completion_tokens: int) -> float:
        """Latency of one model call that writes `completion_tokens`."""
        return self.per_call + self.per_output_token * completion_tokens


@dataclass(frozen=True)
class Op:
    """One simulated wait: a model call or a tool call, tagged with the step it served."""

    kind: str  # "model" or "tool"
    tag: str  # the task key (or "synth") it belongs to; "" for control calls
    seconds: float
    text: str = ""
    """A model call's reply text (a streamed plan's steps can start before it ends)."""


@dataclass
class Meter:
    """What one system spent on one task."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    ops: list[Op] = field(default_factory=list)

    def seconds(self, kind: str, tag: str | None = None) -> float:
        """Simulated seconds of one kind of op (optionally only those with `tag`)."""
        return sum(o.seconds for o in self.ops if o.kind == kind and tag in (None, o.tag))


def tokens(text: str) -> int:
    """Deterministic token estimate shared by every system."""
    return max(1, len(text) // CHARS_PER_TOKEN)


def message_text(message: BaseMessage) -> str:
    """What a message costs as prompt: its text plus any tool calls it carries (ids included:
    the API sends them back)."""
    calls = getattr(message, "tool_calls", None)
    return str(message.content) + (json.dumps(calls) if calls else "")


def written_text(reply: AIMessage) -> str:
    """What the model writes of a reply: its text, and each tool call's name and arguments
    (the server adds the call ids; counting them would slow down every tool-calling turn)."""
    calls = [{"name": c["name"], "arguments": c["args"]} for c in reply.tool_calls]
    return str(reply.content) + (json.dumps(calls) if calls else "")


_SCHEMA_TOKENS: dict[tuple[str, ...], int] = {}


def schema_tokens(tools: Sequence[Any]) -> int:
    """Prompt tokens of the tool definitions sent with a call (cached by tool names: the
    simulation itself must cost next to nothing)."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    names = tuple(t.name if hasattr(t, "name") else repr(t) for t in tools)
    if names not in _SCHEMA_TOKENS:
        schemas = [convert_to_openai_tool(t) for t in tools]
        _SCHEMA_TOKENS[names] = tokens(json.dumps(schemas))
    return _SCHEMA_TOKENS[names]


Responder = Callable[[Sequence[BaseMessage]], tuple[AIMessage, str]]
"""Computes (reply, tag of the step the call serves) from the prompt."""


class SimChatModel(BaseChatModel):
    """A chat model with simulated latency whose replies a responder computes from the prompt."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    responder: Responder
    latency: Latency
    meter: Meter
    bound_schema_tokens: int = 0
    """Tokens of the tool definitions sent with each call (real APIs bill them as prompt)."""

    @property
    def _llm_type(self) -> str:
        return "planloop-bench-sim"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> SimChatModel:  # type: ignore[override,unused-ignore]
        return self.model_copy(update={"bound_schema_tokens": schema_tokens(tools)})

    def _reply(self, messages: Sequence[BaseMessage]) -> tuple[AIMessage, float]:
        reply, tag = self.responder(messages)
        prompt = tokens("".join(message_text(m) for m in messages)) + self.bound_schema_tokens
        completion = tokens(written_text(reply))
        reply.usage_metadata = usage_metadata(prompt, completion)
        delay = self.latency.call(completion)
        self.meter.llm_calls += 1
        self.meter.prompt_tokens += prompt
        self.meter.completion_tokens += completion
        self.meter.ops.append(Op("model", tag, delay, str(reply.content)))
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

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """The reply as a server streams it: text in pieces of `STREAM_TOKENS` tokens, each
        when the simulated clock has written it (tool calls arrive whole at the end); the
        whole reply takes exactly what `_agenerate` waits, and the last piece carries usage."""
        reply, delay = self._reply(messages)
        loop = asyncio.get_running_loop()
        started = loop.time()
        text = reply.content if isinstance(reply.content, str) and not reply.tool_calls else ""
        step, done = STREAM_TOKENS * CHARS_PER_TOKEN, 0
        while len(text) - done > step:
            written = self.latency.call((done + step) // CHARS_PER_TOKEN)
            await asyncio.sleep(max(0.0, started + written - loop.time()))
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[done : done + step]))
            done += step
        await asyncio.sleep(max(0.0, started + delay - loop.time()))
        rest = text[done:] if text else reply.content
        yield ChatGenerationChunk(message=closing_piece(reply, rest))


def record(key: str, chars: int) -> str:
    """What `lookup(key)` returns: a fact and a passage padded to about `chars` characters."""
    head = f"Record {key}: the value of {key} is {fact(key)}. "
    filler = f"Background on {key}: archived, cross-checked and unchanged since last review. "
    return (head + filler * (1 + max(0, chars - len(head)) // len(filler)))[:chars]


def fact(key: str) -> int:
    """The value stored under a key."""
    return sum(ord(c) for c in key) * 7 % 1000


def summary(keys: Sequence[str]) -> str:
    """The synthesis every system writes at the end of a task."""
    return "Summary of the records: " + "; ".join(f"{k} = {fact(k)}" for k in keys) + "."


def lookup_tool(latency: Latency, meter: Meter, chars: int) -> StructuredTool:
    """`lookup(key)`: a simulated, I/O-bound record lookup."""

    async def lookup(key: str) -> str:
        """Look up the record stored under a key.

        Args:
            key: The record key, e.g. `k3`.
        """
        meter.tool_calls += 1
        meter.ops.append(Op("tool", key, latency.tool))
        await asyncio.sleep(latency.tool)
        return record(key, chars)

    def lookup_sync(key: str) -> str:
        meter.tool_calls += 1
        meter.ops.append(Op("tool", key, latency.tool))
        time.sleep(latency.tool)
        return record(key, chars)

    return StructuredTool.from_function(
        func=lookup_sync, coroutine=lookup, name="lookup", description="Look up a record by key."
    )


@dataclass(frozen=True)
class Task:
    """A DAG of lookups (key -> keys whose results it needs) followed by one synthesis.

    A dependency is a data dependency: the dependent lookup's key is only known from the result
    of the lookups it depends on, so no system can issue it earlier.
    """

    name: str
    deps: dict[str, list[str]]

    def depth(self) -> dict[str, int]:
        """Position of each lookup on its longest dependency chain (1 = no dependencies)."""
        depth: dict[str, int] = {}
        for key in self.deps:  # keys are listed in dependency order
            depth[key] = 1 + max((depth[d] for d in self.deps[key]), default=0)
        return depth

    @property
    def longest_chain(self) -> int:
        """Lookups on the longest dependency chain."""
        return max(self.depth().values())

    def waves(self) -> list[list[str]]:
        """Lookups grouped by depth: what a system with unlimited parallelism runs together."""
        depth = self.depth()
        return [[k for k in self.deps if depth[k] == d] for d in range(1, self.longest_chain + 1)]


def chain(n: int) -> Task:
    """`n` dependent lookups in a row."""
    return Task(f"chain{n}", {f"k{i}": [f"k{i - 1}"] if i > 1 else [] for i in range(1, n + 1)})


TASKS = (
    Task("wide", {f"k{n}": [] for n in range(1, 9)}),
    Task("deep", chain(6).deps),
    Task(
        "mixed",
        {"k1": [], "k2": ["k1"], "k3": [], "k4": ["k3"], "k5": [], "k6": [], "k7": ["k2", "k5"]},
    ),
)


def fastest_possible(task: Task, latency: Latency) -> float:
    """The least wall time in which any system can do `task` when its model writes what
    react-parallel's model writes (each lookup's call, then the summary) and each lookup starts
    the moment its call is written, with zero framework time, no plan and no verdict.

    The first reply lists the calls of the lookups that need no result; every other lookup
    takes one model call as soon as the lookups it needs are done (its key is only known from
    them); the summary takes one call once every lookup is done."""
    first = [key for key, deps in task.deps.items() if not deps]
    done: dict[str, float] = {}
    for n, key in enumerate(first, 1):
        written = written_text(AIMessage("", tool_calls=[_lookup_call(k) for k in first[:n]]))
        done[key] = latency.call(tokens(written)) + latency.tool
    reply = written_text(AIMessage("", tool_calls=[_lookup_call(k) for k in first]))
    first_reply_ends = latency.call(tokens(reply))
    for key, deps in task.deps.items():  # listed in dependency order
        if deps:
            call = written_text(AIMessage("", tool_calls=[_lookup_call(key)]))
            done[key] = max(done[d] for d in deps) + latency.call(tokens(call)) + latency.tool
    answer = latency.call(tokens(summary(list(task.deps))))
    return max(first_reply_ends, *done.values()) + answer


def least_possible(task: Task, latency: Latency) -> float:
    """The least wall time in which any system can do `task`, whatever its model writes: each
    level of the longest dependency chain needs a model call made once the results it depends
    on are in (the first level's is the first call) and then its lookup, and the summary takes
    one more call; the model writes nothing but the summary, and framework time is zero."""
    answer = latency.call(tokens(summary(list(task.deps))))
    return task.longest_chain * (latency.per_call + latency.tool) + answer


def _lookup_call(key: str) -> ToolCall:
    return ToolCall(name="lookup", args={"key": key}, id=f"call_{key}")
