"""Record and replay model calls at planloop's model seam (`nodes.llm.use_model_factory`).

`recording(tape)` wraps whatever model the seam would build: every request (messages, offered
tools, tool choice, completion cap, response format) and its reply (or the error it raised) is
appended to `tape`, in the order the requests were made; a streamed call is streamed from the
inner model and recorded whole. `replaying(tape)` serves a tape's replies without any server, so
a recorded real-model run replays offline and deterministically.

Matching rule of a replay: a request is answered by the first unserved recorded exchange whose
request is the same (messages and tools, with the workspace path normalised; the completion cap
and response format are recorded for reading but not compared, so tapes recorded before
planloop sent them still match); when none is the
same, the first unserved exchange is served anyway (in recorded order) and a `Divergence` is
noted. Parallel steps may send their requests in a different order than when recorded; the
first rule keeps each reply with its request. A request after the tape is used up raises
`ReplayExhaustedError`: a run that asks for more model calls than the recorded one (a new loop)
fails loudly instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from nodes.context import Context
from nodes.model_factory import current_model_factory, use_model_factory
from nodes.streaming import finished_message

WORKSPACE_MARK = "<WORKSPACE>"


class ReplayExhaustedError(RuntimeError):
    """The replayed run asked for more model calls than were recorded."""


@dataclass
class Exchange:
    """One model call: what was asked and what came back (a reply or an error)."""

    request: dict[str, Any]
    reply: dict[str, Any] | None = None
    """The reply message as `message_to_dict` data; None when the call raised or never ended."""
    error: dict[str, str] | None = None
    """`{"type": ..., "message": ...}` of the exception the call raised."""


@dataclass
class Tape:
    """The exchanges of one run, in the order their requests were made."""

    exchanges: list[Exchange] = field(default_factory=list)
    workspace: str = ""
    """Absolute workspace path of the recorded run (normalised away when matching)."""

    def to_json(self) -> list[dict[str, Any]]:
        """Plain data for a JSON file."""
        return [{"request": e.request, "reply": e.reply, "error": e.error} for e in self.exchanges]

    @classmethod
    def from_json(cls, data: Sequence[dict[str, Any]], workspace: str = "") -> Tape:
        """Rebuild a tape written by `to_json`."""
        exchanges = [
            Exchange(request=d["request"], reply=d.get("reply"), error=d.get("error")) for d in data
        ]
        return cls(exchanges=exchanges, workspace=workspace)


def describe_request(
    messages: Sequence[BaseMessage], kwargs: dict[str, Any], workspace: str
) -> dict[str, Any]:
    """The recorded form of a request: messages, names of offered tools, tool choice, and (when
    sent) the completion cap and the response format's type and name."""
    tools = kwargs.get("tools") or []
    names = [t.get("function", {}).get("name", "") if isinstance(t, dict) else "" for t in tools]
    choice = kwargs.get("tool_choice")
    if isinstance(choice, dict):  # ChatOpenAI's object form of a named choice
        choice = choice.get("function", {}).get("name", str(choice))
    request: dict[str, Any] = {
        "messages": [message_to_dict(m) for m in messages],
        "tools": names,
        "tool_choice": choice,
    }
    if kwargs.get("max_tokens") is not None:
        request["max_tokens"] = kwargs["max_tokens"]
    form = kwargs.get("response_format")
    if isinstance(form, dict):
        name = (form.get("json_schema") or {}).get("name")
        request["response_format"] = f"{form.get('type')}:{name}" if name else form.get("type")
    text = json.dumps(request, sort_keys=True, default=str)
    if workspace:
        text = text.replace(workspace, WORKSPACE_MARK)
    result: dict[str, Any] = json.loads(text)
    return result


def request_key(request: dict[str, Any]) -> str:
    """What two requests must share to count as the same: message roles, texts and tool calls,
    offered tools and tool choice (ids and provider metadata are left out)."""
    messages = []
    for item in request.get("messages", []):
        data = item.get("data", {})
        calls = [(c.get("name"), c.get("args")) for c in data.get("tool_calls") or []]
        messages.append((item.get("type"), data.get("content"), calls))
    return json.dumps(
        [messages, request.get("tools"), request.get("tool_choice")], sort_keys=True, default=str
    )


def error_record(exc: BaseException) -> dict[str, str]:
    """How a failed call is written down: an OpenAI SDK error by its SDK class (not a
    provider package's subclass of it), with the HTTP status of a status error."""
    kind = next(
        (k.__name__ for k in type(exc).__mro__ if k.__module__.split(".")[0] == "openai"),
        type(exc).__name__,
    )
    record = {"type": kind, "message": str(exc)[:500]}
    if isinstance(exc, openai.APIStatusError):
        record["status"] = str(exc.status_code)
    return record


def rebuild_error(error: dict[str, str]) -> Exception:
    """The exception a recorded failure raises again (provider errors keep their type, so
    planloop translates them exactly as it did when recorded)."""
    request = httpx2.Request("POST", "http://replay.invalid/v1/chat/completions")
    kind, message = error.get("type", ""), error.get("message", "")
    if kind == "APITimeoutError":
        return openai.APITimeoutError(request=request)
    if kind == "APIConnectionError":
        return openai.APIConnectionError(message=message, request=request)
    status = error.get("status", "")
    if status.isdigit():
        response = httpx2.Response(int(status), request=request)
        error_class = getattr(openai, kind, openai.APIStatusError)
        if not (isinstance(error_class, type) and issubclass(error_class, openai.APIStatusError)):
            error_class = openai.APIStatusError
        return error_class(message, response=response, body=None)
    return RuntimeError(f"{kind}: {message}")


