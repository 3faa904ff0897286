"""Adversarial tests of run_python's sandbox, asserting effects on files, processes and sockets.

Each protection was shown to matter once, by running the same program with that protection
turned off (the notes at each test say how and what happened). Tests marked for both modes run
with bubblewrap and with the fallback (`probe(bwrap=False)`: rlimits, scrubbed env, uid 65534
as root, unshare, Landlock). What the fallback cannot guarantee, and is not tested here: without
Landlock, reads and writes outside the workspace (as root it keeps CAP_DAC_OVERRIDE so the
workspace stays writable); without unshare, UDP and detached processes outliving the timeout;
in any case, connecting to UNIX sockets on the filesystem.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tests.waiting import eventually_async
from tools.sandbox import SandboxLimits, SandboxResult, isolation_mode, run_python_code
from tools.sandbox_boot import SETUP_FAILED
from tools.sandbox_command import SANDBOX_UID, Isolation, probe
from tools.sanitize import sanitize

KILLED_WITHIN = 30
"""Seconds past its timeout by which a program must be gone: generous for a loaded machine,
yet a program that was not killed (these loop forever) would not meet it."""
LIMITS = SandboxLimits(timeout_seconds=3, memory_mb=256, max_processes=16, max_file_mb=10)
BWRAP, FALLBACK = probe(), probe(bwrap=False)


@pytest.fixture(
    params=[
        pytest.param(
            BWRAP, id="bwrap", marks=pytest.mark.skipif(not BWRAP.bwrap, reason="no bwrap")
        ),
        pytest.param(FALLBACK, id="fallback"),
    ]
)
def iso(request: pytest.FixtureRequest) -> Isolation:
    """Both isolation modes: bubblewrap (when it works here) and the fallback without it."""
    mode: Isolation = request.param
    return mode


async def run(
    code: str, workspace: Path, iso: Isolation = BWRAP, limits: SandboxLimits = LIMITS
) -> SandboxResult:
    return await run_python_code(code, workspace, limits, isolation=iso)


def _processes_with(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_text(errors="replace"):
                found.append(cmdline.parent.name)
        except OSError:
            continue
    return found


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A real TCP server on loopback that records every connection it accepts."""
    accepted: list[object] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


async def test_normal_program_output_and_created_files(workspace: Path, iso: Isolation) -> None:
    (workspace / "helper.py").write_text("def total(xs):\n    return sum(xs)\n")
    code = "import helper\nopen('data.csv','w').write('a,b\\n1,2\\n')\nprint(helper.total([1, 2]))"
    result = await run(code, workspace, iso)
    assert result.exit_code == 0 and result.stdout.strip() == "3" and not result.limit_hit
    assert result.created_files == ["data.csv"]  # helper.py existed before; no __pycache__
    assert (workspace / "data.csv").read_text() == "a,b\n1,2\n"
    assert result.isolation == iso.describe()


async def test_failing_program_reports_its_traceback(workspace: Path) -> None:
    result = await run("x = 1\n1 / 0", workspace)
    assert result.exit_code == 1 and not result.limit_hit
    assert 'File "<program>", line 2' in result.stderr and "ZeroDivisionError" in result.stderr
    assert "sandbox_boot" not in result.stderr and "<string>" not in result.stderr


def _daemon_then_loop(marker: str) -> str:
    """A program that leaves a daemon behind (new session, parent gone), then spins forever."""
    return (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork():\n"
        "        os._exit(0)\n"
        f"    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', "
        f"'{marker}'])\n"
        "while True: pass\n"
    )


# Without protection: `while True: pass` in a plain subprocess was still running after 6 s
# (the sandbox's CPU rlimit alone stops it after timeout + 1 CPU seconds, as "cpu"). Without the
# PID namespace (unshare without --pid, or bwrap without --unshare-pid) the daemon survived.
async def test_infinite_loop_and_its_daemon_are_killed_at_the_timeout(
    workspace: Path, iso: Isolation
) -> None:
    if not (iso.bwrap or iso.unshare):
        pytest.skip("without a PID namespace a daemon outlives the timeout (documented)")
    marker = f"planloop-escapee-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = await run(_daemon_then_loop(marker), workspace, iso)
    assert result.timed_out and result.limit_hit == "timeout" and result.exit_code is None
    assert time.monotonic() - started < LIMITS.timeout_seconds + KILLED_WITHIN
    assert await eventually_async(lambda: _processes_with(marker) == [])


async def test_a_cancelled_run_leaves_no_process_behind(workspace: Path, iso: Isolation) -> None:
    if not (iso.bwrap or iso.unshare):
        pytest.skip("without a PID namespace a daemon outlives the run (documented)")
    marker = f"planloop-escapee-{uuid.uuid4().hex}"
    limits = replace(LIMITS, timeout_seconds=30)
    task = asyncio.create_task(run(_daemon_then_loop(marker), workspace, iso, limits))
    assert await eventually_async(lambda: bool(_processes_with(marker)))  # the daemon runs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await eventually_async(lambda: _processes_with(marker) == [])


