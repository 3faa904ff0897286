"""A scripted stand-in for the chat model: replies are queued per planloop role.

The role of each call is read from its system prompt, so the same `Script` drives the in-process
fake (`ScriptedChatModel`) and the local OpenAI-compatible HTTP stand-in (`tests.openai_server`).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from nodes.llm import usage_metadata
from nodes.streaming import closing_piece

ROLE_MARKERS = {
    "goal analyst": "parse_goal",
    "planner": "plan",
    "step executor": "execute",
    "reviewer": "reflect",
    "program reviewer": "program_review",
    "checker": "check",
    "second programmer": "cross_check",
    "reporter": "finish",
}

OPTIONS = ("max_tokens", "response_format", "temperature")
"""Request options `Script.options` keeps."""

Reply = str | dict[str, Any] | AIMessage | Callable[[Sequence[BaseMessage]], "Reply"]


def role_of(messages: Sequence[BaseMessage]) -> str:
    """Which planloop node is calling, from the first system message."""
    system = next((m for m in messages if isinstance(m, SystemMessage)), None)
    text = system.text if system else ""
    for marker, role in ROLE_MARKERS.items():
        if f"You are the {marker} of planloop" in text:
            return role
    raise AssertionError(f"cannot tell which node sent this prompt: {text[:120]!r}")


def tool_call(name: str, args: dict[str, Any], call_id: str | None = None) -> AIMessage:
    """An assistant message that calls one tool."""
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": call_id or f"call_{name}"}]
    )


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate (4 characters per token) for usage metadata."""
    return max(1, len(text) // 4)


class Script:
    """Queues of replies per role, plus a log of every call (role, messages)."""

    def __init__(self, **replies: Sequence[Reply]) -> None:
        self.queues: dict[str, deque[Reply]] = defaultdict(deque)
        for role, items in replies.items():
            self.queues[role].extend(items)
        self.calls: list[tuple[str, list[BaseMessage]]] = []
        self.options: list[dict[str, Any]] = []
        """Per call of the in-process fake: the request options the seam bound (completion
        cap, response format)."""
        self.defaults: dict[str, Reply] = {}
        """Replies used whenever a role's queue is empty (for runs that are killed and resumed)."""
        self.lock = threading.Lock()

    def add(self, role: str, *items: Reply) -> Script:
        """Queue more replies for a role."""
        with self.lock:
            self.queues[role].extend(items)
        return self

    def calls_for(self, role: str) -> list[list[BaseMessage]]:
        """The prompts of every call made by a role."""
        return [messages for r, messages in self.calls if r == role]

    def options_for(self, role: str) -> list[dict[str, Any]]:
        """The request options (`OPTIONS`) of every call made by a role."""
        return [o for (r, _), o in zip(self.calls, self.options, strict=True) if r == role]

    def reply(self, messages: Sequence[BaseMessage]) -> AIMessage:
        """The next scripted reply for the role that sent `messages`."""
        role = role_of(messages)
        with self.lock:
            self.calls.append((role, list(messages)))
            if self.queues[role]:
                item: Reply = self.queues[role].popleft()
            elif role in self.defaults:
                item = self.defaults[role]
            else:
                raise AssertionError(f"the script has no reply left for {role!r}")
        while callable(item) and not isinstance(item, AIMessage):
            item = item(messages)
        if isinstance(item, AIMessage):
            message = item.model_copy()
        elif isinstance(item, dict):
            message = AIMessage(content=json.dumps(item))
        else:
            message = AIMessage(content=str(item))
        prompt = estimate_tokens("".join(m.text for m in messages))
        completion = estimate_tokens(message.text + json.dumps(message.tool_calls))
        message.usage_metadata = usage_metadata(prompt, completion)
        return message


class ScriptedChatModel(BaseChatModel):
    """A chat model whose replies come from a `Script`; tools are accepted and recorded."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    script: Script
    bound_tools: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "planloop-scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        names = [getattr(t, "name", str(t)) for t in tools]
        return self.model_copy(update={"bound_tools": names})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        options = {k: v for k, v in kwargs.items() if k in OPTIONS}
        with self.script.lock:
            self.script.options.append(options)
        return ChatResult(generations=[ChatGeneration(message=self.script.reply(messages))])


class StreamingScriptedModel(ScriptedChatModel):
    """A `ScriptedChatModel` that streams its text replies in pieces of `piece_chars`, awaiting
    `between(text so far, role)` after each piece (the last included): a test can hold a reply
    mid-stream until what it expects has happened."""

    piece_chars: int = 8
    between: Callable[[str, str], Awaitable[None]] | None = None

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        reply = self.script.reply(messages)
        if reply.tool_calls or not isinstance(reply.content, str):
            yield ChatGenerationChunk(message=closing_piece(reply, reply.content))
            return
        text, role = reply.content, role_of(messages)
        for start in range(0, len(text), self.piece_chars):
            piece = text[start : start + self.piece_chars]
            last = start + self.piece_chars >= len(text)
            chunk = AIMessageChunk(
                content=piece,
                usage_metadata=reply.usage_metadata if last else None,
                response_metadata={"finish_reason": "stop"} if last else {},
            )
            yield ChatGenerationChunk(message=chunk)
            if self.between is not None:
                await self.between(text[: start + len(piece)], role)


# Replies for a small, typical run -------------------------------------------------------------


def goal_reply(*criteria: str, objective: str = "do the goal") -> dict[str, Any]:
    """A parse_goal answer."""
    return {"objective": objective, "criteria": list(criteria), "constraints": []}


def step(
    step_id: str,
    *,
    tool: str | None = None,
    args: dict[str, Any] | None = None,
    depends_on: Sequence[str] = (),
    description: str | None = None,
    expected: str = "it works",
    risk: str = "read_only",
    fill_args: bool = False,
) -> dict[str, Any]:
    """One plan step as the planner would write it (`fill_args`: a tool whose args the
    executor fills in from earlier results)."""
    spec: dict[str, Any] = {
        "id": step_id,
        "description": description or f"do {step_id}",
        "expected": expected,
        "depends_on": list(depends_on),
        "risk": risk,
    }
    if tool:
        spec["tool"] = tool
        if not fill_args:
            spec["args"] = args or {}
    return spec


def plan_reply(*steps: dict[str, Any]) -> dict[str, Any]:
    """A plan answer."""
    return {"steps": list(steps)}


def reflect_reply(
    verdicts: dict[str, bool],
    met: dict[str, str] | None = None,
    *,
    replan: bool = False,
    reason: str = "",
    answer_step: str | None = None,
) -> dict[str, Any]:
    """A reflection answer: step verdicts and criteria met (id -> evidence)."""
    return {
        "answer_step": answer_step,
        "verdicts": [
            {"step_id": k, "ok": v, "note": "ok" if v else "wrong"} for k, v in verdicts.items()
        ],
        "criteria": [{"id": k, "met": True, "evidence": e} for k, e in (met or {}).items()],
        "replan": replan,
        "reason": reason,
    }
