"""The tape of a recorded run's model calls (`nodes.replay`), and how its parts are written
down: a request (workspace path normalised), what two requests must share to count as the
same, and a failed call's error, which a replay raises again as the same kind of error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from langchain_core.messages import BaseMessage, message_to_dict

WORKSPACE_MARK = "<WORKSPACE>"


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
    sent) the completion cap, the sampling temperature and the response format's type and name."""
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
    for option in ("max_tokens", "temperature"):
        if kwargs.get(option) is not None:
            request[option] = kwargs[option]
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
