"""Nothing lost, nothing forged: planloop's own state stays out of the agent's reach, parallel
writes to one file all land, a finished code run is never run again after a crash, and a
planted symlink cannot wedge a thread.

Each test drives the compiled graph (scripted model) or the real CLI (local OpenAI stand-in)
with the real sandbox and a real SQLite file; `tests/test_postgres.py` repeats the crash and
parallel-write figures on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from checkpoints.journal import Journal, JournalEntry
from graph.api import arun
from nodes.context import Context
from nodes.llm import use_model_factory
from tests.fakes import Script, ScriptedChatModel, goal_reply, plan_reply, step
from tests.openai_server import OpenAIStandIn
from tests.test_crash_resume import WAIT_SECONDS, planloop_command
from tools import sandbox
from tools import workspace as workspace_module
from tools.artifacts import save_artifact, write_run_file
from tools.confinement import Confinement
from tools.failpoints import FAILPOINT_ENV
from tools.sandbox import SandboxLimits
from tools.sandbox_command import probe
from tools.workspace import WorkspaceError, read_text, write_text

BWRAP, FALLBACK = probe(), probe(bwrap=False)
LIMITS = SandboxLimits(timeout_seconds=30, memory_mb=512, max_processes=16, max_file_mb=10)
ISOLATIONS = [
    pytest.param(BWRAP, id="bwrap", marks=pytest.mark.skipif(not BWRAP.bwrap, reason="no bwrap")),
    pytest.param(FALLBACK, id="fallback"),
]


def _settings(workspace: Path | str, **extra: Any) -> Context:
    return Context(
        workspace=str(workspace),
        model="scripted",
        approval="none",
        memory=False,
        max_plan_steps=40,
        max_steps=60,
        max_tool_calls=100,
        **extra,
    )


def _script(*steps: dict[str, Any], replan: Sequence[dict[str, Any]] = ()) -> Script:
    """Plan `steps` (and `replan` after a failed step); each review passes its new results and
    meets c1 once every step has been judged in some review of this script (the script
    outlives a killed process)."""
    judged: set[str] = set()
    planned = {spec["id"] for spec in [*steps, *replan]}

    def review(messages: Sequence[BaseMessage]) -> dict[str, Any]:
        new = messages[-2].text if len(messages) > 1 else messages[-1].text
        new = new.split("New results to judge:")[-1].split("Earlier results:")[0]
        ids = sorted(set(re.findall(r"<result step='(\w+)'", new)))
        judged.update(ids)
        met = planned <= judged
        return {
            "verdicts": [{"step_id": i, "ok": True, "note": "ok"} for i in ids],
            "criteria": [{"id": "c1", "met": True, "evidence": "all steps ran"}] if met else [],
            "replan": False,
            "reason": "",
        }

    script = Script(plan=[plan_reply(*steps)])
    script.defaults.update(
        parse_goal=goal_reply("every step ran"),
        plan=plan_reply(*(replan or steps)),
        reflect=review,
        finish="every step ran",
    )
    return script


# --- 1. planloop's own state is out of reach ---------------------------------------------

SNOOP = """
import json, os, sqlite3
seen = {}
def attempt(name, action):
    try:
        seen[name] = repr(action())[:200]
    except Exception as exc:
        seen[name] = "refused: " + type(exc).__name__
attempt("list_home", lambda: sorted(os.listdir(HOME)))
attempt("read_db", lambda: open(os.path.join(HOME, "planloop.db"), "rb").read(16))
def forge():
    conn = sqlite3.connect(os.path.join(HOME, "planloop.db"))
    conn.execute("UPDATE planloop_journal SET observation = 'forged'")
    conn.commit()
    return conn.execute("SELECT name FROM sqlite_master").fetchall()
