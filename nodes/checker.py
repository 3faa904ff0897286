"""Criteria judged by a program the model writes, where code's own checks cannot decide them
(opt-in: `--checker-programs`).

A 1.5B reviewer judged right files unmet ("word_count.txt does not hold the number of words")
as often as it judged wrong ones met. So, on a run whose goal a program step does, with no
approvals to ask (like a `program_output` check, it runs code), the criteria left to a model
can first go to a checker program: it prints a PASS or FAIL line per criterion. It runs on
copies of the workspace, never on the workspace itself, and a PASS counts only when the same
program fails that criterion on a copy whose file is emptied (a checker that passes anything
decides nothing). What it cannot decide goes to the reviewer. Measured with the 1.5B model,
its checkers decided nothing (wrong ids, hard-coded verdicts, a checker that rewrote the file
it checked, caught by the emptied copy), at a model call each: so it is off by default.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage

from nodes.context import Context
from nodes.goal_files import named_files_text
from nodes.llm import REFLECT, invoke, was_truncated
from nodes.program import program_in, programs_apply
from nodes.prompts import CHECKER_SYSTEM, CHECKER_USER
from nodes.state import Budget, Criterion, State
from tools.confinement import Confinement
from tools.python_tool import run_in_folder
from tools.runtime import in_confinement

COPY_BYTES = 20_000_000
"""Largest workspace a checker program runs on a copy of (two copies are made)."""
_VERDICT = re.compile(r"^\W*(c\d+)\W+(PASS|FAIL)\b[:\s-]*(.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class CheckerVerdict:
    """What a checker program printed for one criterion."""

    passed: bool
    line: str


def checker_applies(state: State, context: Context) -> bool:
    """Whether the criteria a model would judge go to a checker program first."""
    return (
        context.checker_programs
        and context.approval == "none"
        and programs_apply(state.goal, context)
    )


def for_checker(criteria: list[Criterion]) -> list[Criterion]:
    """The criteria a checker program may decide: left to a model (a partial check passed), and
    about a file (emptying it shows whether the checker looks)."""
    return [
        c
        for c in criteria
        if not c.met and c.check is not None and not c.check.decides and c.check_passed
    ]


def verdicts_in(output: str) -> dict[str, CheckerVerdict]:
    """The first PASS or FAIL line the output gives for each criterion id."""
    found: dict[str, CheckerVerdict] = {}
    for match in _VERDICT.finditer(output):
        verdict = CheckerVerdict(match.group(2).upper() == "PASS", match.group(0).strip()[:300])
        found.setdefault(match.group(1).lower(), verdict)
    return found


async def judged_by_checker(
    state: State, context: Context
) -> tuple[list[Criterion], Budget, list[str]]:
    """`state.criteria` with those a checker program decided set (met, or unmet with its
    line as evidence), what the call cost, and the ids it decided."""
    judged = for_checker(state.criteria)
    if not judged:
        return state.criteria, Budget(), []
    files = await in_confinement(named_files_text, " ".join([state.goal, *_paths(judged)]))
    criteria = "\n".join(f"- {c.id}: {c.text}" for c in judged)
    messages = [
        SystemMessage(CHECKER_SYSTEM),
        HumanMessage(CHECKER_USER.format(goal=state.goal.strip(), criteria=criteria, files=files)),
    ]
    reply, cost = await invoke(context, messages, stage=REFLECT)
    program = None if was_truncated(reply) else program_in(reply.text)
    if program is None:
        return state.criteria, cost, []
    decided = await _decide(program, judged)
    updated = [
        replace(c, met=decided[c.id].passed, evidence=_evidence(decided[c.id]))
        if c.id in decided
        else c
        for c in state.criteria
    ]
    return updated, cost, sorted(decided)


def _paths(criteria: list[Criterion]) -> list[str]:
    return sorted({c.check.path for c in criteria if c.check is not None})


def _evidence(verdict: CheckerVerdict) -> str:
    said = "met" if verdict.passed else "not met"
    return f"{said}: a checker program printed {verdict.line!r}"


async def _decide(program: str, judged: list[Criterion]) -> dict[str, CheckerVerdict]:
    """The verdicts that count: a FAIL, and a PASS the program withdraws when the criterion's
    file is emptied."""
    as_is = await in_confinement(workspace_copy)
    if as_is is None:
        return {}
    emptied = await asyncio.to_thread(_emptied_copy, as_is, judged)
    try:
        first = verdicts_in((await run_in_folder(program, as_is / "ws")).stdout)
        second = verdicts_in((await run_in_folder(program, emptied / "ws")).stdout)
    finally:
        await asyncio.to_thread(shutil.rmtree, as_is, True)
        await asyncio.to_thread(shutil.rmtree, emptied, True)
    ids = {c.id for c in judged}
    return {
        cid: verdict
        for cid, verdict in first.items()
        if cid in ids and (not verdict.passed or not _still_passes(second.get(cid)))
    }


def _still_passes(verdict: CheckerVerdict | None) -> bool:
    return verdict is not None and verdict.passed


def workspace_copy(guard: Confinement) -> Path | None:
    """A copy of what the run's tools may see of the workspace (planloop's state folders left
    out), under a new temporary folder's `ws/`; None when the workspace is too large."""
    left_out = (*guard.state, *guard.read_only)
    size = 0
    for path in guard.root.rglob("*"):
        if path.is_file() and not any(path.is_relative_to(f) for f in left_out):
            size += path.stat().st_size
            if size > COPY_BYTES:
                return None
    folder = Path(tempfile.mkdtemp(prefix="planloop-checker-"))
    hidden = {f.resolve() for f in left_out}

    def ignored(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if (Path(directory) / n).resolve() in hidden]

    shutil.copytree(guard.root, folder / "ws", ignore=ignored, symlinks=True)
    return folder


def _emptied_copy(source: Path, judged: list[Criterion]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="planloop-checker-"))
    shutil.copytree(source / "ws", folder / "ws", symlinks=True)
    copy = (folder / "ws").resolve()
    for path in _paths(judged):
        target = folder / "ws" / path
        # The path is the model's: only a regular file inside the copy is emptied.
        if target.is_file() and not target.is_symlink() and target.resolve().is_relative_to(copy):
            target.write_text("", encoding="utf-8")
    return folder
