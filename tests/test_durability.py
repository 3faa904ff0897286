"""Durability with real processes: seeded SIGKILLs, the journal, one writer per thread."""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import checkpoints.sqlite
from checkpoints.journal import Journal, active_journal, idempotency_key
from checkpoints.saver import CheckpointStoreError
from checkpoints.sqlite import SqliteStorage
from tests.fakes import Script, goal_reply, plan_reply, step
from tests.openai_server import OpenAIStandIn
from tests.test_crash_resume import WAIT_SECONDS, planloop_command
from tools import BUILTIN_TOOLS, run_tool
from tools.workspace import digest

pytestmark = pytest.mark.slow

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


NO_RUN = "no run with thread id"
LOCK_ERROR = re.compile(r"database is locked|already running|deadlock|lock timeout", re.I)


@dataclass
class Counts:
    """What a durability scenario measured; every count must be zero."""

    backend: str
    effects_repeated: int = 0
    """Lines appended more than once (or out of order) over all workspaces."""
    runs_lost: int = 0
    """Runs that did not end `done` with every line written."""
    lock_errors: int = 0
    """Lock failures: SQLite `database is locked`, a wrong refusal or a missing one."""
    seen: list[str] = field(default_factory=list)
    """What explains a non-zero count: the log as it ended, a failed process's last words."""

    def report(self, scenario: str, extra: str = "") -> None:
        print(
            f"[{self.backend}] {scenario}: effects repeated {self.effects_repeated}, "
            f"runs lost {self.runs_lost}, lock errors {self.lock_errors}"
            + (f"; {extra}" if extra else "")
        )

    def assert_clean(self) -> None:
        counts = (self.effects_repeated, self.runs_lost, self.lock_errors)
        assert counts == (0, 0, 0), f"{self.backend}: {counts}; " + " | ".join(self.seen)


def _db_flags(db: str | None) -> list[str]:
    return ["--db", db] if db else []