attempt("forge_journal", forge)
attempt("list_locks", lambda: os.listdir(os.path.join(HOME, "locks")))
attempt("write_home", lambda: open(os.path.join(HOME, "planted"), "w").write("x"))
attempt("read_other_run", lambda: open("planloop-runs/other-run/answer.md").read())
attempt("list_runs", lambda: sorted(os.listdir("planloop-runs")))
attempt("replace_own_run", lambda: os.rename("planloop-runs/me", "planloop-runs/gone"))
print(json.dumps(seen))
"""


def _snoop_steps(home: str) -> list[dict[str, Any]]:
    db = f"{home}/planloop.db"
    return [
        step("s1", tool="run_python", args={"code": f"HOME = {home!r}\n" + SNOOP}),
        step("s2", tool="read_file", args={"path": db}),
        step("s3", tool="write_file", args={"path": db, "content": "garbage"}),
        step("s4", tool="append_file", args={"path": f"{home}/locks/x.lock", "content": "1"}),
        step("s5", tool="read_file", args={"path": "planloop-runs/other-run/answer.md"}),
        step("s6", tool="list_files", args={"path": "."}),
        step("s7", tool="list_files", args={"path": home}),
        step("s8", tool="write_file", args={"path": "planloop-runs/me/answer.md", "content": "x"}),
    ]


@pytest.mark.parametrize("iso", ISOLATIONS)
@pytest.mark.parametrize("layout", ["default", "home-inside-workspace"])
async def test_the_agent_cannot_reach_planloops_own_state(
    layout: str,
    iso: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace = tmp_path / "project"
    workspace.mkdir()
    (workspace / "data.txt").write_text("the user's file\n")
    other = workspace / "planloop-runs" / "other-run"
    other.mkdir(parents=True)
    (other / "answer.md").write_text("another run's secret answer\n")
    if layout == "default":  # `--workspace .` with PLANLOOP_HOME unset: ./.planloop
        monkeypatch.chdir(workspace)
        home, run_in = ".planloop", "."
    else:  # --workspace pointing at the home's parent
        monkeypatch.setenv("PLANLOOP_HOME", str(workspace / "state"))
        home, run_in = "state", str(workspace)
    monkeypatch.setattr(sandbox, "probe", lambda: iso)
    # The refusals fail their steps, so the planner is asked again: it lists the workspace.
    script = _script(*_snoop_steps(home), replan=[step("s9", tool="list_files")])
    with use_model_factory(lambda _context: ScriptedChatModel(script=script)):
        outcome = await arun(
            "snoop", context=_settings(run_in, max_parallel_steps=8), thread_id="me"
        )

    db = workspace / home / "planloop.db"
    seen = json.loads(outcome.results["s1"].output.split("--- stdout ---\n")[1].split("\n")[0])
    assert seen["list_home"] == "[]"  # an empty folder stands in for the state folder
    for attempt in ("read_db", "forge_journal", "list_locks", "write_home", "read_other_run"):
        assert seen[attempt].startswith("refused"), (attempt, seen[attempt])
    assert seen["list_runs"] == "['me']"  # other runs' records are gone from its view
    assert seen["replace_own_run"].startswith("refused")
    refused = {"s2", "s3", "s4", "s5", "s8"}
    for step_id in refused:
        assert outcome.results[step_id].output.startswith("ERROR"), (step_id, outcome)
    assert "planloop's own state" in outcome.results["s2"].output
    assert "another planloop run" in outcome.results["s5"].output
    assert "may read it, not change it" in outcome.results["s8"].output
    listing = outcome.results["s6"].output
    assert "data.txt" in listing and "planloop.db" not in listing and "other-run" not in listing
    assert outcome.results["s7"].output.startswith("ERROR")
    # The database is intact and unforged; nothing was planted in the state folder.
    with sqlite3.connect(db) as conn:
        forged = conn.execute(
            "SELECT count(*) FROM planloop_journal WHERE observation = 'forged'"
        ).fetchone()
    assert forged == (0,)
    assert not (workspace / home / "planted").exists()
    assert (other / "answer.md").read_text() == "another run's secret answer\n"
    assert outcome.status == "done"


@pytest.mark.slow
@pytest.mark.parametrize("inside", ["", "locks"])
def test_a_workspace_inside_the_state_folder_is_refused(
    inside: str, tmp_path: Path, env: dict[str, str]
) -> None:
    home = Path(env["PLANLOOP_HOME"])
    workspace = home / inside if inside else home
    workspace.mkdir(parents=True)
    result = subprocess.run(
        [*planloop_command(), "run", "anything", "--workspace", str(workspace),
         "--base-url", "http://127.0.0.1:9/v1"],
        env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "planloop's state folder" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# --- 2. parallel writes to one file ------------------------------------------------------

WRITERS = 16


async def parallel_writes(workspace: Path, db: Path | str) -> tuple[str, int, int]:
    """8 appends and 8 edits of one file, all ready at once, run with 16 in parallel; returns
    (status, changes kept, changes lost)."""
    half = WRITERS // 2
    seed = step(
        "s00",
        tool="write_file",
        args={"path": "shared.txt", "content": "".join(f"slot {n}\n" for n in range(half))},
    )
    appends = [
        step(
            f"a{n}",
            tool="append_file",
            args={"path": "shared.txt", "content": f"append {n}\n"},
            depends_on=["s00"],
        )
        for n in range(half)
    ]
    edits = [
        step(
            f"e{n}",
            tool="edit_file",
            args={"path": "shared.txt", "old_text": f"slot {n}\n", "new_text": f"edited {n}\n"},
            depends_on=["s00"],
        )
        for n in range(half)
    ]
    script = _script(seed, *appends, *edits)
    with use_model_factory(lambda _context: ScriptedChatModel(script=script)):
        outcome = await arun(
            "16 writers", context=_settings(workspace, max_parallel_steps=WRITERS), db=db
        )
    lines = set((workspace / "shared.txt").read_text().splitlines())
    wanted = {f"append {n}" for n in range(half)} | {f"edited {n}" for n in range(half)}
    return outcome.status, len(wanted & lines), len(wanted - lines)


async def ordered_writes(workspace: Path, db: Path | str) -> tuple[str, str]:
    """16 appends the plan orders one after another; returns (status, the file)."""
    chain = [
        step(
            f"s{n}",
            tool="append_file",
            args={"path": "ordered.txt", "content": f"{n}\n"},
            depends_on=[f"s{n - 1}"] if n else [],
        )
        for n in range(WRITERS)
    ]
    script = _script(*chain)
    with use_model_factory(lambda _context: ScriptedChatModel(script=script)):
        outcome = await arun(
            "ordered", context=_settings(workspace, max_parallel_steps=WRITERS), db=db
        )
    return outcome.status, (workspace / "ordered.txt").read_text()


ORDERED = "".join(f"{n}\n" for n in range(WRITERS))


async def test_parallel_appends_and_edits_to_one_file_all_land(
    workspace: Path, db_path: Path
) -> None:
    figures = await parallel_writes(workspace, db_path)
    print(f"\nsqlite: 16 parallel writers, kept {figures[1]}, lost {figures[2]}")
    assert figures == ("done", WRITERS, 0)


async def test_ordered_appends_keep_the_plans_order(workspace: Path, db_path: Path) -> None:
    assert await ordered_writes(workspace, db_path) == ("done", ORDERED)


# --- 3. a crash at any point: nothing repeated, nothing lost ------------------------------

CRASH_STEPS = [
    *[
        step(f"s{n}", tool="append_file", args={"path": "log.txt", "content": f"line {n}\n"})
        for n in range(1, 5)
    ],
    step(
        "s5",
        tool="run_python",
        args={"code": "open('code.txt', 'a').write('first\\n')\nprint('wrote first')"},
    ),
    step(
        "s6",
        tool="run_python",
        args={"code": "open('code.txt', 'a').write('second\\n')\nprint('answer', 6 * 7)"},
        depends_on=["s5"],
    ),
    step(
        "s7",
        tool="edit_file",
        args={"path": "log.txt", "old_text": "line 1\n", "new_text": "line one\n"},
        depends_on=["s1"],
    ),
]
POINTS_PER_RUN = 7 * 3 + 2
"""Failpoints one clean run passes: started, done, completed per action; two program exits."""


def _check_effects(workspace: Path) -> tuple[int, int]:
    """(effects repeated, effects lost) in the crash scenario's files."""
    log = (
        (workspace / "log.txt").read_text().splitlines() if (workspace / "log.txt").exists() else []
    )
    code = (
        (workspace / "code.txt").read_text().splitlines()
        if (workspace / "code.txt").exists()
        else []
    )
    want_log = {"line one", "line 2", "line 3", "line 4"}
    want_code = ["first", "second"]
    repeated = max(len(log) - len(set(log)), 0) + max(len(code) - len(want_code), 0)
    lost = len(want_log - set(log)) + len([c for c in want_code if c not in code])
    return repeated, lost


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (of all its threads)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _await_exit(pids: Sequence[int]) -> None:
    """Block until each process has ended (a pidfd becomes readable when its process exits)."""
    for pid in pids:
        try:
            handle = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([handle], [], [], WAIT_SECONDS)
            assert ready, f"process {pid} is still running"
        finally:
            os.close(handle)


