"""Durability with real processes: seeded SIGKILLs, the journal, one writer per thread."""

from __future__ import annotations

import random
import re
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from checkpoints.journal import Journal, active_journal, idempotency_key
from tests.fakes import Script, goal_reply, plan_reply, step
from tests.openai_server import OpenAIStandIn
from tests.test_crash_resume import WAIT_SECONDS, planloop_command
from tools import TOOLS, run_tool
from tools.workspace import digest

STEPS = 6
KILLS = 20
LINES = [f"line {n}\n" for n in range(1, STEPS + 1)]


def _reflect_all_pending(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """Pass every step named in the 'New results' part; meet c1 once the last step is there."""
    text = messages[-2].text if len(messages) > 1 else messages[-1].text
    new = text.split("New results to judge:")[1].split("Earlier results:")[0]
    ids = sorted(set(re.findall(r"<result step='(s\d+)'", new)))
    done = f"s{STEPS}" in ids
    return {
        "verdicts": [{"step_id": i, "ok": True, "note": "appended"} for i in ids],
        "criteria": [{"id": "c1", "met": True, "evidence": "all lines appended"}] if done else [],
        "replan": False,
        "reason": "",
    }


def _endless_script() -> Script:
    """Replies that never run out and do not depend on how often a call was retried."""
    chain = [
        step(
            f"s{n}",
            tool="append_file",
            args={"path": "log.txt", "content": LINES[n - 1]},
            depends_on=[f"s{n - 1}"] if n > 1 else [],
        )
        for n in range(1, STEPS + 1)
    ]
    script = Script()
    script.defaults.update(
        parse_goal=goal_reply("log.txt has six lines"),
        plan=plan_reply(*chain),
        reflect=_reflect_all_pending,
        finish="log.txt has six lines",
    )
    return script


def _cli(*args: str) -> list[str]:
    return [*planloop_command(), *args]


def test_seeded_kills_never_lose_or_repeat_a_step(
    workspace: Path, env: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(20261121)
    first = ["run", "log six lines", "--workspace", str(workspace), "--thread-id", "k1"]
    killed = finished = 0
    with OpenAIStandIn(_endless_script(), latency_seconds=0.05) as server:
        first += ["--base-url", server.base_url, "--approve", "none"]
        argv = _cli(*first)
        for _ in range(KILLS):
            process = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                # The kill point: a seeded moment in the run (start-up included).
                process.wait(timeout=rng.uniform(0.2, 2.5))
                finished += 1
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
            argv = _cli("resume", "k1")
            text = (workspace / "log.txt").read_text() if (workspace / "log.txt").exists() else ""
            assert LINES[: len(text.splitlines())] == text.splitlines(keepends=True), text
            if finished:
                break
        last = subprocess.run(
            _cli("show", "k1"), env=env, capture_output=True, text=True, check=True
        )
        if "status:    done" not in last.stdout:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
    print(f"kills: {killed}, runs that finished on their own: {finished}")
    assert killed >= 3
    assert (workspace / "log.txt").read_text() == "".join(LINES)  # each effect exactly once


def test_second_process_on_a_running_thread_is_refused(
    workspace: Path, env: dict[str, str], tmp_path: Path
) -> None:
    script = _endless_script()
    with OpenAIStandIn(script) as server:
        server.hold("reflect")
        argv = ["--workspace", str(workspace), "--base-url", server.base_url, "--approve", "none"]
        holder = subprocess.Popen(
            _cli("run", "log six lines", "--thread-id", "busy", *argv),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert server.held.wait(WAIT_SECONDS)
            second = subprocess.run(
                _cli("resume", "busy"), env=env, capture_output=True, text=True, check=False
            )
            assert second.returncode == 2
            assert f"thread busy is already running (pid {holder.pid})" in second.stderr
            other = subprocess.run(  # another thread on the same database runs meanwhile
                _cli("run", "log six lines", "--thread-id", "free", *argv),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert other.returncode == 0, other.stderr
        finally:
            server.release()
            holder.wait(WAIT_SECONDS)
    assert holder.returncode == 0


def test_many_processes_on_many_threads_share_one_database(
    tmp_path: Path, env: dict[str, str]
) -> None:
    count = 16
    with OpenAIStandIn(_endless_script()) as server:
        processes = []
        for n in range(count):
            ws = tmp_path / f"ws{n}"
            ws.mkdir()
            processes.append(
                subprocess.Popen(
                    _cli(
                        "run",
                        "log six lines",
                        "--workspace",
                        str(ws),
                        "--thread-id",
                        f"p{n}",
                        "--base-url",
                        server.base_url,
                        "--approve",
                        "none",
                    ),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * count, errors
    assert not any("locked" in e for e in errors)
    for n in range(count):
        assert (tmp_path / f"ws{n}" / "log.txt").read_text() == "".join(LINES)


async def test_journal_replays_instead_of_acting_again(workspace: Path, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    token = active_journal.set(journal)
    tools = {t.name: t for t in TOOLS}
    args = {"path": "log.txt", "content": "once\n"}
    try:
        (workspace / "log.txt").write_text("")
        # A crash after the effect but before the journal recorded it: the digest shows it ran.
        key = idempotency_key("t", "s1", "append_file", args)
        journal.start(
            key, thread_id="t", step_id="s1", tool="append_file", expected_digest=digest("once\n")
        )
        (workspace / "log.txt").write_text("once\n")
        kwargs: dict[str, Any] = {
            "limit": 1000,
            "workspace": str(workspace),
            "thread_id": "t",
            "side_effect": True,
        }
        replay = await _in_graph(tools, args, kwargs | {"step_id": "s1"})
        assert replay.ok and "already ran" in replay.text
        # A completed entry is replayed from the journal, not run again.
        again = await _in_graph(tools, args, kwargs | {"step_id": "s1"})
        assert "already ran" in again.text
        assert (workspace / "log.txt").read_text() == "once\n"
        # Another step with the same args is a different action.
        other = await _in_graph(tools, args, kwargs | {"step_id": "s2"})
        assert other.ok and (workspace / "log.txt").read_text() == "once\nonce\n"
    finally:
        active_journal.reset(token)
        journal.close()


async def _in_graph(tools: dict[str, Any], args: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """File tools read the workspace from the LangGraph runtime: call run_tool inside a graph."""
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    from nodes.context import Context

    class Box(TypedDict, total=False):
        out: Any

    async def call(_state: Box) -> Box:
        return {"out": await run_tool(tools, "append_file", args, **kwargs)}

    builder: StateGraph[Box, Context, Box, Box] = StateGraph(Box, context_schema=Context)
    builder.add_node("call", call)
    builder.add_edge(START, "call")
    builder.add_edge("call", END)
    result = await builder.compile().ainvoke({}, context=Context(workspace=kwargs["workspace"]))
    return result["out"]
