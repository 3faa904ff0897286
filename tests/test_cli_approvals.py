"""Approvals from the CLI: exit 3 without a terminal, approve/reject commands, the prompt."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.cli import main
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step

ESCAPE = "\x1b[31mRED\x1b[0m\x1b]0;title\x07"


def _setup(script: Script, workspace: Path) -> None:
    (workspace / "notes.txt").write_text("a draft note")
    script.add("parse_goal", goal_reply("notes.txt says final"))
    script.add(
        "plan",
        plan_reply(
            step(
                "s1",
                tool="edit_file",
                args={"path": "notes.txt", "old_text": "draft", "new_text": "final"},
                description=f"finalise the note {ESCAPE}",
            )
        ),
    )


def _run(workspace: Path, db: Path) -> int:
    return main(
        [
            "run",
            "finalise notes",
            "--workspace",
            str(workspace),
            "--db",
            str(db),
            "--thread-id",
            "h1",
            "--no-programs",  # the script plans an edit_file call
        ]
    )


@pytest.fixture
def no_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)


def test_without_terminal_exit_3_then_approve_command(
    script: Script,
    workspace: Path,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_tty: None,
) -> None:
    _setup(script, workspace)
    assert _run(workspace, db_path) == 3
    out = capsys.readouterr().out
    assert "step s1 wants approval: the step may change files that existed before this run" in out
    assert "planloop approve h1 [--edit JSON]" in out and "planloop reject h1 --feedback" in out
    assert "\x1b" not in out and "\x07" not in out and "RED" in out
    assert (workspace / "notes.txt").read_text() == "a draft note"

    assert main(["threads", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["h1", "paused"]

    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited it"}))
    script.add("finish", "done")
    assert main(["approve", "h1", "--db", str(db_path)]) == 0
    assert "status: done" in capsys.readouterr().out
    assert (workspace / "notes.txt").read_text() == "a final note"


def test_reject_and_edit_commands(
    script: Script,
    workspace: Path,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_tty: None,
) -> None:
    _setup(script, workspace)
    assert _run(workspace, db_path) == 3
    assert main(["approve", "h1", "--step", "s9", "--db", str(db_path)]) == 2
    assert "no approval pending for step 's9'" in capsys.readouterr().err
    assert main(["approve", "h1", "--edit", "{not json", "--db", str(db_path)]) == 2
    assert "--edit is not valid JSON" in capsys.readouterr().err

    script.add("plan", plan_reply(step("s2", tool="read_file", args={"path": "notes.txt"})))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "kept as the user wants"}))
    script.add("finish", "kept")
    assert main(["reject", "h1", "--feedback", "keep it", "--db", str(db_path)]) == 0
    assert (workspace / "notes.txt").read_text() == "a draft note"
    assert "rejected by the user: keep it" in script.calls_for("plan")[1][-2].text
    capsys.readouterr()
    assert main(["approve", "h1", "--db", str(db_path)]) == 2
    assert "is not waiting for an approval" in capsys.readouterr().err


def _answers(monkeypatch: pytest.MonkeyPatch, replies: list[str]) -> Iterator[str]:
    feed = iter(replies)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt="": next(feed))
    monkeypatch.delenv("EDITOR", raising=False)
    return feed


def test_interactive_prompt_edits_inline(
    script: Script,
    workspace: Path,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _setup(script, workspace)
    edited = '{"path": "notes.txt", "old_text": "draft", "new_text": "checked"}'
    _answers(monkeypatch, ["x", "e", "{not json", "e", '{"path": "notes.txt"}', "e", edited])
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 edited it"}))
    script.add("finish", "done")

    assert _run(workspace, db_path) == 0

    out = capsys.readouterr().out
    assert "--edit is not valid JSON" in out  # asked again, nothing sent
    assert "your last answer was refused: edited args rejected" in out
    assert (workspace / "notes.txt").read_text() == "a checked note"
