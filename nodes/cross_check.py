"""Cross-checks: a second program, written apart from the first, does a whole-goal program step's
goal again on a copy of the workspace, and its outputs are compared with the first program's.

Why: in pass 11 the 1.5B reviewer judged 10 of 11 right program-step runs unmet, with evidence
that only negated the criterion ("word_count.txt does not hold the number of words", for a file
holding 70), and each replan rewrote a right program until the budget ran out. A Coder model
writes programs far better than it judges prose, so a second program is the second opinion:

- an output the two wrote otherwise: when the review judges the goal unmet, the retry runs the
  second program (`State.second_program`) instead of asking for a third;
- outputs the two wrote alike that the review still judges unmet: the run ends (`stalled`), as
  another program would write them again;
- agreement settles no criterion unless `Context.cross_check_settles`: in the measurement the
  two programs agreed on 10 outputs, 2 of them wrong (both fell into the same trap of the input).

It runs only under `--approve none` (it runs code no human approved), in a copy of the
workspace (never the workspace itself) from which the first program's outputs are removed, so
the second program cannot copy them and an edit made in place cannot be checked against itself.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from langchain_core.messages import HumanMessage, SystemMessage

from nodes.checker import checker_applies, judged_by_checker, workspace_copy
from nodes.context import Context
from nodes.goal_files import named_files, named_files_text
from nodes.llm import REFLECT, invoke, was_truncated
from nodes.program import is_whole_goal_program, pages_of, program_in
from nodes.program_errors import same_program
from nodes.prompts import CROSS_CHECK_DIFFERS, CROSS_CHECK_SYSTEM, CROSS_CHECK_USER
from nodes.same_output import same_output
from nodes.state import Budget, Criterion, State, StepResult
from tools.confinement import Confinement
from tools.python_tool import created_files, describe_interpreter, run_in_folder
from tools.runtime import in_confinement
from tools.workspace import WorkspaceError, read_text

COMPARED_CHARS = 200_000
"""Most characters of an output file compared (a longer file is not settled)."""
QUOTE_CHARS = 80
SHOWN_CHARS = 300
"""Most characters of each version of a differing output the replan's reason quotes."""


def cross_check_applies(state: State, pending: list[StepResult], context: Context) -> bool:
    """Whether a second program runs: on, no approvals to ask, a whole-goal program step among
    the new results wrote files, and the goal gives no page to fetch."""
    if pages_of(state.goal):
        return False  # a second program could not see the fetched pages: it would guess
    return context.cross_check and context.approval == "none" and bool(outputs_of(state, pending))


def outputs_of(state: State, pending: list[StepResult]) -> list[str]:
    """The files the new results' whole-goal program steps created or changed."""
    steps = {s.id: s for s in state.plan}
    outputs: list[str] = []
    for result in pending:
        step = steps.get(result.step_id)
        if result.status == "done" and step and is_whole_goal_program(step, state.goal):
            outputs += [f for f in created_files(result.output) if f not in outputs]
    return outputs


def settled_path(criterion: Criterion, outputs: list[str]) -> str | None:
    """The output a criterion left to a model is about: its check's file, else the one output
    its words name; None when it is not left to a model or names no single output."""
    check = criterion.check
    if criterion.met or (check is not None and (check.decides or not criterion.check_passed)):
        return None
    if check is not None:
        return check.path if check.path in outputs else None
    named = [f for f in named_files(criterion.text) if f in outputs]
    return named[0] if len(named) == 1 else None


