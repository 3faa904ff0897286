"""The live suite's goals are sound: each checker fails on the untouched fixtures and on constant
answers, and passes on a hand-made correct solution. Plus the harness's own rules (agreement,
flags) and the stand-in site. No model, no network beyond loopback."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from bench.live.__main__ import main
from bench.live.goals import GOALS, GOALS_BY_NAME, Goal
from bench.live.runner import agreement, workspace_files
from bench.live.site import serve_site

KINDS_REQUIRED = (
    "file writing",
    "transforming text",
    "CSV data",
    "JSON data",
    "computing with Python",
    "several independent parts",
    "earlier result feeds a later step",
    "first attempt likely fails (replan)",
    "only partly doable within a small budget",
    "web page (local stand-in site)",
)


def test_the_suite_has_fifteen_goals_covering_every_kind() -> None:
    assert len(GOALS) >= 15
    assert len(GOALS_BY_NAME) == len(GOALS), "goal names are unique"
    kinds = {goal.kind for goal in GOALS}
    assert set(KINDS_REQUIRED) <= kinds


@pytest.mark.parametrize("goal", GOALS, ids=lambda g: g.name)
def test_checker_fails_on_the_fixtures_alone(goal: Goal, tmp_path: Path) -> None:
    goal.create_fixtures(tmp_path)
    verdict = goal.check(tmp_path)
    assert not verdict.passed, verdict.detail


@pytest.mark.parametrize("goal", GOALS, ids=lambda g: g.name)
def test_checker_passes_on_a_correct_solution(goal: Goal, tmp_path: Path) -> None:
    goal.create_fixtures(tmp_path)
    goal.solve(tmp_path)
    verdict = goal.check(tmp_path)
    assert verdict.passed, verdict.detail


@pytest.mark.parametrize("constant", ["0\n", "42\n", "done\n", ""])
@pytest.mark.parametrize("goal", GOALS, ids=lambda g: g.name)
def test_checker_fails_when_every_output_file_holds_a_constant(
    goal: Goal, constant: str, tmp_path: Path
) -> None:
    solved, fixtures_only = tmp_path / "solved", tmp_path / "constant"
    goal.create_fixtures(solved)
    goal.solve(solved)
    goal.create_fixtures(fixtures_only)
    before = workspace_files(fixtures_only)
    outputs = [
        name for name, digest in workspace_files(solved).items() if before.get(name) != digest
    ]
    assert outputs, "the solution writes something"
    for name in outputs:
        (fixtures_only / name).write_text(constant, encoding="utf-8")
    assert not goal.check(fixtures_only).passed


def test_partial_goal_reports_how_much_was_done(tmp_path: Path) -> None:
    goal = GOALS_BY_NAME["six_squares"]
    goal.create_fixtures(tmp_path)
    for n in (1, 2, 3):
        (tmp_path / f"part{n}.txt").write_text(f"{n * n}\n")
    verdict = goal.check(tmp_path)
    assert not verdict.passed and verdict.detail == "3/6 part files right"
    assert goal.limits.max_steps < 6


@pytest.mark.parametrize(
    ("status", "passed", "expected"),
    [
        ("done", True, "agree"),
        ("done", False, "false done"),
        ("failed", True, "false failed"),
        ("stalled", True, "false failed"),
        ("budget_exhausted", False, "agree"),
        ("timeout", True, "no verdict"),
        ("error", False, "no verdict"),
    ],
)
def test_agreement_between_status_and_checker(status: str, passed: bool, expected: str) -> None:
    assert agreement(status, passed) == expected


def test_site_serves_the_pages_the_web_goals_need() -> None:
    with serve_site(0) as site:
        for goal in (g for g in GOALS if g.uses_site):
            url = goal.text(site.base_url).split(site.base_url)[1].split()[0].rstrip(".")
            wanted = next(iter(goal.fixtures.values())).strip()
            with urllib.request.urlopen(site.base_url + url, timeout=5) as page:
                assert page.status == 200
                assert wanted in page.read().decode()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--goals", "nope"], "unknown goal nope"),
        (["--systems", "planloop,magic"], "unknown system magic"),
        (["--repeat", "0"], "must be positive"),
        (["--goal-timeout", "soon"], "expected a positive number"),
        ([], "no model server"),
        (["--replay", "/nonexistent/replays"], "no such directory"),
        (["--record", "a", "--replay", "b"], "exclude each other"),
        (["--site-port", "70000"], "expected a port number"),
    ],
)
def test_bad_flags_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("system", ["planloop", "planloop-no-cross-check", "planloop-tools"])
def test_a_recorded_run_replays_through_the_command_line(
    system: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = next(
        path
        for path in sorted((Path(__file__).parent / "replays").glob(f"{system}/*.json"))
        if not GOALS_BY_NAME[path.stem].uses_site
    )
    replays = tmp_path / "replays" / system
    replays.mkdir(parents=True)
    (replays / recorded.name).write_bytes(recorded.read_bytes())
    goal = recorded.stem
    table = tmp_path / "table.json"
    argv = ["--replay", str(replays.parent), "--goals", goal, "--json", str(table)]
    argv += ["--systems", system]
    assert main([*argv, "--site-port", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{goal:<16} {system}" in out and "totals:" in out
    data = json.loads(table.read_text())
    assert [run["goal"] for run in data["runs"]] == [goal]
    assert data["totals"][0]["system"] == system and data["totals"][0]["runs"] == 1
    assert main(["--markdown", str(table)]) == 0
    markdown = capsys.readouterr().out
    assert f"| {goal} | {system} |" in markdown and f"| {system} | " in markdown