# Without protection: with unshare not under `setpriv --pdeathsig KILL`, the program and its
# daemon kept running after planloop was killed.
async def test_the_program_dies_with_planloop(
    workspace: Path, iso: Isolation, tmp_path: Path
) -> None:
    if not (iso.bwrap or iso.unshare):
        pytest.skip("without a PID namespace a daemon outlives planloop (documented)")
    marker = f"planloop-escapee-{uuid.uuid4().hex}"
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import asyncio, sys\n"
        "from tools.sandbox import SandboxLimits, run_python_code\n"
        "from tools.sandbox_command import probe\n"
        f"limits = SandboxLimits(timeout_seconds=30, memory_mb=256, max_processes=16, "
        "max_file_mb=10)\n"
        f"isolation = probe(bwrap={bool(iso.bwrap)})\n"
        "code = open(sys.argv[1]).read()\n"  # not on a command line, where the marker is sought
        f"asyncio.run(run_python_code(code, {str(workspace)!r}, limits, isolation=isolation))\n"
    )
    program = tmp_path / "program.txt"
    program.write_text(_daemon_then_loop(marker))
    root = Path(__file__).resolve().parents[1]
    planloop = subprocess.Popen([sys.executable, str(parent), str(program)], cwd=root)
    try:
        assert await eventually_async(lambda: bool(_processes_with(marker)))  # the daemon runs
    finally:
        planloop.kill()
        planloop.wait()
    assert await eventually_async(lambda: _processes_with(marker) == [])


# Without protection: with memory_mb=8192 the same program printed "allocated" (after 7 s).
async def test_memory_bomb_hits_the_memory_limit(workspace: Path, iso: Isolation) -> None:
    result = await run("x = bytearray(2 * 1024**3)\nprint('allocated')", workspace, iso)
    assert result.limit_hit == "memory" and "allocated" not in result.stdout


