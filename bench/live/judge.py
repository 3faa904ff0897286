"""The judge benchmark: how often a reviewer's verdict on a program's outputs agrees with the
goal's deterministic checker, measured on programs real models wrote in recorded live runs.

    python -m bench.live.judge --cases DIR [--cases DIR ...] [--judges reflect,program-lenient]

Each program found in the recordings (a whole-goal program step's or a second programmer's
reply) runs in the sandbox in a fresh workspace holding the goal's fixtures; the goal's checker
labels its outputs right or wrong. Each judge then sees one case and says whether every
criterion the goal analysis wrote (read from the same recording) is met. Printed per judge:
right outputs accepted (higher is better: a rejected right output is a "false failed" run)
and wrong outputs accepted (lower is better: an accepted wrong output is a "false done").
Model calls go one at a time to the server at --base-url.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.live.goals import GOALS_BY_NAME, Goal
from nodes.checks import verify
from nodes.context import Context
from nodes.evidence import checked_files
from nodes.goal_files import named_files, named_files_text
from nodes.parse_goal import criteria_of
from nodes.program import program_in
from nodes.prompts import CROSS_CHECK_SYSTEM
from nodes.reflect import needs_review
from nodes.schemas import GoalSpec
from nodes.state import Criterion
from tools.confinement import Confinement
from tools.python_tool import created_files, observation
from tools.sandbox import SandboxLimits, run_python_code

LIMITS = SandboxLimits(timeout_seconds=30, memory_mb=512, max_processes=16, max_file_mb=16)
FILE_CHARS = 2000
PROGRAM_MARK = "by writing one complete Python program"
"""Begins no other prompt than the program step's (nodes.prompts.PROGRAM_SYSTEM)."""


@dataclass(frozen=True)
class Case:
    """One program a model wrote for a goal, run, and labelled by the goal's checker."""

    goal: Goal
    criteria: tuple[Criterion, ...]
    """planloop's criteria for the goal (`nodes.parse_goal.criteria_of` of the recorded goal
    analysis), as its code checks left them after the run."""
    failures: tuple[str, ...]
    """The checks that failed."""
    contents: dict[str, str | None]
    """The files the checks name, after the run."""
    program: str
    run: str
    """What the sandbox reported (`tools.python_tool.observation`)."""
    files: dict[str, str]
    """Every file the goal names, after the run (inputs and outputs), clipped."""
    reflect_files: str
    """The files the review of new results is shown."""
    program_review_files: str
    """The files the program review is shown."""
    right: bool
    detail: str
    source: str


Judge = Callable[[Case, Context], Awaitable[tuple[bool, str]]]
"""Whether every criterion is met, and what the judge said."""


def recordings(folders: list[Path]) -> Iterator[dict[str, object]]:
    """Every recording (bench.live --record) under the folders."""
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "exchanges" in data and "meta" in data:
                yield {**data, "source": str(path)}


def _text(message: dict[str, object] | None) -> str:
    data = message.get("data") if isinstance(message, dict) else None
    content = data.get("content") if isinstance(data, dict) else None
    return content if isinstance(content, str) else ""


def goal_spec(reply: str) -> GoalSpec | None:
    """The goal analyst's JSON reply, or None when it is not readable."""
    try:
        return GoalSpec.model_validate_json(reply[reply.find("{") : reply.rfind("}") + 1])
    except ValueError:
        return None


def programs_in(recording: dict[str, object]) -> Iterator[tuple[GoalSpec, str]]:
    """Each program of a recording with the goal analysis of its run."""
    spec: GoalSpec | None = None
    exchanges = recording["exchanges"]
    assert isinstance(exchanges, list)
    head = CROSS_CHECK_SYSTEM.split("\n", 1)[0]
    for exchange in exchanges:
        messages = exchange["request"]["messages"]
        system = _text(messages[0]) if messages else ""
        reply = _text(exchange["reply"])
        if system.startswith("You are the goal analyst") and spec is None:
            spec = goal_spec(reply)
        if PROGRAM_MARK in system or system.startswith(head):
            program = program_in(reply)
            if program and spec is not None:
                yield spec, program


