"""The registry fails closed, and run_python runs with the configured interpreter: a data goal's
pandas + matplotlib program writes a PNG into the workspace, and the report lists it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.tools import tool

from checkpoints import open_storage
from checkpoints.journal import Journal, idempotency_key
from graph.api import aresume, arun
from graph.cli import main
from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tools import ExtraTools, ToolSpec, offered
from tools.interpreter import InterpreterError, InterpreterGuard, load_interpreter

PLOT = """
import pandas as pd
import matplotlib.pyplot as plt
frame = pd.DataFrame({"month": ["jan", "feb", "mar", None], "sales": [3, None, 7, 9]})
clean = frame.dropna()
clean.plot(x="month", y="sales", kind="bar")
plt.savefig("sales.png")
print("rows kept:", len(clean))
print(clean.to_markdown(index=False))  # pandas' Markdown tables need tabulate (data extra)
"""


@tool
def stamp(label: str) -> str:
    """Stamp a label somewhere outside planloop (a tool declared without a risk class)."""
    return f"stamped {label}"


def test_a_tool_without_a_declared_risk_is_the_riskiest_class() -> None:
    spec = ToolSpec(stamp)
    assert spec.effective_risk == "network"
    assert spec.side_effects and spec.untrusted is False  # untrusted: only non-builtin sources
    assert ToolSpec(stamp, source="plugin").untrusted


async def test_a_tool_without_a_risk_cannot_run_unapproved_or_unjournaled(
    script: Script, context: Context, db_path: Path
) -> None:
    script.add("parse_goal", goal_reply("stamped"))
    # The planner claims the step is read-only; the tool's missing risk wins.
    script.add("plan", plan_reply(step("s1", tool="stamp", args={"label": "x"}, risk="read_only")))
    with offered(ExtraTools(specs=(ToolSpec(stamp),))):
        paused = await arun("stamp x", context=context, db=db_path, thread_id="u")
        assert paused.paused, "a tool without a declared risk ran without approval"
        ((interrupt_id, payload),) = paused.pending.items()
        assert payload["risk"] == "network"
        script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 stamped"}))
        script.add("finish", "stamped")
        answer = {"action": "approve", "step_id": "s1", "args_hash": payload["args_hash"]}
        done = await aresume("u", db=db_path, answers={interrupt_id: answer})
    assert done.status == "done" and done.results["s1"].output.startswith("stamped x")
    journal = Journal(db_path)
    try:
        entry = journal.get(idempotency_key("u", "s1", "stamp", {"label": "x"}))
    finally:
        journal.close()
    assert entry is not None and entry.status == "completed"


def test_a_bad_interpreter_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_python = tmp_path / "python"
    not_python.write_text("#!/bin/sh\necho nope >&2\nexit 1\n")
    not_python.chmod(0o755)
    with pytest.raises(InterpreterError, match="not a Python 3 that can run planloop's sandbox"):
        load_interpreter(str(not_python), InterpreterGuard.of(tmp_path / "ws"))
    argv = ["run", "x", "--workspace", str(tmp_path), "--base-url", "http://127.0.0.1:9/v1"]
    code = main([*argv, "--python", str(tmp_path / "none")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def _venv_planting(venv: Path, marker: Path) -> Path:
    """A venv whose site-packages holds a `.pth` that writes `marker` when any Python starts
    from it (what a sandboxed program could plant in a venv it can write); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "zz.pth").write_text(
        f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n"
    )
    return venv / "bin" / "python"


def test_an_interpreter_inside_the_workspace_never_runs_on_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "ws"
    marker = tmp_path / "escaped"
    python = _venv_planting(workspace / ".venv", marker)
    db = tmp_path / "home" / "planloop.db"
    argv = ["run", "x", "--workspace", str(workspace), "--db", str(db)]
    assert main([*argv, "--base-url", "http://127.0.0.1:9/v1", "--python", str(python)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "inside the workspace" in err
    # A run registered with it (before this check existed) is refused on resume.
    context = Context(workspace=str(workspace), base_url="http://127.0.0.1:9/v1",
                      python=str(python))  # fmt: skip
    registry = open_storage(db).registry()
    try:
        registry.register("old", "x", context.to_settings())
    finally:
        registry.close()
    assert main(["resume", "old", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "inside the workspace" in err
    # Reached through a link from outside the workspace: still refused before it runs.
    (tmp_path / "link").symlink_to(workspace / ".venv")
    with pytest.raises(InterpreterError, match="inside the workspace"):
        load_interpreter(str(tmp_path / "link" / "bin" / "python"), InterpreterGuard.of(workspace))
    # A venv that is the workspace itself.
    with pytest.raises(InterpreterError, match="inside the workspace"):
        load_interpreter(str(python), InterpreterGuard.of(workspace / ".venv"))
    assert not marker.exists(), "the workspace's interpreter ran on the host"


def test_an_interpreter_whose_folders_would_expose_secrets_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    elsewhere = tmp_path / "ws"
    # A venv holding the workspace, planloop's state folder, or the home folder (~/.ssh).
    with pytest.raises(InterpreterError, match="overlaps the workspace"):
        load_interpreter(python, InterpreterGuard.of(venv / "ws"))
    with pytest.raises(InterpreterError, match="holds planloop's state folder"):
        load_interpreter(python, InterpreterGuard.of(elsewhere, [venv / ".planloop"]))
    monkeypatch.setenv("HOME", str(venv))
    with pytest.raises(InterpreterError, match="holds the home folder") as refused:
        load_interpreter(python, InterpreterGuard.of(elsewhere))
    assert "\n" not in str(refused.value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_interpreter(python, InterpreterGuard.of(elsewhere)).executable == python


async def test_run_python_uses_a_users_venv_under_the_same_isolation(
    script: Script, tmp_path: Path, db_path: Path
) -> None:
    venv = tmp_path / "user-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    context = Context(
        workspace=str(workspace), model="scripted", approval="none", memory=False,
        python=str(venv / "bin" / "python"),
    )  # fmt: skip
    code = "import sys\nprint(sys.prefix)\nopen('/etc/planloop-probe', 'w')"
    script.add("parse_goal", goal_reply("the prefix is printed"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": code})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 printed it"}))
    script.add("finish", "printed")
    outcome = await arun("print the prefix", context=context, db=db_path)
    output = outcome.results["s1"].output
    assert str(venv) in output  # the user's venv ran the program
    assert "PermissionError" in output or "Read-only file system" in output  # still confined
    plan_prompt = script.calls_for("plan")[0][0].text
    assert f"({venv / 'bin' / 'python'}); importable: none" in plan_prompt


async def test_a_data_goal_plots_with_pandas_and_matplotlib(
    script: Script, tmp_path: Path, db_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    context = Context(
        workspace=str(workspace), model="scripted", approval="none", memory=False,
        python=sys.executable,
    )  # fmt: skip
    script.add("parse_goal", goal_reply("sales.png shows the cleaned sales"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": PLOT})))
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote sales.png"}))
    script.add("finish", "plotted to sales.png")
    outcome = await arun("clean the sales and plot them", context=context, db=db_path)

    assert outcome.status == "done", outcome.results["s1"].output
    assert "rows kept: 2" in outcome.results["s1"].output
    assert "| month   |   sales |" in outcome.results["s1"].output
    assert (workspace / "sales.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (workspace / outcome.report_path).read_text()
    assert "## Files" in report and "- `sales.png`" in report
    plan_prompt = script.calls_for("plan")[0][0].text
    assert "importable: numpy, pandas, matplotlib" in plan_prompt
