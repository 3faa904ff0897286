"""The real `langgraph dev` server, driven with `langgraph-sdk`: approve and reject via the API.

The server runs the graph from langgraph.json with a local OpenAI-compatible stand-in as its
model (OPENAI_BASE_URL), in the repo root, exactly as the README's `langgraph dev`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tests.openai_server import OpenAIStandIn

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 90
EDIT = {"path": "notes.txt", "old_text": "draft", "new_text": "final"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DevServer:
    """`langgraph dev` in a subprocess; ready when it logs that the application started."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        command = Path(sys.executable).with_name("langgraph")
        self.process = subprocess.Popen(
            [str(command), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )  # fmt: skip
        self.output: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "Application started up" in line:
                self.ready.set()
        self.ready.set()  # the process ended: let the waiter see it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _script() -> Script:
    script = Script()
    script.defaults.update(parse_goal=goal_reply("notes.txt says final"))
    script.add("plan", plan_reply(step("s1", tool="edit_file", args=EDIT)))
    script.add("plan", plan_reply(step("s1", tool="edit_file", args=EDIT)))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited notes.txt"}))
    script.add("finish", "notes.txt now says final")
    # Second run: rejected, then a read-only replan.
    script.add("plan", plan_reply(step("s2", tool="read_file", args={"path": "notes.txt"})))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "the user kept the draft; s2"}))
    script.add("finish", "left the draft as the user asked")
    return script


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[OpenAIStandIn, Script]]:
    script = _script()
    with OpenAIStandIn(script) as server:
        yield server, script


@pytest.fixture(scope="module")
def server(
    stand_in: tuple[OpenAIStandIn, Script], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevServer]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TAVILY_"))}
    env["OPENAI_BASE_URL"] = stand_in[0].base_url
    env["LANGGRAPH_NO_ANALYTICS"] = "true"
    env["PLANLOOP_HOME"] = str(tmp_path_factory.mktemp("home"))
    dev = DevServer(env)
    try:
        assert dev.ready.wait(START_SECONDS) and dev.process.poll() is None, "".join(dev.output)
        yield dev
    finally:
        dev.stop()


async def _stream(client: Any, thread_id: str, **kwargs: Any) -> list[Any]:
    parts = []
    async for part in client.runs.stream(thread_id, "planloop", stream_mode=["updates"], **kwargs):
        parts.append(part)
    return parts


async def _paused_run(server: DevServer, workspace: Path) -> tuple[Any, str, dict[str, Any]]:
    (workspace / "notes.txt").write_text("a draft note")
    client = get_client(url=server.url)
    thread = await client.threads.create()
    context = {"workspace": str(workspace), "model": "stand-in", "memory": False}
    parts = await _stream(client, thread["thread_id"], input={"goal": "finalise notes"},
                          context=context)  # fmt: skip
    assert not any(p.event == "error" for p in parts), [p.data for p in parts]
    state = await client.threads.get_state(thread["thread_id"])
    return client, thread["thread_id"], state


async def test_approve_through_the_server(server: DevServer, tmp_path: Path) -> None:
    client, thread_id, state = await _paused_run(server, tmp_path)
    (interrupt,) = state["interrupts"]
    payload = interrupt["value"]
    assert payload["kind"] == "step_approval" and payload["step_id"] == "s1"
    assert payload["tool"] == "edit_file" and payload["args"] == EDIT
    assert payload["risk"] == "writes_workspace" and payload["why"]
    assert payload["budget_used"]["llm_calls"] == 2 and "projected" in payload
    values = state["values"]
    assert values["criteria"][0]["text"] == "notes.txt says final"
    assert values["plan"][0]["tool"] == "edit_file" and values["budget"]["llm_calls"] == 2
    assert values["pending_approvals"][0]["step_id"] == "s1"
    assert (tmp_path / "notes.txt").read_text() == "a draft note"

    answer = {"action": "approve", "step_id": "s1", "args_hash": payload["args_hash"]}
    context = {"workspace": str(tmp_path), "model": "stand-in", "memory": False}
    parts = await _stream(client, thread_id, command={"resume": {interrupt["id"]: answer}},
                          context=context)  # fmt: skip
    assert not any(p.event == "error" for p in parts), [p.data for p in parts]

    final = await client.threads.get_state(thread_id)
    assert final["next"] == [] and final["values"]["status"] == "done"
    assert (tmp_path / "notes.txt").read_text() == "a final note"
    assert (tmp_path / final["values"]["report_path"]).is_file()  # `finish` ran


async def test_reject_through_the_server(
    server: DevServer, stand_in: tuple[OpenAIStandIn, Script], tmp_path: Path
) -> None:
    client, thread_id, state = await _paused_run(server, tmp_path)
    (interrupt,) = state["interrupts"]
    payload = interrupt["value"]
    answer = {
        "action": "reject",
        "step_id": "s1",
        "args_hash": payload["args_hash"],
        "feedback": "keep my draft",
    }
    context = {"workspace": str(tmp_path), "model": "stand-in", "memory": False}
    parts = await _stream(client, thread_id, command={"resume": {interrupt["id"]: answer}},
                          context=context)  # fmt: skip
    assert not any(p.event == "error" for p in parts), [p.data for p in parts]

    final = await client.threads.get_state(thread_id)
    assert final["values"]["status"] == "done"
    assert (tmp_path / "notes.txt").read_text() == "a draft note"
    assert "REJECTED by the user" in final["values"]["results"]["s1"]["output"]
    assert "keep my draft" in stand_in[1].calls_for("plan")[-1][-2].text


async def test_studio_sees_typed_state_and_described_settings(server: DevServer) -> None:
    client = get_client(url=server.url)
    (assistant,) = await client.assistants.search(graph_id="planloop")
    schemas = await client.assistants.get_schemas(assistant["assistant_id"])
    state = schemas["state_schema"]
    text = str(state)
    for field in ("criteria", "plan", "results", "budget", "pending_approvals", "memory_hits"):
        assert field in state["properties"], field
    for nested in ("Criterion", "Step", "StepResult", "Budget", "PendingApproval", "MemoryHit"):
        assert nested in text, nested
    context = schemas.get("context_schema") or schemas.get("config_schema") or {}
    properties = context.get("properties", {})
    assert "max_steps" in properties and properties["max_steps"].get("description")
