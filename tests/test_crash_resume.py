"""A real `planloop` process, killed mid-run, resumes without redoing completed steps.

The model is the local OpenAI-compatible stand-in, so the subprocess uses the real ChatOpenAI
over HTTP. The kill happens while the process waits for a model reply that the test holds back:
a deterministic point, reached without sleeping.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tests.openai_server import OpenAIStandIn

pytestmark = pytest.mark.slow

WAIT_SECONDS = 180
"""A bound on how long a planloop process may take to reach a point or end (loaded machine)."""


def planloop_command() -> list[str]:
    script = Path(sys.executable).with_name("planloop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "graph.cli"]


class Gate:
    """A scripted reply that blocks until the test has acted (killed the client)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.arrived = threading.Event()
        self.opened = threading.Event()

    def __call__(self, _messages: Sequence[BaseMessage]) -> dict[str, Any]:
        self.arrived.set()
        self.opened.wait(WAIT_SECONDS)
        return self.reply


def three_step_script(gate: Gate) -> Script:
    appends = [
        step("s1", tool="append_file", args={"path": "log.txt", "content": "one\n"}),
        step(
            "s2",
            tool="append_file",
            args={"path": "log.txt", "content": "two\n"},
            depends_on=["s1"],
        ),
        step(
            "s3",
            tool="append_file",
            args={"path": "log.txt", "content": "three\n"},
            depends_on=["s2"],
        ),
    ]
    return Script(
        parse_goal=[goal_reply("log.txt has three lines")],
        plan=[plan_reply(*appends)],
        reflect=[
            reflect_reply({"s1": True}),
            gate,  # the run is stopped while waiting for this reply (after s2 ran)
            reflect_reply({"s2": True}),
            reflect_reply({"s3": True}, {"c1": "s1-s3 appended three lines"}),
        ],
        finish=["log.txt has three lines"],
    )


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate(reflect_reply({"s2": True}))
    yield held
    held.opened.set()


def _start(
    workspace: Path, server: OpenAIStandIn, env: dict[str, str], out: Path
) -> subprocess.Popen[bytes]:
    argv = [
        *planloop_command(),
        "run",
        "log three lines",
        "--workspace",
        str(workspace),
        "--base-url",
        server.base_url,
        "--model",
        "stand-in",
        "--thread-id",
        "crash-1",
        "--reflection",  # a review after each step, so the run can be stopped between them
        "every_wave",
    ]
    with out.open("wb") as sink:
        return subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)


@pytest.mark.parametrize(
    ("sig", "expected_code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)]
)
def test_stopped_process_resumes_without_repeating_steps(
    sig: signal.Signals,
    expected_code: int,
    gate: Gate,
    workspace: Path,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    script = three_step_script(gate)
    with OpenAIStandIn(script) as server:
        process = _start(workspace, server, env, tmp_path / "run.out")
        assert gate.arrived.wait(WAIT_SECONDS), (tmp_path / "run.out").read_text()
        process.send_signal(sig)
        assert process.wait(WAIT_SECONDS) == expected_code
        first_output = (tmp_path / "run.out").read_text()
        assert "Traceback" not in first_output
        if sig == signal.SIGINT:
            assert "interrupted; continue with: planloop resume crash-1" in first_output
        assert (workspace / "log.txt").read_text() == "one\ntwo\n"
        gate.opened.set()

        resumed = subprocess.run(
            [*planloop_command(), "resume", "crash-1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            check=False,
        )

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (workspace / "log.txt").read_text() == "one\ntwo\nthree\n"
    assert "[step s1]" not in resumed.stdout and "[step s2]" not in resumed.stdout
    assert "[step s3] done" in resumed.stdout and "status: done" in resumed.stdout
    roles = [role for role, _ in script.calls]
    assert roles.count("parse_goal") == 1 and roles.count("plan") == 1


def test_killed_during_a_deferred_review_resumes_without_repeating_steps(
    workspace: Path, env: dict[str, str], tmp_path: Path
) -> None:
    # Default reflection: the three appends run first, then one review; the run is killed
    # while that review is in flight, and resumed.
    review = Gate(reflect_reply({"s1": True, "s2": True, "s3": True}, {"c1": "s1-s3"}))
    script = three_step_script(review)
    script.queues["reflect"].clear()
    script.add("reflect", review, review.reply)  # the second one answers the resumed run
    try:
        with OpenAIStandIn(script) as server:
            argv = [*planloop_command(), "run", "log three lines", "--workspace", str(workspace),
                    "--base-url", server.base_url, "--thread-id", "crash-2"]  # fmt: skip
            process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
            assert review.arrived.wait(WAIT_SECONDS)
            process.send_signal(signal.SIGKILL)
            assert process.wait(WAIT_SECONDS) == -signal.SIGKILL
            assert (workspace / "log.txt").read_text() == "one\ntwo\nthree\n"
            review.opened.set()
            resumed = subprocess.run(
                [*planloop_command(), "resume", "crash-2"],
                env=env, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False,
            )  # fmt: skip
    finally:
        review.opened.set()

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (workspace / "log.txt").read_text() == "one\ntwo\nthree\n"  # nothing ran twice
    assert "[step s" not in resumed.stdout and "status: done" in resumed.stdout
    roles = [role for role, _ in script.calls]
    assert roles.count("reflect") == 2 and roles.count("plan") == 1


def test_unreachable_model_server_then_resume(
    workspace: Path, env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failed = subprocess.run(
        [
            *planloop_command(),
            "run",
            "log a line",
            "--workspace",
            str(workspace),
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
            "--thread-id",
            "down-1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip() == (
        f"planloop: error: cannot reach the model server at http://127.0.0.1:{port}/v1 "
        "(progress is saved; continue with: planloop resume down-1)"
    )
    listing = subprocess.run(
        [*planloop_command(), "threads"], env=env, capture_output=True, text=True, check=True
    )
    assert listing.stdout.splitlines()[1].split()[:2] == ["down-1", "resumable"]

    script = Script(
        parse_goal=[goal_reply("log.txt has a line")],
        plan=[plan_reply(step("s1", tool="append_file", args={"path": "log.txt", "content": "x"}))],
        reflect=[reflect_reply({"s1": True}, {"c1": "s1 appended"})],
        finish=["done"],
    )
    with OpenAIStandIn(script) as server:
        resumed = subprocess.run(
            [*planloop_command(), "resume", "down-1", "--base-url", server.base_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            check=False,
        )
    assert resumed.returncode == 0, resumed.stderr
    assert (workspace / "log.txt").read_text() == "x"