@dataclass(frozen=True)
class CrossCheck:
    """What a second program showed of the first one's outputs."""

    outputs: list[str] = field(default_factory=list)
    """The files the first program created or changed."""
    agreed: dict[str, str] = field(default_factory=dict)
    """Outputs the second program wrote alike (path -> the workspace's content)."""
    differing: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Outputs it wrote otherwise (path -> the workspace's content, the second program's)."""
    cost: Budget = field(default_factory=Budget)
    program: str = ""
    """The second program."""

    def settled(self, criteria: list[Criterion]) -> list[Criterion]:
        """`criteria` with each one left to a model that is about an agreed output set met."""
        return [
            replace(c, met=True, evidence=_evidence(path, self.agreed[path]))
            if (path := settled_path(c, self.outputs)) in self.agreed and path is not None
            else c
            for c in criteria
        ]

    def stop_reason(self, criteria: list[Criterion], said_met: set[str]) -> str:
        """Why another program would not help ("" when it might): every criterion still unmet
        is about an output two programs wrote alike, and the review judged it unmet itself. A
        "met" only its evidence failed (`said_met`) may be evidenced by the next review: a
        1.5B reviewer quoted the right file at its second try."""
        unmet = [c for c in criteria if not c.met]
        about = {c.id: settled_path(c, self.outputs) for c in unmet}
        if not unmet or said_met & set(about) or not all(p in self.agreed for p in about.values()):
            return ""
        paths = ", ".join(sorted({p for p in about.values() if p}))
        ids = ", ".join(c.id for c in unmet)
        return (
            f"two programs written apart wrote the same {paths}, and the review still judged "
            f"{ids} unmet: another program would write it again"
        )

    def told(self, judged: dict[str, object], said_met: set[str]) -> dict[str, object]:
        """A review's update (`judged`, see `nodes.reflect`) with what this cross-check showed:
        the run stops when every criterion still unmet is about an output two programs wrote
        alike and the review judged it unmet (`stop_reason`), and a replan is told of each
        output the second program wrote otherwise."""
        criteria = cast(list[Criterion], judged["criteria"])
        stop = self.stop_reason(criteria, said_met)
        if stop:
            return {**judged, "status": "stalled", "stop_reason": stop}
        note = self.retry_note()
        unmet = [c.id for c in criteria if not c.met]
        if not note or not unmet:
            return judged
        reason = cast(str, judged["replan_reason"]) or f"criteria {', '.join(unmet)} are not met"
        # The retry runs the second program: a 1.5B executor shown the other version (pass
        # 13's csv_totals) wrote its own, wrong one again, three times.
        return {**judged, "replan_reason": f"{reason}. {note}", "second_program": self.program}

    def retry_note(self) -> str:
        """What the replan's reason says of the outputs the second program wrote otherwise
        ("" when none): the review of the retry that runs it sees both versions."""
        notes = [
            CROSS_CHECK_DIFFERS.format(path=path, theirs=_clip(theirs), ours=_clip(ours))
            for path, (ours, theirs) in sorted(self.differing.items())
        ]
        return " ".join(notes)


def _clip(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "...")


async def cross_checked(state: State, pending: list[StepResult], context: Context) -> CrossCheck:
    """A second program's run on a copy of the workspace, compared with the outputs of the new
    results' whole-goal program steps that criteria left to a model are about."""
    outputs = outputs_of(state, pending)
    compared = sorted({p for c in state.criteria if (p := settled_path(c, outputs))})
    if not compared:
        return CrossCheck(outputs)
    program, cost = await second_program(state, pending, outputs, context)
    if program is None:
        return CrossCheck(outputs, cost=cost)
    ours, theirs = await run_apart(program, outputs, compared)
    agreed, differing = {}, {}
    for path in compared:
        mine, other = ours.get(path), theirs.get(path)
        if mine is None or other is None or not other.strip():
            continue  # a second program that wrote nothing shows nothing
        if same_output(mine, other):
            agreed[path] = mine
        else:
            differing[path] = (mine, other)
    return CrossCheck(outputs, agreed, differing, cost, program)