def read_files(folder: Path, names: list[str]) -> dict[str, str]:
    """The named files that exist in `folder`, each clipped."""
    found = {}
    for name in names:
        try:
            text = (folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found[name] = text if len(text) <= FILE_CHARS else text[:FILE_CHARS] + "\n[...]"
    return found


async def labelled(goal: Goal, spec: GoalSpec, program: str, source: str) -> Case:
    """The program run in a fresh workspace with the goal's fixtures, labelled by its checker;
    the criteria as planloop makes them of the goal analysis, and as its checks leave them."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ws"
        goal.create_fixtures(folder)
        guard = Confinement.of(folder.resolve(), "judge")
        criteria, _ = criteria_of(spec, goal.prompt, True, guard)
        result = await run_python_code(program, folder, LIMITS)
        checked, failures = verify(criteria, guard)
        contents = checked_files(checked, guard)
        verdict = goal.check(folder)
        files = read_files(folder, named_files(goal.prompt))
        run = observation(result, LIMITS)
        paths = [c.check.path for c in checked if c.check is not None]
        # As nodes.reflect shows them: the checks' files to the review of new results; those,
        # the program's outputs, then the goal's other files to the program review.
        shown = named_files_text(" ".join(paths), guard)
        shown_all = named_files_text(" ".join([*paths, *created_files(run), goal.prompt]), guard)
    return Case(goal, tuple(checked), tuple(failures), contents, program, run, files,
                shown, shown_all, verdict.passed, verdict.detail, source)  # fmt: skip


WRONG_PROGRAMS = Path(__file__).parent / "wrong_programs"
"""Hand-written programs with a mistake a model makes (`<goal>.<mistake>.py`): every recorded
wrong output so far was code-decided or a crash, and the false "done" risk of a review is its
acceptance of a wrong program that ran."""


async def cases(folders: list[Path], extra: Path | None = WRONG_PROGRAMS) -> list[Case]:
    """Every distinct (goal, program) of the recordings, labelled, then each program of `extra`
    with the goal analysis its goal had in the recordings; goals that read the web are left out
    (their pages are not in the recordings)."""
    seen: set[tuple[str, str]] = set()
    found: list[Case] = []
    specs: dict[str, GoalSpec] = {}
    for recording in recordings(folders):
        meta = recording["meta"]
        assert isinstance(meta, dict)
        goal = GOALS_BY_NAME.get(str(meta.get("goal")))
        if goal is None or goal.uses_site:
            continue
        for spec, program in programs_in(recording):
            specs.setdefault(goal.name, spec)
            if (goal.name, program) in seen:
                continue
            seen.add((goal.name, program))
            found.append(await labelled(goal, spec, program, str(recording["source"])))
    for path in sorted(extra.glob("*.py")) if extra else []:
        name = path.name.split(".", 1)[0]
        if name in specs:
            program = path.read_text(encoding="utf-8")
            found.append(await labelled(GOALS_BY_NAME[name], specs[name], program, str(path)))
    return found


async def evaluate(
    judges: dict[str, Judge], found: list[Case], context: Context
) -> dict[str, object]:
    """Each judge on each case, one call at a time; per-judge tallies and every verdict."""
    rows: list[dict[str, object]] = []
    for case in found:
        if not needs_review(list(case.criteria)):
            met = all(c.met for c in case.criteria)
            decided = "met" if met else "unmet"
            print(f"{case.goal.name}: code decided ({decided}), right={case.right}")
            continue
        for name, judge in judges.items():
            started = time.monotonic()
            try:
                accepted, said = await judge(case, context)
            except Exception as exc:  # a judge that fails says "not met"
                accepted, said = False, f"error: {exc}"
            seconds = round(time.monotonic() - started, 1)
            row = {"judge": name, "goal": case.goal.name, "right": case.right}
            rows.append({**row, "accepted": accepted, "said": said[:400], "seconds": seconds})
            print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows, "summary": summary(rows, list(judges))}


def summary(rows: list[dict[str, object]], names: list[str]) -> dict[str, dict[str, object]]:
    """Per judge: right outputs accepted, wrong outputs accepted, median seconds."""
    table = {}
    for name in names:
        mine = [r for r in rows if r["judge"] == name]
        right = [r for r in mine if r["right"]]
        wrong = [r for r in mine if not r["right"]]
        seconds = sorted(float(str(r["seconds"])) for r in mine)
        table[name] = {
            "right_accepted": f"{sum(bool(r['accepted']) for r in right)}/{len(right)}",
            "wrong_accepted": f"{sum(bool(r['accepted']) for r in wrong)}/{len(wrong)}",
            "median_seconds": seconds[len(seconds) // 2] if seconds else 0.0,
        }
    return table


def at_most(found: list[Case], per_goal: int) -> list[Case]:
    """The first `per_goal` right and `per_goal` wrong cases of each goal, code-decided ones
    aside (they cost no judge call)."""
    kept: list[Case] = []
    for case in found:
        if not needs_review(list(case.criteria)):
            continue
        alike = [k for k in kept if k.goal.name == case.goal.name and k.right == case.right]
        if len(alike) < per_goal:
            kept.append(case)
    return kept


def main(argv: list[str] | None = None) -> None:
    """Label the cases of the recordings under `--cases`, then ask each judge about them."""
    from bench.live.judges import JUDGES

    parser = argparse.ArgumentParser(prog="python -m bench.live.judge", description=__doc__)
    parser.add_argument("--cases", type=Path, action="append", required=True)
    parser.add_argument("--judges", default=",".join(JUDGES), help=f"of {', '.join(JUDGES)}")
    parser.add_argument("--base-url", default=None, help="(default: $OPENAI_BASE_URL)")
    parser.add_argument("--list", action="store_true", help="list the labelled cases only")
    parser.add_argument("--per-goal", type=int, default=0, help="at most N right and N wrong")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    unknown = [name for name in args.judges.split(",") if name not in JUDGES]
    if unknown:
        parser.error(f"unknown judge {unknown[0]!r} (known: {', '.join(JUDGES)})")
    missing = [str(folder) for folder in args.cases if not folder.is_dir()]
    if missing:
        parser.error(f"--cases {missing[0]} is not a folder")
    found = asyncio.run(cases(args.cases))
    if args.per_goal:
        found = at_most(found, args.per_goal)
    for case in found:
        print(f"{case.goal.name:<16} {'right' if case.right else 'wrong'}  {case.detail[:80]}")
    if args.list:
        return
    context = Context(
        model=os.environ.get("PLANLOOP_MODEL", "local"),
        base_url=args.base_url or os.environ.get("OPENAI_BASE_URL"),
        request_timeout=300.0,
    )
    chosen = {name: JUDGES[name] for name in args.judges.split(",")}
    result = asyncio.run(evaluate(chosen, found, context))
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