# Without protection: run as root's kuid 0 (bubblewrap's user namespace maps uid 65534 to root,
# which is what the sandbox did before it switched uid), a bounded variant (`for i in range(7):
# os.fork()`) started all 128 processes with RLIMIT_NPROC=16; the kernel never applies it to
# uid 0. With the switch to uid 65534 the first forks beyond 16 failed.
def _task_table() -> dict[int, tuple[int, int, int, int]]:
    """pid -> (parent pid, session id, uid, threads) of every task /proc shows."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat, status = (entry / "stat").read_text(), (entry / "status").read_text()
        except OSError:
            continue  # it ended while we looked
        after_name = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid, threads = int(fields["Uid"].split()[0]), int(fields.get("Threads", "1"))
        table[int(entry.name)] = (int(after_name[1]), int(after_name[3]), uid, threads)
    return table


def _descends_from_us(pid: int, table: dict[int, tuple[int, int, int, int]]) -> bool:
    seen = set()
    while pid > 1 and pid not in seen:
        if pid == os.getpid():
            return True
        seen.add(pid)
        pid = table.get(pid, (0, 0, 0, 0))[0]
    return False


def sandbox_tasks(sessions: set[int]) -> int:
    """Tasks of the sandbox user in sessions this test process started (each sandbox run has
    its own session, and its forks stay in it even when orphaned): sandboxes of other programs
    on the machine, such as another test suite, are not counted. Adds the sessions it finds."""
    table = _task_table()
    sessions |= {
        sid
        for pid, (_, sid, uid, _) in table.items()
        if uid == SANDBOX_UID and _descends_from_us(pid, table)
    }
    return sum(n for _, sid, uid, n in table.values() if uid == SANDBOX_UID and sid in sessions)


async def test_fork_bomb_is_contained_and_killed(workspace: Path, iso: Isolation) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    counting = iso.run_as is not None  # as root the program's tasks are uid 65534's on the host
    sessions: set[int] = set()
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], sandbox_tasks(sessions))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    if counting:
        sampler.start()
    started = time.monotonic()
    try:
        result = await run(code, workspace, iso)
    finally:
        stop.set()
    if counting:
        sampler.join()
        assert 0 < peak[0] <= LIMITS.max_processes + 1  # the program itself plus 16
        # nothing left behind, not even zombies (reaping a killed tree takes a while when busy)
        assert await eventually_async(lambda: sandbox_tasks(sessions) == 0)
    assert result.timed_out and time.monotonic() - started < LIMITS.timeout_seconds + KILLED_WITHIN
    assert subprocess.run(["true"], check=False).returncode == 0  # the machine can still fork


# Without protection: with max_file_mb=4096 the program wrote all 2147483648 bytes.
async def test_two_gigabyte_file_is_stopped_at_the_file_size_limit(
    workspace: Path, iso: Isolation
) -> None:
    code = "f = open('big.bin', 'wb')\nfor _ in range(2048):\n    f.write(b'0' * 1024**2)"
    result = await run(code, workspace, iso)
    assert result.limit_hit == "file size" and result.exit_code != 0
    assert (workspace / "big.bin").stat().st_size <= LIMITS.max_file_mb * 1024**2


# Without protection: a plain subprocess printed OPENAI_API_KEY's value; the fallback without
# the uid switch (still root) read this test process's /proc/<pid>/environ.
async def test_environment_has_no_secrets(
    workspace: Path, iso: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "TAVILY_API_KEY", "MY_SECRET"):
        monkeypatch.setenv(name, f"sk-{name}-value")
    code = (
        "import os\nprint(sorted(os.environ.items()))\n"
        "try:\n"
        f"    print(open('/proc/{os.getpid()}/environ', 'rb').read())\n"
        "except OSError as e:\n"
        "    print('refused', type(e).__name__)\n"
    )
    result = await run(code, workspace, iso)
    assert "sk-" not in result.stdout and "_KEY" not in result.stdout
    assert "MY_SECRET" not in result.stdout and "PLANLOOP" not in result.stdout
    assert "refused" in result.stdout and "PATH=" not in result.stdout.split("refused")[1]


# Without protection: the fallback with neither a network namespace nor Landlock connected and
# the listener accepted the connection; Landlock alone or the network namespace alone refused it.
async def test_no_network_even_to_loopback(
    workspace: Path, iso: Isolation, listener: tuple[int, list[object]]
) -> None:
    if not (iso.bwrap or iso.unshare or iso.landlock_abi >= 4):
        pytest.skip("neither a network namespace nor Landlock TCP rules on this machine")
    port, accepted = listener
    code = (
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        f"print('connected' if s.connect_ex(('127.0.0.1', {port})) == 0 else 'refused')"
    )
    result = await run(code, workspace, iso)
    assert "refused" in result.stdout and "connected" not in result.stdout
    # A connection of our own, after the program's: once the server has accepted it, anything
    # the program's connection had queued before it was accepted too (the backlog is FIFO).
    with socket.create_connection(("127.0.0.1", port)) as sentinel:
        assert await eventually_async(lambda: len(accepted) >= 1)
        assert len(accepted) == 1  # the server saw ours alone
        del sentinel


# Without protection: with max_output_bytes=10**9 the parent held all 100 MB of output and its
# peak RSS grew by 286 MB.
async def test_a_million_lines_are_bounded(workspace: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    limits = replace(LIMITS, timeout_seconds=120)  # a bound for a loaded machine: it ends itself
    result = await run(
        "for i in range(10**6): print(str(i).rjust(99, '.'))", workspace, BWRAP, limits
    )
    assert result.exit_code == 0 and result.limit_hit == "output"
    assert len(result.stdout) <= LIMITS.max_output_bytes + 100
    assert result.stdout.endswith("[... output truncated]")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB


# Without protection: the raw bytes read from the pipe contained the ESC sequences.
async def test_ansi_escapes_are_stripped(workspace: Path) -> None:
    code = (
        r"import sys; print('\x1b[31mred\x1b[0m \x1b]0;title\x07done'); sys.stderr.write('\x1b[2J')"
    )
    result = await run(code, workspace)
    assert result.stdout.strip() == "red done" and "\x1b" not in result.stderr


async def test_invalid_utf8_and_lone_surrogates_are_sanitised(workspace: Path) -> None:
    code = "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe end\\n'); print('a\\ud800b')"
    result = await run(code, workspace)
    assert result.stdout.splitlines() == ["ok \ufffd\ufffd end", "a\\ud800b"]
    result.stdout.encode("utf-8")  # valid UTF-8: safe for the checkpoint
    assert sanitize("a\ud800b\x00c") == "a\ufffdbc"


# Without protection: the fallback without Landlock (uid 65534 keeping CAP_DAC_OVERRIDE) printed
# the secret file and created /tmp/<name>, $HOME/<name> and ../<name>.
async def test_files_outside_the_workspace_are_neither_read_nor_written(
    tmp_path: Path, workspace: Path, iso: Isolation
) -> None:
    if not (iso.bwrap or iso.landlock_abi):
        pytest.skip("without bubblewrap or Landlock, files outside are not protected")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (workspace / "link").symlink_to(tmp_path)
    (workspace / "secret-link").symlink_to(secret)
    name = f"planloop-escape-{uuid.uuid4().hex}"
    home = Path.home()
    reads = [str(secret), "../secret.txt", "secret-link", "link/secret.txt", "/etc/passwd"]
    writes = [f"/tmp/{name}", str(home / name), f"../{name}", str(tmp_path / "abs"), "link/via"]
    code = (
        f"for p in {reads!r}:\n"
        "    try:\n        print(open(p).read()[:20])\n"
        "    except OSError as e:\n        print('read refused', type(e).__name__)\n"
        f"for p in {writes!r}:\n"
        "    try:\n        open(p, 'w').write('pwned')\n        print(p, 'written')\n"
        "    except OSError as e:\n        print('write refused', type(e).__name__)\n"
    )
    result = await run(code, workspace, iso)
    assert "top secret" not in result.stdout and "root:" not in result.stdout
    assert result.stdout.count("read refused") == len(reads)
    # Only the sandbox's private /tmp (a tmpfs under bubblewrap) may take a write.
    assert result.stdout.count("write refused") >= len(writes) - (1 if iso.bwrap else 0)
    assert secret.read_text() == "top secret"
    escapes = [Path("/tmp", name), home / name, tmp_path / name, tmp_path / "abs", tmp_path / "via"]
    assert [p for p in escapes if p.exists()] == []


async def test_a_sandbox_that_cannot_be_set_up_never_runs_the_program(workspace: Path) -> None:
    broken = replace(FALLBACK, run_as=-5)  # no such uid: the switch fails
    result = await run("open('ran.txt', 'w').write('x')", workspace, broken)
    assert result.exit_code == SETUP_FAILED and "sandbox setup failed" in result.stderr
    assert not (workspace / "ran.txt").exists()


def test_isolation_mode_names_what_is_active() -> None:
    assert isolation_mode() == BWRAP.describe()
    if BWRAP.bwrap:
        assert isolation_mode().startswith("bubblewrap")
    assert "no bubblewrap, so not prevented:" in FALLBACK.describe()
    if os.geteuid() == 0:
        assert f"uid {SANDBOX_UID}" in FALLBACK.describe()


async def test_run_python_in_a_graph_run(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    from graph.api import arun

    context.approval = "none"
    code = (
        "rows = [(1, 2), (3, 4)]\n"
        "with open('data.csv', 'w') as f:\n"
        "    f.write('a,b\\n' + ''.join(f'{a},{b}\\n' for a, b in rows))\n"
        "print('sum =', sum(a + b for a, b in rows))\n"
    )
    script.add("parse_goal", goal_reply("data.csv exists and the sum is printed"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": code})))
    script.add(
        "reflect",
        reflect_reply(
            {"s1": True}, {"c1": "s1 wrote data.csv (a,b then 1,2 and 3,4) and printed sum = 10"}
        ),
    )
    script.add("finish", "The sum is 10.")

    outcome = await arun("write data.csv and sum it", context=context, db=db_path)

    assert outcome.status == "done"
    assert (workspace / "data.csv").read_text() == "a,b\n1,2\n3,4\n"
    result = outcome.results["s1"]
    assert result.status == "done" and result.output.startswith("exit status 0")
    assert "sum = 10" in result.output
    assert "files created or changed: data.csv" in result.output
    assert f"isolation: {isolation_mode()}" in result.output


async def test_a_failing_program_is_an_error_observation_in_the_graph(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    from graph.api import arun

    context.approval, context.python_timeout_seconds = "none", 2
    script.add("parse_goal", goal_reply("the loop ran"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": "while 1: pass"})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 ran until it was killed"}))
    script.add("finish", "It timed out.")

    outcome = await arun("loop forever", context=context, db=db_path)

    result = outcome.results["s1"]
    assert result.status == "error" and outcome.budget.tool_errors == 1
    assert "ERROR: RuntimeError: killed: timeout after 2s" in result.output


async def test_large_output_is_clipped_into_state_with_the_full_text_as_artifact(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    from graph.api import arun

    context.approval, context.max_observation_chars = "none", 500
    code = "for i in range(2000): print(f'row {i}')"
    script.add("parse_goal", goal_reply("the rows were printed"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": code})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 printed them"}))
    script.add("finish", "done")

    outcome = await arun("print rows", context=context, db=db_path)

    result = outcome.results["s1"]
    assert len(result.output) < 800 and "the full output is in planloop-runs/" in result.output
    (artifact,) = result.artifacts
    full = (workspace / artifact).read_text()
    assert "row 0" in full and "row 1999" in full


# Without protection: a fallback with neither bubblewrap nor Landlock ran the program with the
# whole filesystem open to it (planloop's database outside the workspace included).
async def test_without_bubblewrap_or_landlock_the_program_does_not_run(workspace: Path) -> None:
    bare = replace(FALLBACK, landlock_abi=0)
    result = await run("open('ran.txt', 'w').write('ran')", workspace, bare)
    assert result.exit_code == SETUP_FAILED and "neither bubblewrap nor Landlock" in result.stderr
    assert not (workspace / "ran.txt").exists()