async def second_program(
    state: State,
    pending: list[StepResult],
    outputs: list[str],
    context: Context,
    *,
    asked_before: bool = False,
) -> tuple[str | None, Budget]:
    """A program for the goal written apart from the new results' (shown the goal and its input
    files, not `outputs` nor the programs that wrote them), and its cost; None when the reply
    held none, or one of the programs the new results' steps ran as planned. `asked_before`:
    the same question was asked earlier in the run (at temperature 0 it would get the same
    program), so it is asked at the retry temperature."""
    inputs = " ".join(f for f in named_files(state.goal) if f not in outputs)
    files = await in_confinement(named_files_text, inputs)
    interpreter = await describe_interpreter(context)
    messages = [
        SystemMessage(CROSS_CHECK_SYSTEM.format(interpreter=interpreter)),
        HumanMessage(CROSS_CHECK_USER.format(goal=state.goal.strip(), files=files)),
    ]
    ran = planned_programs(state, pending)
    # Outputs a second program wrote (the retry ran it): asked again at temperature 0, the
    # model writes that program again, and a program agrees with itself.
    resample = bool(ran) or asked_before
    reply, cost = await invoke(context, messages, stage=REFLECT, resample=resample)
    program = None if was_truncated(reply) else program_in(reply.text)
    if program is None or any(same_program(program, code) for code in ran):
        return None, cost
    return program, cost


def planned_programs(state: State, pending: list[StepResult]) -> list[str]:
    """The programs the new results' steps ran as planned (a retry that runs the second
    program of an earlier cross-check), not written in the step."""
    ids = {result.step_id for result in pending}
    planned = [s.args.get("code") for s in state.plan if s.id in ids and s.args]
    return [code for code in planned if isinstance(code, str)]


def _evidence(path: str, content: str) -> str:
    quote = next((line.strip() for line in content.splitlines() if line.strip()), "")
    return (
        f"met: a second program, written apart from the first, wrote the same {path} "
        f"(it begins {quote[:QUOTE_CHARS]!r})"
    )


async def run_apart(
    program: str, outputs: list[str], compared: list[str]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """The `compared` files as the workspace holds them, and as `program` wrote them in a copy
    of the workspace without the first program's `outputs` (None: missing or unreadable)."""
    folder = await in_confinement(workspace_copy)
    if folder is None:
        return {}, {}
    try:
        await asyncio.to_thread(_remove, folder / "ws", outputs)
        await run_in_folder(program, folder / "ws")
        theirs = await asyncio.to_thread(_contents, folder / "ws", compared)
        ours = await in_confinement(_workspace_contents, compared)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    return ours, theirs


def _remove(copy: Path, outputs: list[str]) -> None:
    root = copy.resolve()
    for path in outputs:
        target = copy / path
        # The names come from a program's run: only a regular file inside the copy goes.
        if target.is_file() and not target.is_symlink() and target.resolve().is_relative_to(root):
            target.unlink()


def _contents(copy: Path, paths: list[str]) -> dict[str, str | None]:
    root = copy.resolve()
    found: dict[str, str | None] = {}
    for path in paths:
        target = copy / path
        inside = target.resolve().is_relative_to(root) and not target.is_symlink()
        try:
            text = target.read_text(encoding="utf-8") if inside else None
        except (OSError, UnicodeDecodeError):
            text = None
        found[path] = text if text is not None and len(text) <= COMPARED_CHARS else None
    return found


def _workspace_contents(paths: list[str], guard: Confinement) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for path in paths:
        try:
            text: str | None = read_text(str(guard.root), path, COMPARED_CHARS + 1, guard=guard)
        except (OSError, WorkspaceError):
            text = None
        found[path] = text if text is not None and len(text) <= COMPARED_CHARS else None
    return found


async def judged_by_programs(
    state: State, pending: list[StepResult], context: Context
) -> tuple[State, list[Criterion], CrossCheck]:
    """`state` with the criteria programs settled before any review: (opt-in) a cross-check's
    agreements and a checker program's verdicts; those criteria; and the cross-check, whose
    cost includes the checker's."""
    cross = CrossCheck()
    if cross_check_applies(state, pending, context):
        cross = await cross_checked(state, pending, context)
    settled: list[Criterion] = []
    if context.cross_check_settles and cross.agreed:
        criteria = cross.settled(state.criteria)
        settled += [new for new, old in zip(criteria, state.criteria, strict=True) if new != old]
        state = replace(state, criteria=criteria)
    if checker_applies(state, context):
        criteria, spent, decided = await judged_by_checker(state, context)
        settled += [c for c in criteria if c.id in decided]
        state, cross = replace(state, criteria=criteria), replace(cross, cost=cross.cost + spent)
    return state, settled, cross