def _frozen_then_killed(
    argv: list[str], env: dict[str, str], point: str
) -> subprocess.Popen[bytes]:
    """Start planloop with a failpoint; wait until it stops there, then SIGKILL it.

    Programs it had started in the sandbox run on while planloop is frozen; the kill comes once
    they have ended, so every program of the run has finished by then and none may run again
    (one still running when planloop dies may, by the spec: that is not what this measures).
    """
    process = subprocess.Popen(
        argv,
        env={**env, FAILPOINT_ENV: point},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status = os.waitpid(process.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"planloop ended ({status}) without reaching {point}"
    _await_exit(_children(process.pid))
    process.kill()
    process.wait(WAIT_SECONDS)
    return process


def crash_at_points(
    tmp_path: Path, env: dict[str, str], points: Sequence[str], *, db: str | None = None
) -> list[tuple[str, int, int, str]]:
    """For each failpoint: a fresh run frozen there, killed with SIGKILL, then resumed to its
    end; returns (point, effects repeated, effects lost, resumed status) per point."""
    figures = []
    for index, point in enumerate(points):
        with OpenAIStandIn(_script(*CRASH_STEPS)) as server:
            workspace = tmp_path / f"ws{index}"
            workspace.mkdir()
            thread = f"crash-{index}-{os.getpid()}"
            flags = ["--base-url", server.base_url, *(["--db", db] if db else [])]
            argv = [*planloop_command(), "run", "crash me", "--workspace", str(workspace),
                    "--thread-id", thread, "--approve", "none", "--parallel", "4",
                    "--max-steps", "20", *flags]  # fmt: skip
            _frozen_then_killed(argv, env, point)
            resumed = subprocess.run(
                [*planloop_command(), "resume", thread, *flags],
                env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False,
            )  # fmt: skip
            status = "done" if "status: done" in resumed.stdout else resumed.stdout[-300:]
            figures.append((point, *_check_effects(workspace), status))
    return figures


def seeded_points(count: int = 20) -> list[str]:
    """`count` distinct failpoint passes of the crash scenario, chosen by a fixed seed, plus the
    two windows the journal alone cannot see: a program has exited, its completion is not
    journaled (before and after planloop saved the observation)."""
    rng = random.Random(20261201)
    passes = rng.sample(range(1, POINTS_PER_RUN + 1), count - 2)
    windows = ["program-exited@1", "action-done:run_python@2"]
    return [*windows, *(f"*@{n}" for n in sorted(passes))]


@pytest.mark.slow
def test_a_finished_code_run_is_not_run_again_after_a_crash(
    tmp_path: Path, env: dict[str, str]
) -> None:
    points = ["program-exited@1", "program-exited@2", "action-done:run_python@1"]
    figures = crash_at_points(tmp_path, env, points)
    assert figures == [(point, 0, 0, "done") for point in points]


@pytest.mark.slow
def test_kill_at_twenty_seeded_points_repeats_and_loses_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    points = seeded_points()
    figures = crash_at_points(tmp_path, env, points)
    repeated = sum(f[1] for f in figures)
    lost = sum(f[2] for f in figures)
    print(f"\nsqlite: {len(points)} kills, {repeated} effects repeated, {lost} lost")
    assert [f for f in figures if f[1:] != (0, 0, "done")] == []


# --- 4. a planted symlink cannot wedge the thread ----------------------------------------


@pytest.mark.parametrize("planted", ["link-out", "file", "runs-link-out", "report-folder"])
def test_run_files_are_written_inside_whatever_was_planted(planted: str, tmp_path: Path) -> None:
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    runs = workspace / "planloop-runs"
    runs.mkdir()
    if planted == "link-out":
        (runs / "t1").symlink_to(outside)
    elif planted == "file":
        (runs / "t1").write_text("the agent's file")
    elif planted == "report-folder":
        (runs / "t1" / "report.md").mkdir(parents=True)
    else:
        runs.rmdir()
        runs.symlink_to(outside)

    path = save_artifact(workspace, "t1", "run_python", "x" * 5000)
    write_run_file(workspace, "t1", "report.md", "# report")

    assert list(outside.iterdir()) == []  # nothing written through the link
    assert (workspace / path).read_text() == "x" * 5000
    assert not (workspace / "planloop-runs").is_symlink()
    assert not (workspace / "planloop-runs" / "t1").is_symlink()
    assert (workspace / "planloop-runs" / "t1" / "report.md").read_text() == "# report"
    if planted == "file":  # moved aside, not destroyed
        (aside,) = [p for p in runs.iterdir() if p.name.startswith("t1.displaced-")]
        assert aside.read_text() == "the agent's file"


@pytest.mark.slow
@pytest.mark.parametrize("planter", ["program", "earlier-program"])
def test_a_planted_symlink_does_not_wedge_the_run(
    planter: str, workspace: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """`program`: the run's own code tries to plant the link (the sandbox's read-only view of
    planloop-runs stops it); `earlier-program`: the link is already there when the run starts
    (as code run without that view could have left it), and planloop writes around it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    plant = (
        "import os, shutil\n"
        "try:\n"
        "    os.makedirs('planloop-runs', exist_ok=True)\n"
        "    if os.path.isdir('planloop-runs/wedge'):\n"
        "        shutil.rmtree('planloop-runs/wedge')\n"
        f"    os.symlink({str(outside)!r}, 'planloop-runs/wedge')\n"
        "    print('planted')\n"
        "except OSError as exc:\n"
        "    print('refused', exc)\n"
    )
    if planter == "earlier-program":
        (workspace / "planloop-runs").mkdir()
        (workspace / "planloop-runs" / "wedge").symlink_to(outside)
        (workspace / "big.txt").write_text("z" * 30000)
        first = step("s1", tool="read_file", args={"path": "big.txt"})
    else:
        first = step("s1", tool="run_python", args={"code": plant})
    script = _script(
        first,
        step("s2", tool="run_python", args={"code": "print('y' * 20000)"}, depends_on=["s1"]),
    )
    with OpenAIStandIn(script) as server:
        result = subprocess.run(
            [*planloop_command(), "run", "wedge it", "--workspace", str(workspace),
             "--thread-id", "wedge", "--approve", "none", "--base-url", server.base_url],
            env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status: done" in result.stdout
    assert list(outside.iterdir()) == []
    run_folder = workspace / "planloop-runs" / "wedge"
    assert not run_folder.is_symlink() and (run_folder / "report.md").is_file()
    artifacts = [p.read_text() for p in (run_folder / "artifacts").iterdir()]
    assert any("y" * 100 in text for text in artifacts)
    if planter == "earlier-program":
        assert any("z" * 100 in text for text in artifacts)


def test_a_journal_from_before_receipts_gains_its_new_column(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the journal as planloop created it before this column
        conn.execute(
            "CREATE TABLE planloop_journal (key VARCHAR PRIMARY KEY, thread_id VARCHAR NOT NULL, "
            "step_id VARCHAR NOT NULL, tool VARCHAR NOT NULL, status VARCHAR NOT NULL, "
            "expected_digest VARCHAR, observation TEXT, started_at FLOAT NOT NULL, "
            "completed_at FLOAT)"
        )
        conn.execute(
            "INSERT INTO planloop_journal VALUES ('old', 't', 's1', 'write_file', 'completed', "
            "NULL, 'wrote 1 byte', 0, 1)"
        )
    journal = Journal(db)
    try:
        assert journal.get("old") == JournalEntry(
            key="old", status="completed", expected_digest=None, observation="wrote 1 byte",
            tool="write_file", target=None,
        )  # fmt: skip
        journal.start("new", thread_id="t", step_id="s2", tool="append_file",
                      expected_digest="d", target="log.txt")  # fmt: skip
        assert [e.target for e in journal.unfinished("t")] == ["log.txt"]
        Journal(db).close()  # a second open finds the column there: nothing to add
    finally:
        journal.close()


@pytest.mark.parametrize("iso", ISOLATIONS)
async def test_planloops_code_in_the_workspace_is_read_only(iso: object, workspace: Path) -> None:
    code = workspace / "graph"
    code.mkdir()
    (code / "api.py").write_text("ORIGINAL = True\n")
    guard = Confinement.of(workspace.resolve(), "t1", read_only=(code.resolve(),))
    program = (
        "print(open('graph/api.py').read().strip())\n"
        "try:\n"
        "    open('graph/api.py', 'w').write('import os  # planted')\n"
        "    print('changed')\n"
        "except OSError as exc:\n"
        "    print('refused', type(exc).__name__)\n"
    )
    result = await sandbox.run_python_code(
        program,
        workspace,
        LIMITS,
        isolation=iso,
        confinement=guard,  # type: ignore[arg-type]
    )
    assert "ORIGINAL = True" in result.stdout and "refused" in result.stdout, result
    assert (code / "api.py").read_text() == "ORIGINAL = True\n"
    with pytest.raises(WorkspaceError, match="planloop's own code"):
        write_text(workspace, "graph/api.py", "planted", guard=guard)
    assert read_text(workspace, "graph/api.py", 100, guard=guard) == "ORIGINAL = True\n"


async def test_outside_drive_the_default_state_and_the_dev_servers_are_hidden(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As under `langgraph dev`: the graph runs without `drive`, in the server's folder."""
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.builder import build_graph

    monkeypatch.chdir(workspace)
    for folder in (".planloop", ".langgraph_api"):
        (workspace / folder).mkdir()
        (workspace / folder / "secret.txt").write_text("planloop's own")
    script = _script(
        step("s1", tool="read_file", args={"path": ".langgraph_api/secret.txt"}),
        step("s2", tool="run_python", args={"code": "import os\nprint(os.listdir('.planloop'))"}),
        replan=[step("s3", tool="list_files")],
    )
    app = build_graph().compile(checkpointer=InMemorySaver())
    with use_model_factory(lambda _context: ScriptedChatModel(script=script)):
        final = await app.ainvoke(
            {"goal": "snoop"},
            {"configurable": {"thread_id": "dev"}, "recursion_limit": 100},
            context=_settings(workspace),
        )
    results = final["results"]
    assert "planloop's own state" in results["s1"].output
    assert "[]" in results["s2"].output  # an empty folder stands in for it


@pytest.mark.parametrize("operation", ["write", "append", "edit", "read"])
def test_a_folder_swapped_for_a_link_after_the_check_redirects_nothing(
    operation: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code running beside a file tool swaps a checked folder for a link into planloop's state
    between the path check and the file operation (the race a parallel run_python can win)."""
    state = workspace / ".planloop"
    state.mkdir()
    (state / "planloop.db").write_text("the database")
    (workspace / "d").mkdir()
    (workspace / "d" / "planloop.db").write_text("a user file")
    guard = Confinement.of(workspace.resolve(), "t1", (state.resolve(),))
    real_lock = workspace_module.file_lock

    @contextmanager
    def swap_first(target: Path) -> Iterator[None]:
        (workspace / "d").rename(workspace / "d-moved")
        (workspace / "d").symlink_to(".planloop")  # relative: resolves into the state folder
        with real_lock(target):
            yield

    monkeypatch.setattr(workspace_module, "file_lock", swap_first)
    if operation == "read":  # reads take no lock: swap right after the check instead
        real_resolve = workspace_module.resolve_in_workspace

        def resolve_then_swap(*args: Any, **kwargs: Any) -> Path:
            resolved = real_resolve(*args, **kwargs)
            with swap_first(resolved):
                return resolved

        monkeypatch.setattr(workspace_module, "resolve_in_workspace", resolve_then_swap)
    act = {
        "write": lambda: write_text(workspace, "d/planloop.db", "forged", guard=guard),
        "append": lambda: workspace_module.append_text(
            workspace, "d/planloop.db", "forged", guard=guard
        ),
        "edit": lambda: workspace_module.edit_text(
            workspace, "d/planloop.db", "a user", "forged", guard=guard
        ),
        "read": lambda: read_text(workspace, "d/planloop.db", 100, guard=guard),
    }[operation]
    with pytest.raises(WorkspaceError, match="changed while planloop was using it"):
        act()
    assert (state / "planloop.db").read_text() == "the database"


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "x" * 101, "tab\there"])
def test_a_thread_id_that_cannot_name_a_folder_is_refused(
    bad: str, workspace: Path, env: dict[str, str]
) -> None:
    result = subprocess.run(
        [*planloop_command(), "run", "anything", "--workspace", str(workspace),
         "--thread-id", bad, "--base-url", "http://127.0.0.1:9/v1"],
        env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "may use only letters" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (workspace / "planloop-runs").exists()
