"""One model reply, streamed: its chunks gathered into the final message (tool calls parsed
strictly, usage kept) while progress events tell a watching user what the call is doing.

Progress goes through LangGraph's custom stream (`langgraph.config.get_stream_writer`), so a
caller that streams the graph with `stream_mode` "custom" receives, per model call:

    {"model_call": {"id": "3f2a9c1b", "stage": "plan", "state": "started", "tokens": 0,
                    "seconds": 0.0}}
    {"model_call": {..., "state": "tokens", "tokens": 85, "seconds": 12.3}}   (throttled)
    {"model_call": {..., "state": "done", "tokens": 412, "seconds": 31.0, "truncated": false}}
    {"model_call": {..., "state": "failed", "error": "APITimeoutError", ...}}  (instead of done)

Outside a graph run (or when nobody streams "custom") the events go nowhere.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import Any, Protocol, cast

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    InvalidToolCall,
    ToolCall,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.runnables import Runnable

PROGRESS_KEY = "model_call"
"""The key of every progress event in the custom stream."""
TOKEN_EVENT_SECONDS = 0.25
"""Least time between two "tokens" events of one call (at most four a second)."""

Writer = Callable[[Any], None]


def progress_writer() -> Writer | None:
    """The graph's custom stream writer, or None outside a graph run."""
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except (RuntimeError, KeyError):  # no runnable context, or not a LangGraph one
        return None


class CallProgress:
    """Progress events of one model call (sent only when a writer is there)."""

    def __init__(self, stage: str, writer: Writer | None = None) -> None:
        self.stage = stage
        self.writer = writer
        self.id = uuid.uuid4().hex[:8]
        self.tokens = 0
        self.started = time.monotonic()
        self._last_event = self.started

    def _emit(self, state: str, **extra: object) -> None:
        if self.writer is None:
            return
        seconds = round(time.monotonic() - self.started, 1)
        event = {"id": self.id, "stage": self.stage, "state": state, "tokens": self.tokens}
        self.writer({PROGRESS_KEY: {**event, "seconds": seconds, **extra}})

    def start(self) -> None:
        """The request is on its way (sent again when a retry starts the call over)."""
        self.tokens = 0
        self.started = self._last_event = time.monotonic()
        self._emit("started")

    def token(self) -> None:
        """One more streamed piece of the reply arrived."""
        self.tokens += 1
        now = time.monotonic()
        if now - self._last_event >= TOKEN_EVENT_SECONDS:
            self._last_event = now
            self._emit("tokens")

    def done(self, reply: AIMessage, truncated: bool) -> None:
        """The reply is complete (its usage, when reported, is the token count)."""
        usage = reply.usage_metadata
        if usage and usage.get("output_tokens"):
            self.tokens = usage["output_tokens"]
        self._emit("done", truncated=truncated)

    def failed(self, error: BaseException) -> None:
        """The call ended without a reply (an error that is not sent again, or cancelled)."""
        self._emit("failed", error=type(error).__name__)


class ReplyObserver(Protocol):
    """Reads a reply's text while it streams (`nodes.early_calls` starts planned calls)."""

    def begin(self) -> None:
        """A new reply starts (a first attempt or a resend)."""

    def feed(self, text: str) -> None:
        """The reply's next piece of text."""


class _Unobserved:
    """The observer of a reply nobody reads while it streams."""

    def begin(self) -> None:
        """Nothing to reset."""

    def feed(self, text: str) -> None:
        """Nothing to read."""


RUNAWAY_CHARS = 480
"""A reply whose last this many characters repeat one unit is repeating itself."""
RUNAWAY_MAX_UNIT = 160
"""The longest unit looked for (a line of code repeated over and over)."""
RUNAWAY_CHECK_EVERY = 16
"""Streamed pieces between two looks at the reply's end."""


def repeated_unit(text: str) -> str | None:
    """The unit the end of `text` repeats over its last `RUNAWAY_CHARS` characters, if any.

    A small model at temperature 0 can fall into writing one line again and again until the
    completion cap (1,500 tokens of `lines[i] = lines[i].replace(...)`: 90 s at 17 tokens/s,
    and the same again when asked once more). Legitimate output does not repeat one unit for
    hundreds of characters; a long file of such lines is for run_python to write."""
    tail = text[-RUNAWAY_CHARS:]
    if len(tail) < RUNAWAY_CHARS:
        return None
    for period in range(1, RUNAWAY_MAX_UNIT + 1):
        if tail[period:] == tail[:-period]:
            return _line_aligned(tail[-period:])
    return None


def _line_aligned(unit: str) -> str:
    """`unit` rotated to start after its line break (plain or JSON-escaped), as a reader
    would quote the repeated line."""
    for newline in ("\n", "\\n"):
        end = unit.find(newline) + len(newline)
        if end >= len(newline):
            return unit[end:] + unit[:end]
    return unit


def chunk_text(piece: AIMessageChunk) -> str:
    """A streamed piece's text and tool call arguments, as the runaway guard reads them."""
    calls = "".join(str(c.get("args") or "") for c in piece.tool_call_chunks)
    return (piece.content if isinstance(piece.content, str) else "") + calls


