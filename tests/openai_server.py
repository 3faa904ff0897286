"""A local OpenAI-compatible chat completions server whose replies come from a `Script`.

Only loopback, only what planloop uses: `POST /v1/chat/completions` (non-streaming; a
streaming request gets HTTP 400) and `GET /v1/models`. A script failure becomes HTTP 500 and is
kept in `errors` so the test can show it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
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

from tests.fakes import Script


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
    """A chat.completion response body for one scripted reply."""
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
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
        },
    }


class OpenAIStandIn:
    """`with OpenAIStandIn(script) as server:` serves on 127.0.0.1 at `server.base_url`."""

    def __init__(self, script: Script, port: int = 0) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to pass as OPENAI_BASE_URL / --base-url."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one chat completions request."""
        with self._lock:
            self.requests.append(body)
        if body.get("stream"):
            return HTTPStatus.BAD_REQUEST, _error("streaming is not supported by the stand-in")
        try:
            reply = self.script.reply(to_messages(body["messages"]))
        except Exception as exc:  # the test reads it from `errors`
            with self._lock:
                self.errors.append(exc)
            return HTTPStatus.INTERNAL_SERVER_ERROR, _error(str(exc), "server_error")
        return HTTPStatus.OK, completion(reply, str(body.get("model", "stand-in")))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet; tests read `requests` instead."""

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may be gone: the crash tests kill it while it waits.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "stand-in"}]})
                else:
                    self._send(404, _error(f"no route {self.path}", "not_found"))

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, _error(f"no route {self.path}", "not_found"))
                    return
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                self._send(*stand_in.answer(body))

        return Handler


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}