def _bound_kwargs(binding: Runnable[Any, Any]) -> dict[str, Any]:
    kwargs = getattr(binding, "kwargs", {})
    return dict(kwargs) if isinstance(kwargs, dict) else {}


class RecordingChatModel(BaseChatModel):
    """Passes every call to `inner` and appends the exchange to `tape`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    inner: BaseChatModel
    tape: Tape

    @property
    def _llm_type(self) -> str:
        return f"recording-{self.inner._llm_type}"

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind exactly what the inner model would bind (its tool format, its tool choice)."""
        return self.bind(**_bound_kwargs(self.inner.bind_tools(tools, **kwargs)))

    def _start(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Exchange:
        exchange = Exchange(request=describe_request(messages, kwargs, self.tape.workspace))
        self.tape.exchanges.append(exchange)
        return exchange

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        exchange = self._start(messages, kwargs)
        try:
            reply = self.inner.bind(**kwargs).invoke(messages, stop=stop)
        except BaseException as exc:
            exchange.error = error_record(exc)
            raise
        exchange.reply = message_to_dict(reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        exchange = self._start(messages, kwargs)
        try:
            reply = await self.inner.bind(**kwargs).ainvoke(messages, stop=stop)
        except BaseException as exc:
            exchange.error = error_record(exc)
            raise
        exchange.reply = message_to_dict(reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Stream from the inner model (one piece when it cannot stream); record the whole."""
        exchange = self._start(messages, kwargs)
        gathered: AIMessageChunk | None = None
        try:
            async for piece in self.inner.bind(**kwargs).astream(messages, stop=stop):
                chunk = piece if isinstance(piece, AIMessageChunk) else _as_chunk(piece)
                gathered = chunk if gathered is None else gathered + chunk
                yield ChatGenerationChunk(message=chunk)
        except BaseException as exc:
            exchange.error = error_record(exc)
            raise
        if gathered is not None:
            exchange.reply = message_to_dict(finished_message(gathered))


def _as_chunk(message: BaseMessage) -> AIMessageChunk:
    """A whole reply as one chunk (from a model that does not stream)."""
    if not isinstance(message, AIMessage):
        return AIMessageChunk(content=message.content)
    return AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        tool_calls=message.tool_calls,
        invalid_tool_calls=message.invalid_tool_calls,
        usage_metadata=message.usage_metadata,
        id=message.id,
    )


@dataclass
class Divergence:
    """A replayed request that differs from the recorded one it was answered with."""

    position: int
    """Index of the recorded exchange that was served."""
    detail: str


@dataclass
class Player:
    """Serves a tape's replies (see the module docstring for the matching rule)."""

    tape: Tape
    workspace: str = ""
    served: set[int] = field(default_factory=set)
    divergences: list[Divergence] = field(default_factory=list)

    def next_for(self, request: dict[str, Any]) -> Exchange:
        """The recorded exchange that answers `request`."""
        unserved = [i for i in range(len(self.tape.exchanges)) if i not in self.served]
        if not unserved:
            raise ReplayExhaustedError(
                f"the replay asked for model call {len(self.served) + 1}, but only "
                f"{len(self.tape.exchanges)} were recorded"
            )
        key = request_key(request)
        same = [i for i in unserved if request_key(self.tape.exchanges[i].request) == key]
        position = same[0] if same else unserved[0]
        if not same:
            self.divergences.append(
                Divergence(position, _first_difference(request, position, self))
            )
        self.served.add(position)
        return self.tape.exchanges[position]

    @property
    def remaining(self) -> int:
        """Recorded exchanges not served (a replay that ends early leaves some)."""
        return len(self.tape.exchanges) - len(self.served)


def _first_difference(request: dict[str, Any], position: int, player: Player) -> str:
    recorded = player.tape.exchanges[position].request
    new, old = request.get("messages", []), recorded.get("messages", [])
    for index, (a, b) in enumerate(zip(new, old, strict=False)):
        if request_key({"messages": [a]}) != request_key({"messages": [b]}):
            text = str(a.get("data", {}).get("content", ""))[:120]
            return f"message {index} differs (now: {text!r})"
    if len(new) != len(old):
        return f"{len(new)} messages now, {len(old)} recorded"
    return "offered tools or tool choice differ"


class ReplayChatModel(BaseChatModel):
    """Answers from a `Player` instead of a server."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    player: Player

    @property
    def _llm_type(self) -> str:
        return "planloop-replay"

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in the OpenAI format, as ChatOpenAI does, so requests compare equal."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = describe_request(messages, kwargs, self.player.workspace)
        exchange = self.player.next_for(request)
        if exchange.reply is None:
            raise rebuild_error(exchange.error or {"type": "Unfinished", "message": "no reply"})
        reply = messages_from_dict([exchange.reply])[0]
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """On the event loop (not a worker thread), so parallel steps take turns in order."""
        return self._generate(messages, stop, None, **kwargs)


@contextmanager
def recording(tape: Tape) -> Iterator[Tape]:
    """Record every model call made through the seam inside the block into `tape`."""
    inner_factory = current_model_factory()

    def factory(context: Context) -> BaseChatModel:
        return RecordingChatModel(inner=inner_factory(context), tape=tape)

    with use_model_factory(factory):
        yield tape


@contextmanager
def replaying(tape: Tape, workspace: str = "") -> Iterator[Player]:
    """Serve `tape`'s replies to every model call made through the seam inside the block."""
    player = Player(tape=tape, workspace=workspace)
    with use_model_factory(lambda _context: ReplayChatModel(player=player)):
        yield player
