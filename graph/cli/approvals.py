"""Answering approval interrupts from the terminal: showing them and building resume values.

The requests and answers are `nodes.approval_contract`'s types; payloads read back from a
checkpoint are handled as plain mappings, so a thread paused by an older planloop still answers.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from typing import TextIO

from graph.cli.progress import clean
from nodes.errors import UsageError

Payload = Mapping[str, object]


class AnswerError(UsageError):
    """An approval answer that cannot be built from what the user gave."""


def describe(payload: Payload) -> list[str]:
    """Lines that show one pending approval, safe for a terminal."""
    if payload.get("kind") == "plan_approval":
        lines = [f"plan approval for: {payload.get('objective', '')}"]
        if payload.get("diff"):
            lines.append(f"  changes since the last plan: {json.dumps(payload['diff'])}")
        plan = payload.get("plan")
        for step in plan if isinstance(plan, list) else []:
            lines.append(f"  {step.get('id')}: {step.get('description')} [{step.get('risk')}]")
    else:
        lines = [
            f"step {payload.get('step_id')} wants approval: {payload.get('why')}",
            f"  {payload.get('summary', payload.get('description', ''))}",
            f"  args: {json.dumps(payload.get('args'), ensure_ascii=False)[:2000]}",
        ]
        projected = payload.get("projected")
        if isinstance(projected, Mapping):
            lines.append(
                f"  remaining steps: {projected.get('remaining_steps')}, "
                f"projected cost: ${projected.get('estimated_cost_usd')}"
            )
    if payload.get("refused"):
        lines.append(f"  (your last answer was refused: {payload['refused']})")
    return [clean(line) for line in lines]


def build_answer(
    payload: Payload, action: str, *, edit: str | None = None, feedback: str = ""
) -> dict[str, object]:
    """The resume value for one pending approval, bound to its question (step id and args
    hash, or plan hash; see `nodes.approval_contract`)."""
    answer: dict[str, object] = {"action": action, "feedback": feedback}
    plan = payload.get("kind") == "plan_approval"
    binding: tuple[str, ...] = ("plan_hash",) if plan else ("step_id", "args_hash")
    answer.update({key: payload.get(key) for key in binding if payload.get(key) is not None})
    if action == "edit":
        if edit is None:
            raise AnswerError("edit needs new JSON (--edit)")
        try:
            edited = json.loads(edit)
        except json.JSONDecodeError as exc:
            raise AnswerError(f"--edit is not valid JSON: {exc.msg}") from None
        answer["plan" if payload.get("kind") == "plan_approval" else "args"] = edited
    return answer


def select(pending: Mapping[str, Payload], step: str | None) -> dict[str, Payload]:
    """The pending approvals an answer applies to: one step's, or all of them."""
    if step is None:
        return dict(pending)
    chosen = {i: p for i, p in pending.items() if p.get("step_id") == step}
    if not chosen:
        ids = ", ".join(str(p.get("step_id", "plan")) for p in pending.values())
        raise AnswerError(f"no approval pending for step {step!r} (pending: {ids})")
    return chosen


def edit_in_editor(current: object) -> str:
    """Let the user change JSON in $EDITOR; returns the edited text."""
    with tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False) as handle:
        json.dump(current, handle, indent=2, ensure_ascii=False)
        path = handle.name
    try:
        subprocess.run([*shlex.split(os.environ["EDITOR"]), path], check=True)
        with open(path, encoding="utf-8") as edited:
            return edited.read()
    finally:
        os.unlink(path)


def ask(
    pending: Mapping[str, Payload], read: Callable[[str], str], out: TextIO
) -> dict[str, dict[str, object]]:
    """Prompt for each pending approval; returns interrupt id -> resume value."""
    answers = {}
    for interrupt_id, payload in pending.items():
        for line in describe(payload):
            print(line, file=out)
        while True:
            choice = read("approve [a], edit [e] or reject [r]? ").strip().lower()[:1]
            try:
                if choice == "a":
                    answers[interrupt_id] = build_answer(payload, "approve")
                elif choice == "r":
                    feedback = read("why (shown to the planner)? ")
                    answers[interrupt_id] = build_answer(payload, "reject", feedback=feedback)
                elif choice == "e":
                    current = payload.get("plan" if "plan" in payload else "args")
                    text = (
                        edit_in_editor(current)
                        if os.environ.get("EDITOR")
                        else read("new JSON on one line: ")
                    )
                    answers[interrupt_id] = build_answer(payload, "edit", edit=text)
                else:
                    continue
            except AnswerError as exc:
                print(f"  {exc}", file=out)
                continue
            break
    return answers
