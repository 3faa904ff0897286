"""The real `langgraph dev` server, driven with `langgraph-sdk`: approve and reject via the API.

The server runs the graph from langgraph.json in the repo root, exactly as the README's
`langgraph dev`, with a local OpenAI-compatible stand-in as its model (OPENAI_BASE_URL) and no
other set-up. Every run gets a temporary workspace through `context=`, so nothing is written
into the repo; the threads and memories a test creates in the server are deleted again (the
dev server persists them under .langgraph_api/ in the repo root).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from checkpoints.memory import Memory
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tests.openai_server import OpenAIStandIn

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 60
BIND_SECONDS = 10
RUN_SECONDS = 30
EDIT = {"path": "notes.txt", "old_text": "draft", "new_text": "final"}
READ = {"path": "notes.txt"}
GOAL = "finalise notes.txt"
CRITERION = "notes.txt says final"
MEMORY_USER = "server-test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DevServer:
    """`langgraph dev` in a subprocess, with its output collected by a reader thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        command = Path(sys.executable).with_name("langgraph")
        self.process = subprocess.Popen(
            [str(command), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.started = threading.Event()
        """Set when the app logged its start-up (before binding the port) or the process ended."""
        self._poll = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "Application started up" in line:
                self.started.set()
        self.started.set()  # the process ended: let the waiter see it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self, last: int = 80) -> str:
        """The server's newest output lines, for assertion messages."""
        return "".join(self.lines[-last:])

    def errors_since(self, mark: int) -> list[str]:
        """Error-level log lines (and tracebacks) the server wrote after line `mark`."""
        plain = (ANSI.sub("", line) for line in self.lines[mark:])
        return [line for line in plain if "[error" in line or line.startswith("Traceback")]

    def _answers_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ok", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, seconds: float) -> bool:
        """True once the server answers GET /ok; False when it ended or never answered.

        The start-up line alone is not enough: it is logged before the port is bound, and when
        the port is taken `langgraph dev` logs nothing more and keeps running without serving."""
        deadline = time.monotonic() + seconds
        if not self.started.wait(seconds):
            return False
        deadline = min(deadline, time.monotonic() + BIND_SECONDS)
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers_ok():
                return True
            self._poll.wait(0.05)  # bounded polling until the deadline, not a fixed sleep
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(5)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[OpenAIStandIn]:
    """The model server; each test installs its own `Script` as `stand_in.script`."""
    with OpenAIStandIn(Script()) as server:
        yield server


def server_env(stand_in: OpenAIStandIn, home: Path) -> dict[str, str]:
    """This environment minus model, web, planloop and LangSmith settings; the stand-in as model."""
    scrubbed = ("OPENAI_", "TAVILY_", "PLANLOOP_", "LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    env["OPENAI_BASE_URL"] = stand_in.base_url  # the Context default; no API key needed
    env["PLANLOOP_HOME"] = str(home)
    env["LANGGRAPH_CLI_NO_ANALYTICS"] = "1"  # the CLI's usage ping: the machine may be offline
    env["LANGSMITH_TRACING"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def server(
    stand_in: OpenAIStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevServer]:
    env = server_env(stand_in, tmp_path_factory.mktemp("home"))
    dev = start_server(env)
    try:
        yield dev
    finally:
        dev.stop()
        assert dev.process.returncode is not None


def start_server(env: dict[str, str]) -> DevServer:
    """A ready `langgraph dev`; a failure to start fails the test with the server's output."""
    failures = []
    for _ in range(3):  # a free port can be taken by someone else before the server binds it
        dev = DevServer(env)
        if dev.wait_ready(START_SECONDS):
            return dev
        port_taken = dev.started.is_set() and dev.process.poll() is None
        dev.stop()
        failures.append(
            f"--- port {dev.port}, exit code {dev.process.returncode}:\n{dev.output(200)}"
        )
        if not port_taken:
            break
    pytest.fail("langgraph dev did not start:\n" + "\n".join(failures))


@pytest.fixture
def project() -> str:
    """A memory project of this test only (the dev server's store outlives the test)."""
    return f"server-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(server: DevServer, project: str) -> AsyncIterator[LangGraphClient]:
    """An SDK client. The threads (tagged with `project`) and memories the test made in the
    server are deleted afterwards: `langgraph dev` keeps them in .langgraph_api/ in the repo."""
    sdk = get_client(url=server.url, api_key=None, timeout=RUN_SECONDS)
    try:
        yield sdk
    finally:
        for thread in await sdk.threads.search(metadata={"project": project}, limit=100):
            await sdk.threads.delete(thread["thread_id"])
        found = await sdk.store.search_items(list(_namespace(project)), limit=100)
        for item in found["items"]:
            await sdk.store.delete_item(item["namespace"], item["key"])
        await sdk.aclose()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A temporary workspace with a pre-existing notes.txt (so editing it needs approval)."""
    path = tmp_path / "ws"
    path.mkdir()
    (path / "notes.txt").write_text("a draft note")
    return path


def _namespace(project: str) -> tuple[str, str, str]:
    return ("planloop", MEMORY_USER, project)


def _context(workspace: Path, project: str) -> dict[str, Any]:
    """The run's settings (`Context` fields), as Studio's assistant configuration sends them."""
    return {
        "workspace": str(workspace),
        "model": "stand-in",
        "memory_user": MEMORY_USER,
        "project": project,
        "programs": False,  # the script plans tool calls
    }


async def _stream(
    server: DevServer, client: LangGraphClient, thread_id: str, **kwargs: Any
) -> list[tuple[str, Any]]:
    """Every (event, data) of one streamed run; fails on an error event, with the server log."""
    parts: list[tuple[str, Any]] = []
    async for part in client.runs.stream(
        thread_id, "planloop", stream_mode=["updates", "values"], **kwargs
    ):
        parts.append((part.event, part.data))
    errors = [data for event, data in parts if event == "error"]
    assert not errors, f"{errors}\nserver output:\n{server.output()}"
    return parts


async def _state(client: LangGraphClient, thread_id: str) -> dict[str, Any]:
    """The thread's state as Studio reads it: values, next, tasks, interrupts."""
    return dict(await client.threads.get_state(thread_id))


def _updated_nodes(parts: list[tuple[str, Any]]) -> list[str]:
    return [node for event, data in parts if event == "updates" for node in data]


async def _start_paused(
    server: DevServer, client: LangGraphClient, context: dict[str, Any]
) -> tuple[str, list[tuple[str, Any]], dict[str, Any]]:
    """A new thread whose run streams until the approval interrupt; its parts and its state."""
    thread = await client.threads.create(metadata={"project": context["project"]})
    thread_id = thread["thread_id"]
    parts = await _stream(server, client, thread_id, input={"goal": GOAL}, context=context)
    state = await _state(client, thread_id)
    assert state["next"] == ["execute_step"], f"{state}\nserver output:\n{server.output()}"
    return thread_id, parts, state


def _check_interrupt(parts: list[tuple[str, Any]], state: dict[str, Any]) -> tuple[str, Any]:
    """The one step approval: streamed as `__interrupt__`, and the same in the thread state."""
    streamed = [
        item
        for event, data in parts
        if event == "updates" and "__interrupt__" in data
        for item in data["__interrupt__"]
    ]
    (interrupt,) = state["interrupts"]
    assert [i["id"] for i in streamed] == [interrupt["id"]]
    assert streamed[0]["value"] == interrupt["value"]
    (task,) = state["tasks"]
    assert task["name"] == "execute_step"
    assert [i["id"] for i in task["interrupts"]] == [interrupt["id"]]

    payload = interrupt["value"]
    assert payload["kind"] == "step_approval" and payload["step_id"] == "s1"
    assert payload["description"] == "edit the notes" and "edit_file" in payload["summary"]
    assert payload["tool"] == "edit_file" and payload["args"] == EDIT
    assert payload["risk"] == "writes_workspace"
    assert payload["why"] == "the step may change files that existed before this run"
    assert isinstance(payload["args_hash"], str) and len(payload["args_hash"]) == 16
    assert payload["budget_used"]["llm_calls"] == 2  # parse_goal and plan
    assert payload["budget_used"]["prompt_tokens"] > 0 and payload["budget_used"]["steps"] == 0
    assert payload["projected"] == {"remaining_steps": 1, "estimated_cost_usd": 0.0}
    assert "refused" not in payload
    return interrupt["id"], payload


def _check_paused_values(values: dict[str, Any]) -> None:
    """The typed state Studio shows while the run waits: plain JSON objects, not strings."""
    assert values["goal"] == GOAL and values["status"] == "running"
    assert values["criteria"] == [
        {
            "id": "c1",
            "text": CRITERION,
            "met": False,
            "evidence": "",
            "check": None,  # "finalise notes.txt" names an input, not an output
            "check_passed": False,
        }
    ]
    (planned,) = values["plan"]
    assert planned == {
        "id": "s1",
        "description": "edit the notes",
        "expected": "notes.txt says final",
        "tool": "edit_file",
        "args": EDIT,
        "depends_on": [],
        "risk": "writes_workspace",
        "templated_args": None,
    }
    assert values["results"] == {}
    budget = values["budget"]
    assert set(budget) >= {
        "llm_calls", "prompt_tokens", "completion_tokens", "cost_usd", "tool_calls",
        "tool_errors", "steps", "replans", "seconds",
    }  # fmt: skip
    assert budget["llm_calls"] == 2 and budget["tool_calls"] == 0 and budget["steps"] == 0
    (pending,) = values["pending_approvals"]
    assert pending["step_id"] == "s1" and "edit_file" in pending["summary"]
    assert pending["why"] == "the step may change files that existed before this run"
    assert isinstance(values["memory_hits"], list)


def _edit_step() -> dict[str, Any]:
    return step(
        "s1",
        tool="edit_file",
        args=EDIT,
        description="edit the notes",
        expected="notes.txt says final",
        risk="writes_workspace",
    )


async def test_approve_through_the_server(
    server: DevServer,
    stand_in: OpenAIStandIn,
    client: LangGraphClient,
    workspace: Path,
    project: str,
) -> None:
    script = stand_in.script = Script()
    script.add("parse_goal", goal_reply(CRITERION))
    script.add("plan", plan_reply(_edit_step()))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited notes.txt"}))
    script.add("finish", "notes.txt now says final")
    context = _context(workspace, project)
    mark = len(server.lines)

    thread_id, parts, state = await _start_paused(server, client, context)
    assert _updated_nodes(parts)[:2] == ["parse_goal", "plan"]
    assert "finish" not in _updated_nodes(parts)
    interrupt_id, payload = _check_interrupt(parts, state)
    _check_paused_values(state["values"])
    assert (workspace / "notes.txt").read_text() == "a draft note"  # nothing ran yet
    assert {r["model"] for r in stand_in.requests[-2:]} == {"stand-in"}  # context= was used

    # A Studio user pastes the ready answer as it is: it is bound to this step and its args.
    answer = payload["ready_answers"]["approve"]
    assert answer == {"action": "approve", "step_id": "s1", "args_hash": payload["args_hash"]}
    parts = await _stream(
        server, client, thread_id, command={"resume": {interrupt_id: answer}}, context=context
    )
    nodes = _updated_nodes(parts)
    assert nodes[0] == "execute_step" and nodes[-1] == "finish", nodes
    assert "__interrupt__" not in nodes

    final = await _state(client, thread_id)
    values = final["values"]
    assert final["next"] == [] and final["interrupts"] == []
    assert values["status"] == "done" and values["answer"] == "notes.txt now says final"
    assert (workspace / "notes.txt").read_text() == "a final note"
    assert values["criteria"] == [
        {
            "id": "c1",
            "text": CRITERION,
            "met": True,
            "evidence": "s1 edited notes.txt",
            "check": None,
            "check_passed": False,
        }
    ]
    result = values["results"]["s1"]
    assert result["status"] == "done" and result["verdict"] == "pass"
    assert result["tool_calls"] == 1 and result["tool_errors"] == 0
    assert values["pending_approvals"] == []
    assert values["approvals"] == [
        {"step_id": "s1", "action": "approve", "args": None, "feedback": "", "why": payload["why"]}
    ]
    assert values["files_written"] == ["notes.txt"]
    assert values["budget"]["llm_calls"] == 4 and values["budget"]["steps"] == 1
    assert values["budget"]["tool_calls"] == 1
    # `finish` ran and wrote its report into the run's workspace, under the server's thread id.
    assert values["report_path"] == f"planloop-runs/{thread_id}/report.md"
    report = (workspace / values["report_path"]).read_text()
    assert thread_id in report and CRITERION in report
    answer_file = workspace / f"planloop-runs/{thread_id}/answer.md"
    assert answer_file.read_text() == "notes.txt now says final\n"
    # The streamed final values are the thread's state.
    last_values = [data for event, data in parts if event == "values"][-1]
    assert last_values["status"] == "done" and last_values["report_path"] == values["report_path"]
    assert not (REPO / "planloop-runs").exists() and not (REPO / "notes.txt").exists()
    # `finish` remembered the outcome in the server's store, in this run's namespace.
    stored = await client.store.search_items(list(_namespace(project)), limit=100)
    kinds = {item["value"]["kind"] for item in stored["items"]}
    assert "outcome" in kinds, stored
    assert not server.errors_since(mark), server.output()


async def test_reject_through_the_server(
    server: DevServer,
    stand_in: OpenAIStandIn,
    client: LangGraphClient,
    workspace: Path,
    project: str,
) -> None:
    # A memory in this run's namespace: the planner recalls it and Studio shows it as a hit.
    namespace = list(_namespace(project))
    lesson = {
        "kind": "lesson",
        "text": "the user keeps a draft in notes.txt; ask before making it final",
        "trusted": True,
        "source": "earlier-thread/s1",
        "thread_id": "earlier-thread",
        "step_id": "s1",
        "created_at": 1.0,
    }
    key = Memory(kind="lesson", text=str(lesson["text"])).key
    await client.store.put_item(namespace, key, lesson)
    script = stand_in.script = Script()
    script.add("parse_goal", goal_reply(CRITERION))
    script.add("plan", plan_reply(_edit_step()))
    script.add("plan", plan_reply(step("s2", tool="read_file", args=READ)))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "the user kept the draft; s2"}))
    script.add("finish", "left the draft as the user asked")
    context = _context(workspace, project)
    mark = len(server.lines)

    thread_id, parts, state = await _start_paused(server, client, context)
    interrupt_id, payload = _check_interrupt(parts, state)
    _check_paused_values(state["values"])
    (hit,) = state["values"]["memory_hits"]
    assert hit["id"] == key and hit["kind"] == "lesson" and hit["trusted"] is True
    assert hit["text"] == lesson["text"] and hit["source"] == "earlier-thread/s1"
    assert isinstance(hit["score"], float)  # BM25 over a single memory scores about 0
    first_plan_prompt = "\n".join(m.text for m in script.calls_for("plan")[0])
    assert f'<memory id="{key}" kind="lesson" trust="trusted"' in first_plan_prompt

    answer = {
        "action": "reject",
        "step_id": "s1",
        "args_hash": payload["args_hash"],
        "feedback": "keep my draft",
    }
    parts = await _stream(
        server, client, thread_id, command={"resume": {interrupt_id: answer}}, context=context
    )
    nodes = _updated_nodes(parts)
    assert nodes[0] == "execute_step" and "plan" in nodes and nodes[-1] == "finish", nodes

    final = await _state(client, thread_id)
    values = final["values"]
    assert final["next"] == [] and values["status"] == "done"
    assert values["answer"] == "left the draft as the user asked"
    assert (workspace / "notes.txt").read_text() == "a draft note"  # never edited
    rejected = values["results"]["s1"]
    assert rejected["output"].startswith("REJECTED by the user"), rejected
    assert "keep my draft" in rejected["output"] and rejected["tool_calls"] == 0
    assert values["results"]["s2"]["output"] == "a draft note"
    assert [s["id"] for s in values["plan"]] == ["s2"]  # the rejected step was replaced
    assert values["approvals"][0]["action"] == "reject"
    assert values["approvals"][0]["feedback"] == "keep my draft"
    assert values["files_written"] == [] and values["budget"]["replans"] == 1
    replan_prompt = "\n".join(m.text for m in script.calls_for("plan")[-1])
    assert "keep my draft" in replan_prompt
    assert (workspace / values["report_path"]).is_file()
    assert not server.errors_since(mark), server.output()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with a local `$ref` (or a nullable `anyOf` around one) resolved."""
    if "anyOf" in node:
        node = next(n for n in node["anyOf"] if n.get("type") != "null")
    ref = node.get("$ref")
    if ref:
        return dict(schema["$defs"][ref.rsplit("/", 1)[-1]])
    return node


def _object_fields(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    """The named fields of an object schema (empty for a bare `object`)."""
    return set(_resolve(schema, node).get("properties", {}))


async def test_studio_sees_typed_state_and_described_settings(client: LangGraphClient) -> None:
    (assistant,) = await client.assistants.search(graph_id="planloop")
    schemas: dict[str, Any] = dict(await client.assistants.get_schemas(assistant["assistant_id"]))
    state = schemas["state_schema"]
    props = state["properties"]

    def item_fields(name: str) -> set[str]:
        node = props[name]
        return _object_fields(state, node["items"]) if node.get("type") == "array" else set()

    def value_fields(name: str) -> set[str]:
        additional = props[name].get("additionalProperties")
        return _object_fields(state, additional) if isinstance(additional, dict) else set()

    def own_fields(name: str) -> set[str]:
        return _object_fields(state, props[name])

    # Each field a user inspects in Studio, with the nested fields its schema must name.
    expected: dict[str, tuple[Callable[[str], set[str]], set[str]]] = {
        "criteria": (item_fields, {"id", "text", "met", "evidence"}),
        "plan": (item_fields, {"id", "description", "expected", "tool", "args", "risk"}),
        "results": (value_fields, {"step_id", "status", "output", "verdict", "note"}),
        "pending_approvals": (item_fields, {"step_id", "summary", "why"}),
        "memory_hits": (item_fields, {"id", "kind", "text", "trusted", "source", "score"}),
        "approvals": (item_fields, {"step_id", "action", "args", "feedback"}),
        "budget": (own_fields, {"llm_calls", "prompt_tokens", "cost_usd", "steps"}),
    }
    problems: list[str] = []
    for name, (fields_of, wanted) in expected.items():
        if name not in props:
            problems.append(f"{name} is missing from the state schema")
            continue
        found = fields_of(name)
        if not wanted <= found:
            problems.append(f"{name} is untyped in the state schema: {props[name]}")
    assert not problems, "\n".join(problems)
    # Only state fields: the payload execute_step receives through Send is not state.
    assert not {"step", "inputs", "approval_reason", "remaining_steps"} & set(props)
    # Studio shows each nested field's docstring as its description.
    for nested in ("Step", "StepResult", "Criterion", "Budget", "PendingApproval", "MemoryHit"):
        undescribed = [
            name
            for name, field in state["$defs"][nested]["properties"].items()
            if not field.get("description")
        ]
        assert not undescribed, (nested, undescribed)

    # Studio's assistant configuration: every Context field with its description.
    for kind in ("context_schema", "config_schema"):
        settings = schemas[kind]
        assert settings["title"] == "Context" and settings.get("description"), kind
        fields = settings["properties"]
        assert {"workspace", "model", "approval", "max_steps", "memory"} <= set(fields), kind
        undocumented = [name for name, field in fields.items() if not field.get("description")]
        assert not undocumented, (kind, undocumented)
        assert fields["approval"]["enum"] == ["risky", "all", "none"]
        assert fields["max_steps"]["default"] == 20
    assert schemas["input_schema"]["required"] == ["goal"]