def _log_repeats(path: Path) -> int:
    """Effects repeated in a log: duplicate lines, or lines not in the planned order."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    duplicates = sum(n - 1 for n in Counter(lines).values())
    return duplicates or int(LINES[: len(lines)] != lines)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _complete(path: Path) -> bool:
    return path.exists() and path.read_text() == "".join(LINES)


def seeded_kills(
    workspace: Path, env: dict[str, str], *, db: str | None = None, thread: str = "k1"
) -> Counts:
    """SIGKILL one run at seeded moments, resuming after each kill, until it finishes."""
    counts = Counts("postgres" if db else "sqlite")
    rng = random.Random(20261121)
    log = workspace / "log.txt"
    first = ["run", "log six lines", "--workspace", str(workspace), "--thread-id", thread]
    killed = finished = mid_run = 0
    lines_at_kills: list[int] = []
    # Slow model replies (0.3 s) stretch a run to several seconds, so seeded kill moments
    # land mid-run on a fast machine too.
    with OpenAIStandIn(_endless_script(), latency_seconds=0.3) as server:
        first += ["--base-url", server.base_url, "--approve", "none", *_db_flags(db)]
        argv = run_argv = _cli(*first)
        resume_argv = _cli("resume", thread, *_db_flags(db))
        for _ in range(KILLS):
            process = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            try:
                # The kill point: a seeded moment in the run (start-up included).
                _, err = process.communicate(timeout=rng.uniform(0.2, 2.5))
            except subprocess.TimeoutExpired:
                before = _lines(log)
                process.send_signal(signal.SIGKILL)
                process.communicate()
                killed += 1
                mid_run += 0 < before < STEPS
                lines_at_kills.append(before)
                argv = resume_argv
            else:
                if NO_RUN in err:  # killed before the run was registered: start it again
                    argv = run_argv
                    continue
                finished += 1
                counts.lock_errors += bool(LOCK_ERROR.search(err))
            counts.effects_repeated = max(counts.effects_repeated, _log_repeats(log))
            if finished:
                break
        last = subprocess.run(
            _cli("show", thread, *_db_flags(db)),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if "status:    done" not in last.stdout:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if NO_RUN in done.stderr:
                done = subprocess.run(
                    run_argv, env=env, capture_output=True, text=True, check=False
                )
            counts.lock_errors += bool(LOCK_ERROR.search(done.stderr))
            counts.runs_lost += done.returncode != 0
            if done.returncode != 0:
                counts.seen.append(f"last run exit {done.returncode}: {done.stderr[-600:]!r}")
    counts.effects_repeated = max(counts.effects_repeated, _log_repeats(log))
    counts.runs_lost = max(counts.runs_lost, int(not _complete(log)))
    counts.seen.append(f"log.txt: {log.read_text() if log.exists() else None!r}")
    counts.seen.append(f"log lines at each kill: {lines_at_kills}")
    counts.report(
        "seeded SIGKILLs",
        f"kills {killed} ({mid_run} between effects), finished on their own {finished}",
    )
    assert killed >= 3
    return counts


def test_seeded_kills_never_lose_or_repeat_a_step(workspace: Path, env: dict[str, str]) -> None:
    seeded_kills(workspace, env).assert_clean()  # each effect exactly once


def busy_thread_refused(
    tmp_path: Path, env: dict[str, str], *, db: str | None = None, suffix: str = ""
) -> Counts:
    """A second process on a running thread is refused; another thread runs meanwhile."""
    counts = Counts("postgres" if db else "sqlite")
    busy, free = f"busy{suffix}", f"free{suffix}"
    ws_busy, ws_free = tmp_path / "ws-busy", tmp_path / "ws-free"
    ws_busy.mkdir()
    ws_free.mkdir()
    with OpenAIStandIn(_endless_script()) as server:
        server.hold("reflect")
        argv = ["--base-url", server.base_url, "--approve", "none", *_db_flags(db)]
        holder = subprocess.Popen(
            _cli("run", "log six lines", "--thread-id", busy, "--workspace", str(ws_busy), *argv),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.held.wait(WAIT_SECONDS)
            second = subprocess.run(
                _cli("resume", busy, *_db_flags(db)),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            expected = f"thread {busy} is already running (pid {holder.pid}"
            expected += " on " if db else ")"
            refused = second.returncode == 2 and expected in second.stderr
            counts.lock_errors += not refused
            other = subprocess.run(  # another thread on the same database runs meanwhile
                _cli("run", "log six lines", "--thread-id", free, "--workspace", str(ws_free))
                + argv,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            counts.lock_errors += bool(LOCK_ERROR.search(other.stderr))
        finally:
            server.release()
            holder_err = holder.communicate(timeout=WAIT_SECONDS)[1]
    counts.lock_errors += bool(LOCK_ERROR.search(holder_err))
    counts.runs_lost = (holder.returncode != 0 or not _complete(ws_busy / "log.txt")) + (
        other.returncode != 0 or not _complete(ws_free / "log.txt")
    )
    counts.effects_repeated = _log_repeats(ws_busy / "log.txt") + _log_repeats(ws_free / "log.txt")
    counts.report(
        "2 processes on one thread",
        f"second process exit {second.returncode} ({second.stderr.strip()[:90]!r})",
    )
    assert refused, second.stderr
    assert other.returncode == 0, other.stderr
    assert holder.returncode == 0, holder_err
    return counts


def test_second_process_on_a_running_thread_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    busy_thread_refused(tmp_path, env).assert_clean()


def many_threads(
    tmp_path: Path, env: dict[str, str], *, db: str | None = None, count: int = 16
) -> Counts:
    """`count` processes run `count` threads at once on one database."""
    counts = Counts("postgres" if db else "sqlite")
    prefix = f"p{uuid.uuid4().hex[:6]}-" if db else "p"
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
                        f"{prefix}{n}",
                        "--base-url",
                        server.base_url,
                        "--approve",
                        "none",
                        *_db_flags(db),
                    ),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        errors = [p.communicate(timeout=180)[1] for p in processes]
    logs = [tmp_path / f"ws{n}" / "log.txt" for n in range(count)]
    counts.lock_errors = sum(bool(LOCK_ERROR.search(e)) for e in errors)
    counts.effects_repeated = sum(_log_repeats(log) for log in logs)
    counts.runs_lost = sum(
        p.returncode != 0 or not _complete(log) for p, log in zip(processes, logs, strict=True)
    )
    counts.report(f"{count} processes on {count} threads")
    failed = [
        f"{n}: {e.strip()}"
        for n, (p, e) in enumerate(zip(processes, errors, strict=True))
        if p.returncode
    ]
    assert not failed, "\n".join(failed)
    return counts


def test_many_processes_on_many_threads_share_one_database(
    tmp_path: Path, env: dict[str, str]
) -> None:
    many_threads(tmp_path, env).assert_clean()


async def test_journal_replays_instead_of_acting_again(workspace: Path, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    token = active_journal.set(journal)
    tools = {spec.name: spec.tool for spec in BUILTIN_TOOLS}
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


async def test_set_up_waits_out_a_locked_database(tmp_path: Path) -> None:
    """A database another process holds during set-up is retried, not called unusable."""
    storage = SqliteStorage(tmp_path / "planloop.db")
    attempts = []

    async def locked_twice() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")

    await storage._set_up(locked_twice)
    assert len(attempts) == 3


async def test_a_database_locked_for_too_long_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held past the busy timeout: a one-line error naming the lock, not "not usable"."""
    monkeypatch.setattr(checkpoints.sqlite, "BUSY_TIMEOUT_MS", 300)
    path = tmp_path / "planloop.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(CheckpointStoreError, match="stayed locked by another process"):
            async with SqliteStorage(path).checkpointer():
                pass
    finally:
        holder.close()
