"""The CLI in-process: progress output, exit codes, one-line errors, threads and show."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.cli import main
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step


def _script_hello(script: Script) -> None:
    script.add("parse_goal", goal_reply("hello.txt exists", objective="write hello.txt"))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "hello.txt", "content": "hi"})),
    )
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote hello.txt"}))
    script.add("finish", "Wrote hello.txt.")


def _run(workspace: Path, db: Path, *extra: str, goal: str = "write hello.txt") -> int:
    # The scripts here plan tool calls: program steps (tests/test_programs.py) are off.
    argv = ["run", goal, "--workspace", str(workspace), "--db", str(db), "--no-programs"]
    return main([*argv, *extra])


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_run_streams_progress_and_exits_0(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _script_hello(script)

    code = _run(workspace, db_path, "--thread-id", "t-hello")

    out = capsys.readouterr().out
    assert code == 0
    for expected in (
        "thread t-hello",
        "[goal] write hello.txt",
        "criterion c1: hello.txt exists  [checked: file_exists hello.txt]",
        "[plan] 1 step\n",
        "[step s1] done: wrote 2 bytes to hello.txt",
        "[reflect] s1: pass",
        "[decide] finish",
        "budget: 1 steps, 2 LLM calls",  # parse and plan; code checked hello.txt
        "hello.txt exists: hello.txt exists (2 characters)",
        "status: done",
        "report: planloop-runs/t-hello/report.md",
    ):
        assert expected in out, f"missing {expected!r} in:\n{out}"
    assert (workspace / "planloop-runs/t-hello/report.md").is_file()
    answer = (workspace / "planloop-runs/t-hello/answer.md").read_text()
    assert answer.startswith("Done.") and "hello.txt exists (2 characters)" in answer


def test_threads_show_and_history(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _script_hello(script)
    assert _run(workspace, db_path, "--thread-id", "t-show") == 0
    capsys.readouterr()

    assert main(["threads", "--db", str(db_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["THREAD", "STATUS", "STEPS", "COST", "UPDATED", "GOAL"]
    assert table[1].split()[:3] == ["t-show", "done", "1"]
    assert table[1].endswith("write hello.txt")

    assert main(["show", "t-show", "--db", str(db_path)]) == 0
    shown = capsys.readouterr().out
    assert "[x] c1 hello.txt exists — checked: hello.txt exists (2 characters)" in shown
    assert "done/pass" in shown and "Done." in shown

    assert main(["show", "t-show", "--history", "--db", str(db_path)]) == 0
    history = capsys.readouterr().out.splitlines()
    nodes = [line.split()[1] for line in history[1:]]
    assert nodes[:3] == ["__start__", "parse_goal", "plan"]
    assert nodes[-1] == "(end)" and "execute_step" in nodes and "finish" in nodes


def test_budget_exhausted_exits_4(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script.add("parse_goal", goal_reply("hello.txt exists"))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "hello.txt", "content": "hi"})),
    )
    code = _run(workspace, db_path, "--max-tokens", "10")
    out = capsys.readouterr().out
    assert code == 4
    assert "status: budget_exhausted (budget limit reached: max tokens (10))" in out
    assert "Left to do" in out


def test_failed_run_exits_1(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script.add("parse_goal", "nope", "nope", "nope")
    assert _run(workspace, db_path) == 1
    assert "status: failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "x", "--max-steps", "abc"], "argument --max-steps: expected a positive number"),
        (["run", "x", "--max-cost", "0"], "argument --max-cost: must be positive"),
        (["run", "x", "--approve", "maybe"], "argument --approve: invalid choice"),
        (["run"], "the following arguments are required: goal"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in _one_error_line(capsys.readouterr().err)


def test_missing_api_key_is_one_line_before_anything_runs(
    workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(workspace, db_path) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("planloop: error: OPENAI_API_KEY is not set")
    assert not db_path.exists()


@pytest.mark.parametrize("command", ["resume", "show"])
def test_unknown_thread_exits_2(
    command: str, db_path: Path, capsys: pytest.CaptureFixture[str], script: Script
) -> None:
    assert main([command, "no-such-thread", "--db", str(db_path)]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "planloop: error: no run with thread id 'no-such-thread'"
    )


def test_empty_goal_and_duplicate_thread_are_refused(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(workspace, db_path, goal="   ") == 2
    assert "the goal is empty" in _one_error_line(capsys.readouterr().err)
    _script_hello(script)
    assert _run(workspace, db_path, "--thread-id", "dup") == 0
    capsys.readouterr()
    assert _run(workspace, db_path, "--thread-id", "dup") == 2
    assert "thread 'dup' already exists" in _one_error_line(capsys.readouterr().err)
    assert main(["resume", "dup", "--db", str(db_path)]) == 2
    assert "already ended (done)" in _one_error_line(capsys.readouterr().err)


def test_garbage_database_is_a_clear_error(
    script: Script, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    assert main(["threads", "--db", str(garbage)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "is not a usable planloop database" in line and str(garbage) in line
    assert garbage.read_bytes() == b"this is not sqlite" * 100
