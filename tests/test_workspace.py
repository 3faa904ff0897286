"""Workspace confinement of the file operations, asserted on the filesystem.

How each protection was shown to matter: with a naive `root / path` join (and a
`str(path).startswith(str(root))` check), `../secret.txt` and `a/../../secret.txt` wrote next to
the workspace, `/etc/passwd` replaced the root entirely, the symlinks led out, and `wsEVIL`
passed the prefix check. The tests assert that none of that happens.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tools.workspace import (
    WorkspaceError,
    append_text,
    edit_text,
    list_paths,
    read_text,
    resolve_in_workspace,
    write_text,
)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    return secret


@pytest.mark.parametrize(
    "path",
    ["../secret.txt", "a/../../secret.txt", "/etc/passwd", "~/x", "a\x00b", "", "..\\secret.txt"],
)
def test_escaping_paths_are_refused(workspace: Path, outside: Path, path: str) -> None:
    with pytest.raises(WorkspaceError):
        resolve_in_workspace(workspace, path)
    with pytest.raises(WorkspaceError):
        write_text(workspace, path, "pwned")
    assert outside.read_text() == "top secret"


def test_symlink_pointing_out_is_refused(workspace: Path, outside: Path) -> None:
    (workspace / "link").symlink_to(outside.parent)
    (workspace / "file_link").symlink_to(outside)
    with pytest.raises(WorkspaceError, match="outside"):
        read_text(workspace, "link/secret.txt", 100)
    with pytest.raises(WorkspaceError, match="outside"):
        write_text(workspace, "file_link", "pwned")
    assert outside.read_text() == "top secret"


def test_prefix_sibling_is_not_inside(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    evil = tmp_path / "wsEVIL"
    ws.mkdir()
    evil.mkdir()
    (ws / "escape").symlink_to(evil)
    with pytest.raises(WorkspaceError):
        write_text(ws, "escape/x.txt", "pwned")
    assert not (evil / "x.txt").exists()


def test_write_read_append_edit_list(workspace: Path) -> None:
    assert "wrote 5 bytes" in write_text(workspace, "notes/a.txt", "hello")
    append_text(workspace, "notes/a.txt", " world")
    edit_text(workspace, "notes/a.txt", "world", "there")
    assert read_text(workspace, "notes/a.txt", 100) == "hello there"
    assert list_paths(workspace) == "notes/a.txt"
    with pytest.raises(WorkspaceError, match="occurs 0 times") as missed:
        edit_text(workspace, "notes/a.txt", "absent", "x")
    # The file's text comes with the error, so the next try can copy the exact text.
    assert str(missed.value).endswith("The file begins:\nhello there")


def test_write_is_atomic_and_leaves_no_temp_files(workspace: Path) -> None:
    write_text(workspace, "a.txt", "one")
    write_text(workspace, "a.txt", "two")
    assert sorted(os.listdir(workspace)) == ["a.txt"]


def test_read_truncates_and_survives_invalid_utf8(workspace: Path) -> None:
    (workspace / "bin.dat").write_bytes(b"ok \xff\xfe " + b"x" * 50)
    text = read_text(workspace, "bin.dat", 10)
    assert text.startswith("ok \ufffd\ufffd") and "truncated at 10" in text


async def test_a_missing_files_error_names_the_files_there_are(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A 1.5B planner read `region_data.json` (a name it made up) three times over; the error
    now says what it could read instead."""
    from graph.api import arun

    (workspace / "sales.csv").write_text("region,amount\nnorth,1\n")
    for n in range(25):
        (workspace / f"z{n:02}.txt").write_text("")
    script.add("parse_goal", goal_reply("the totals are read"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="read_file", args={"path": "region_data.json"}),
            step(
                "s2", tool="edit_file", args={"path": "nope.txt", "old_text": "a", "new_text": "b"}
            ),
        ),
    )
    script.defaults["reflect"] = reflect_reply({"s1": False, "s2": False})
    context.max_replans, context.approval = 0, "none"

    outcome = await arun("read the totals", context=context, db=db_path)

    for step_id, missing in (("s1", "region_data.json"), ("s2", "nope.txt")):
        output = outcome.results[step_id].output
        assert f"no such file: {missing}; the workspace has: sales.csv, z00.txt," in output
        assert "z18.txt and more" in output and "z19.txt" not in output
