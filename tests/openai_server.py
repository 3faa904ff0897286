"""A local OpenAI-compatible chat completions server whose replies come from a `Script`.

Only loopback, only what planloop uses: `POST /v1/chat/completions` (plain JSON, or server-sent
events when the request says `"stream": true`: the text a few characters per chunk, as a server
streams tokens) and `GET /v1/models`. A script failure becomes HTTP 500 and is kept in `errors`
so the test can show it. `hold(role)` keeps the next request of a planloop role waiting until
`release()`, for tests that stop a client mid-call (or let it time out). A scripted reply whose
`response_metadata` has a `finish_reason` (e.g. "length": cut off by the cap) is sent with it.
`json_schema=False` refuses `response_format` json_schema with HTTP 400, as servers without it
do; `fail_with` answers the next requests with those HTTP statuses before the script is asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from tests.fakes import Script, role_of


def to_messages(raw: list[dict[str, Any]]) -> list[BaseMessage]:
    """OpenAI request messages as LangChain messages."""
    messages: list[BaseMessage] = []
    for item in raw:
        content = item.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        role = item["role"]
        if role in ("system", "developer"):
            messages.append(SystemMessage(content))
        elif role == "user":
            messages.append(HumanMessage(content))
        elif role == "tool":
            messages.append(ToolMessage(content, tool_call_id=item.get("tool_call_id", "")))
        else:
            calls = [
                {
                    "name": call["function"]["name"],
                    "args": json.loads(call["function"]["arguments"] or "{}"),
                    "id": call["id"],
                }
                for call in item.get("tool_calls") or []
            ]
            messages.append(AIMessage(content=content, tool_calls=calls))
    return messages


def completion(reply: AIMessage, model: str) -> dict[str, Any]:
    """A chat.completion response body for one scripted reply (one cut off by the cap,
    `finish_reason` "length", has its last tool call's arguments cut in half)."""
    calls = [
        {
            "id": call["id"] or f"call_{n}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
        }
        for n, call in enumerate(reply.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if calls:
        message["tool_calls"] = calls
    usage = reply.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
    finish = reply.response_metadata.get("finish_reason") or ("tool_calls" if calls else "stop")
    if finish == "length" and calls:
        arguments = calls[-1]["function"]["arguments"]
        calls[-1]["function"]["arguments"] = arguments[: len(arguments) // 2]
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
        },
    }


CHARS_PER_CHUNK = 4
"""Streamed text comes in pieces this long (about a token each)."""


def stream_chunks(body: dict[str, Any], with_usage: bool) -> list[dict[str, Any]]:
    """A whole completion as chat.completion.chunk events: the text a few characters at a time,
    each tool call's arguments in two halves, the finish, then usage."""
    choice = body["choices"][0]
    message = choice["message"]
    text = message.get("content") or ""
    pieces = [text[i : i + CHARS_PER_CHUNK] for i in range(0, len(text), CHARS_PER_CHUNK)]
    deltas: list[dict[str, Any]] = [
        {"role": "assistant", "content": piece} for piece in pieces or [""]
    ]
    for n, call in enumerate(message.get("tool_calls") or []):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        head = {"index": n, "id": call["id"], "type": "function"}
        first = head | {
            "function": {"name": call["function"]["name"], "arguments": arguments[:half]}
        }
        rest = {"index": n, "function": {"arguments": arguments[half:]}}
        deltas += [{"tool_calls": [first]}, {"tool_calls": [rest]}]
    head = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [head | {"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append(
        head | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]}
    )
    return [*chunks, head | {"choices": [], "usage": body["usage"]}] if with_usage else chunks


class OpenAIStandIn:
    """`with OpenAIStandIn(script) as server:` serves on 127.0.0.1 at `server.base_url`."""

    def __init__(
        self,
        script: Script,
        port: int = 0,
        latency_seconds: float = 0.0,
        *,
        named_tool_choice: bool = True,
        json_schema: bool = True,
        object_root: bool = False,
        fail_with: Sequence[int] = (),
    ) -> None:
        self.script = script
        self.named_tool_choice = named_tool_choice
        """False: refuse a forced call of a named tool with HTTP 400, as some servers do."""
        self.json_schema = json_schema
        """False: refuse `response_format` json_schema with HTTP 400, as some servers do."""
        self.object_root = object_root
        """True: refuse a json_schema whose root is not `"type": "object"`, as OpenAI's API."""
        self.fail_with = deque(fail_with)
        """HTTP statuses to answer the next requests with, one each, before the script."""
        self.requests: list[dict[str, Any]] = []
        """Every parsed request body, in arrival order."""
        self.responses: list[dict[str, Any]] = []
        """Every chat.completion body answered with HTTP 200 (their `usage` is what was billed)."""
        self.errors: list[BaseException] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.latency_seconds = latency_seconds
        """Simulated model latency per request (stretches runs so kills land mid-run)."""
        self.held = threading.Event()
        """Set when the request chosen by `hold()` has arrived and is waiting."""
        self._released = threading.Event()
        self._hold_role: str | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to pass as OPENAI_BASE_URL / --base-url."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def hold(self, role: str) -> None:
        """Keep the next request from planloop role `role` unanswered until `release()`."""
        with self._lock:
            self.held.clear()
            self._released.clear()
            self._hold_role = role

    def release(self) -> None:
        """Let a held request (or the next one chosen by `hold()`) be answered from the script."""
        with self._lock:
            self._hold_role = None
        self._released.set()

    def __enter__(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one chat completions request (held if `hold()` says so)."""
        with self._lock:
            self.requests.append(body)
            failure = self.fail_with.popleft() if self.fail_with else None
        if failure is not None:
            return failure, _error(f"scripted failure {failure}", "server_error")
        if not self.named_tool_choice and isinstance(body.get("tool_choice"), dict):
            return HTTPStatus.BAD_REQUEST, _error("tool_choice naming a function is not supported")
        wanted = (body.get("response_format") or {}).get("type")
        if not self.json_schema and wanted == "json_schema":
            return HTTPStatus.BAD_REQUEST, _error("response_format json_schema is not supported")
        root = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        if self.object_root and wanted == "json_schema" and root.get("type") != "object":
            return HTTPStatus.BAD_REQUEST, _error("schema must be a JSON Schema of 'type: object'")
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        try:
            messages = to_messages(body["messages"])
            with self._lock:
                wait = self._hold_role is not None and self._hold_role == role_of(messages)
                if wait:
                    self._hold_role = None
            if wait:
                self.held.set()
                self._released.wait()
            reply = self.script.reply(messages)
        except Exception as exc:  # the test reads it from `errors`
            with self._lock:
                self.errors.append(exc)
            return HTTPStatus.INTERNAL_SERVER_ERROR, _error(str(exc), "server_error")
        result = completion(reply, str(body.get("model", "stand-in")))
        with self._lock:
            self.responses.append(result)
        return HTTPStatus.OK, result

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet; tests read `requests` instead."""

            def _send(self, status: int, body: dict[str, Any] | list[dict[str, Any]]) -> None:
                """JSON for a dict; server-sent events (closed by [DONE]) for a chunk list."""
                if isinstance(body, list):
                    lines = [*(json.dumps(chunk) for chunk in body), "[DONE]"]
                    data = "".join(f"data: {line}\n\n" for line in lines).encode()
                    kind = "text/event-stream"
                else:
                    data, kind = json.dumps(body).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may be gone: the crash tests kill it while it waits.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    models = [{"id": "stand-in", "object": "model", "owned_by": "planloop-tests"}]
                    self._send(200, {"object": "list", "data": models})
                else:
                    self._send(404, _error(f"no route {self.path}", "not_found"))

            def do_POST(self) -> None:
                route = self.path.rstrip("/")
                if route not in ("/v1/chat/completions", "/v1/embeddings"):
                    self._send(404, _error(f"no route {self.path}", "not_found"))
                    return
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError as exc:
                    self._send(400, _error(f"invalid JSON body: {exc}"))
                    return
                if route == "/v1/embeddings":
                    with stand_in._lock:
                        stand_in.embedding_requests.append(body)
                    self._send(200, embeddings_response(body))
                    return
                status, result = stand_in.answer(body)
                if status == HTTPStatus.OK and body.get("stream"):
                    usage = (body.get("stream_options") or {}).get("include_usage", False)
                    self._send(status, stream_chunks(result, bool(usage)))
                else:
                    self._send(status, result)

        return Handler


def embed(text: str, dims: int) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words point the same way."""
    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        bucket = int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims
        vector[bucket] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def embeddings_response(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI embeddings response for `input` (a string or a list of strings)."""
    inputs = body.get("input", [])
    texts = [inputs] if isinstance(inputs, str) else list(inputs)
    dims = int(body.get("dimensions") or 64)
    data = [
        {"object": "embedding", "index": n, "embedding": embed(str(text), dims)}
        for n, text in enumerate(texts)
    ]
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "stand-in-embed"),
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}
