"""Adversarial tests of run_python's sandbox, asserting effects on files, processes and sockets.

How each protection was shown to matter: the same programs were run once with plain
`subprocess.run([sys.executable, "-c", code], env=os.environ)` (no bwrap, no rlimits, no
cgroup): the environment listed OPENAI_API_KEY, the socket connected to the listener, the file
write outside the workspace succeeded, the 50 MB write completed, the memory bomb allocated,
and `while True: pass` ran until killed by hand. The tests below assert the opposite.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodes.context import Context
from tests.fakes import Script
from tools import sandbox
from tools.sandbox import SandboxLimits, SandboxResult, isolation_mode, run_python_code

LIMITS = SandboxLimits(timeout_seconds=3, memory_mb=256, max_processes=16, max_file_mb=10)
BWRAP = isolation_mode().startswith("bubblewrap")


async def run(code: str, workspace: Path, limits: SandboxLimits = LIMITS) -> SandboxResult:
    return await run_python_code(code, workspace, limits)


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


async def test_normal_program_output_and_created_files(workspace: Path) -> None:
    result = await run("open('data.csv','w').write('a,b\\n1,2\\n'); print(1 + 2)", workspace)
    assert result.exit_code == 0 and result.stdout.strip() == "3"
    assert result.created_files == ["data.csv"]
    assert (workspace / "data.csv").read_text() == "a,b\n1,2\n"


async def test_infinite_loop_is_killed_at_the_timeout(workspace: Path) -> None:
    result = await run("while True: pass", workspace)
    assert result.timed_out and result.limit_hit == "timeout" and result.exit_code is None


async def test_memory_bomb_hits_the_memory_limit(workspace: Path) -> None:
    result = await run("x = bytearray(2 * 1024**3)\nprint('allocated')", workspace)
    assert result.limit_hit == "memory" and "allocated" not in result.stdout


async def test_fork_bomb_is_contained(workspace: Path) -> None:
    code = "import os\nwhile True:\n    os.fork()"
    result = await run(code, workspace)
    assert result.exit_code != 0 or result.timed_out
    assert not any(
        p.read_text(errors="ignore").startswith("while True")
        for p in Path("/proc").glob("[0-9]*/cmdline")
        if p.exists()
    )


async def test_two_gigabyte_file_is_stopped_at_the_file_size_limit(workspace: Path) -> None:
    code = "f = open('big.bin', 'wb')\nfor _ in range(2048):\n    f.write(b'0' * 1024**2)"
    result = await run(code, workspace)
    assert result.limit_hit == "file size"
    assert (workspace / "big.bin").stat().st_size <= LIMITS.max_file_mb * 1024**2


async def test_environment_has_no_secrets(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "TAVILY_API_KEY", "MY_SECRET"):
        monkeypatch.setenv(name, "sk-secret-value")
    result = await run("import os; print(sorted(os.environ.items()))", workspace)
    assert "sk-secret-value" not in result.stdout and "OPENAI_API_KEY" not in result.stdout


@pytest.mark.skipif(not BWRAP and not sandbox._unshare_net_works(), reason="no net namespace")
async def test_no_network_even_to_loopback(
    workspace: Path, listener: tuple[int, list[object]]
) -> None:
    port, accepted = listener
    code = (
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        f"print('connected' if s.connect_ex(('127.0.0.1', {port})) == 0 else 'refused')"
    )
    result = await run(code, workspace)
    assert "connected" not in result.stdout
    assert accepted == []  # the real server never saw a connection


async def test_a_million_lines_are_bounded(workspace: Path) -> None:
    result = await run("for i in range(10**6): print(i)", workspace)
    assert result.limit_hit == "output"
    assert len(result.stdout) <= LIMITS.max_output_bytes + 100


async def test_ansi_escapes_are_stripped(workspace: Path) -> None:
    result = await run(r"print('\x1b[31mred\x1b[0m \x1b]0;title\x07done')", workspace)
    assert result.stdout.strip() == "red done"


@pytest.mark.skipif(not BWRAP, reason="only bubblewrap confines reads and writes")
async def test_files_outside_the_workspace_are_neither_read_nor_written(
    tmp_path: Path, workspace: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    home = Path(os.path.expanduser("~"))
    code = (
        "import pathlib\n"
        f"for p in ['{secret}', '/etc/passwd', '{tmp_path}/escape.txt', '{home}/pwned',"
        " '../escape2.txt']:\n"
        "    try:\n"
        "        print(pathlib.Path(p).read_text()[:20])\n"
        "    except Exception as e:\n"
        "        print('read refused', type(e).__name__)\n"
        "    try:\n"
        "        pathlib.Path(p).write_text('pwned')\n"
        "    except Exception as e:\n"
        "        print('write refused', type(e).__name__)\n"
    )
    (workspace / "link").symlink_to(tmp_path)
    result = await run(code + "open('link/escape3.txt', 'w').write('x')\n", workspace)
    assert "top secret" not in result.stdout and "root:" not in result.stdout
    assert secret.read_text() == "top secret"
    for name in ("escape.txt", "escape2.txt", "escape3.txt"):
        assert not (tmp_path / name).exists()
    assert not (home / "pwned").exists()


async def test_fallback_without_bubblewrap_still_limits_and_scrubs(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "_bwrap_works", lambda: False)
    sandbox.isolation_mode.cache_clear()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    try:
        assert not isolation_mode().startswith("bubblewrap")
        looped = await run("while True: pass", workspace)
        env = await run("import os; print(dict(os.environ))", workspace)
        memory = await run("x = bytearray(2 * 1024**3)", workspace)
    finally:
        sandbox.isolation_mode.cache_clear()
    assert looped.timed_out
    assert "sk-secret-value" not in env.stdout
    assert memory.limit_hit == "memory"
    assert "not prevented" in looped.isolation or "only" in looped.isolation


async def test_invalid_utf8_and_lone_surrogates_are_sanitised(workspace: Path) -> None:
    from tools.sanitize import sanitize

    result = await run("import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe end')", workspace)
    assert result.stdout == "ok \ufffd\ufffd end"
    assert sanitize("a\ud800b\x00c") == "a\ufffdbc"
    "a\ufffdbc".encode()  # valid UTF-8: safe for the checkpoint


async def test_large_output_is_clipped_into_state_with_the_full_text_as_artifact(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    from graph.api import arun
    from tests.fakes import goal_reply, plan_reply, reflect_reply, step

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