async def stream_reply(
    runnable: Runnable[Any, Any],
    messages: Sequence[BaseMessage],
    progress: CallProgress,
    observer: ReplyObserver | None = None,
) -> AIMessage:
    """Stream one reply and return it whole. A model that cannot stream answers in one piece.
    `observer` reads the reply's text as it arrives.

    A reply that starts repeating itself (`repeated_unit`) is stopped there and returned as
    cut off (`finish_reason` "length", the unit in `response_metadata["repeated"]`)."""
    reader = observer or _Unobserved()
    reader.begin()
    pieces_so_far: list[AIMessageChunk] = []
    whole: AIMessage | None = None
    seen, pieces = "", 0
    async with aclosing(
        cast(AsyncGenerator[Any, None], runnable.astream(list(messages)))
    ) as stream:
        async for piece in stream:
            if isinstance(piece, AIMessageChunk):
                pieces_so_far.append(piece)
                if piece.content or piece.tool_call_chunks:
                    progress.token()
                reader.feed(piece.content if isinstance(piece.content, str) else "")
                seen, pieces = (seen + chunk_text(piece))[-2 * RUNAWAY_CHARS :], pieces + 1
                unit = repeated_unit(seen) if pieces % RUNAWAY_CHECK_EVERY == 0 else None
                if unit is not None:
                    reply = finished_message(merged(pieces_so_far))
                    return stopped_message(reply, unit, messages, pieces)
            elif isinstance(piece, AIMessage):
                whole = piece
            else:  # a model that returns another message type: keep its text
                whole = AIMessage(content=str(getattr(piece, "content", piece)))
    if whole is not None:
        reader.feed(whole.text)  # a model that cannot stream: its whole text at once
        return whole
    if not pieces_so_far:
        raise ValueError("the model streamed no reply at all")
    return finished_message(merged(pieces_so_far))


def merged(pieces: list[AIMessageChunk]) -> AIMessageChunk:
    """The streamed pieces as one chunk, merged once: adding each piece as it comes rebuilds
    the whole message every time (quadratic in its length; a fifth of planloop's own time per
    step at zero latency)."""
    first, *rest = pieces
    return first + rest if rest else first


def stopped_message(
    reply: AIMessage, unit: str | None, messages: Sequence[BaseMessage], pieces: int
) -> AIMessage:
    """`reply`, stopped before its end (because it repeated `unit`, when given): marked cut
    off, with its usage estimated when the server had not sent it yet (it comes with the last
    chunk): the pieces received, and the prompt at four characters a token."""
    usage = reply.usage_metadata or estimated_usage(messages, pieces)
    metadata = {**reply.response_metadata, "finish_reason": "length"}
    if unit is not None:
        metadata["repeated"] = unit[:80]
    return reply.model_copy(update={"response_metadata": metadata, "usage_metadata": usage})


def finished_message(chunk: AIMessageChunk) -> AIMessage:
    """The final message of a streamed reply. Tool call arguments are parsed strictly, as a
    non-streamed reply's are: a call whose arguments are not complete JSON (a reply cut off
    mid-call) is an invalid tool call, never a call with half its arguments."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for part in chunk.tool_call_chunks:
        raw = part.get("args") or ""
        name, call_id = part.get("name") or "", part.get("id")
        try:
            args = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            error = f"arguments are not complete JSON ({exc.msg})"
            invalid.append(invalid_tool_call(name=name, args=raw, id=call_id, error=error))
            continue
        if not isinstance(args, dict):
            error = "arguments are not a JSON object"
            invalid.append(invalid_tool_call(name=name, args=raw, id=call_id, error=error))
            continue
        calls.append(tool_call(name=name, args=args, id=call_id))
    return AIMessage(
        content=chunk.content,
        additional_kwargs=chunk.additional_kwargs,
        response_metadata=chunk.response_metadata,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=chunk.usage_metadata,
        id=chunk.id,
    )


def closing_piece(reply: AIMessage, text: str | list[str | dict[Any, Any]]) -> AIMessageChunk:
    """The last streamed piece of `reply`, as a server sends it: `text` (what is left of the
    reply's text), every tool call whole, the usage and the finish reason (simulated and
    scripted models stream through it; `finished_message` reads it back)."""
    calls = [
        {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": n}
        for n, c in enumerate(reply.tool_calls)
    ]
    return AIMessageChunk(
        content=text,
        tool_call_chunks=calls,  # type: ignore[arg-type]
        usage_metadata=reply.usage_metadata,
        response_metadata={"finish_reason": "tool_calls" if calls else "stop"},
    )


def estimated_usage(messages: Sequence[BaseMessage], pieces: int) -> UsageMetadata:
    """Usage of a reply stopped before the server sent its own: the pieces received, and the
    prompt at four characters a token."""
    prompt = sum(len(m.text) for m in messages) // 4
    return UsageMetadata(input_tokens=prompt, output_tokens=pieces, total_tokens=prompt + pieces)
