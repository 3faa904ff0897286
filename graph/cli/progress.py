"""Human-readable progress lines for the CLI, one or more per node update."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TextIO, TypeVar

from nodes.budget import summary
from nodes.render import step_line
from nodes.state import Budget, Criterion, Step, StepResult

T = TypeVar("T")

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Text safe for a terminal: escape sequences and control characters removed."""
    return _CONTROL.sub("", _ESCAPES.sub("", text))


def first_line(text: str, width: int = 160) -> str:
    """The first non-empty line of text, clipped."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


class ProgressPrinter:
    """Prints what each node did as the run streams; keeps a running budget total."""

    def __init__(self, out: TextIO | None = None, budget: Budget | None = None) -> None:
        self.out = out or sys.stdout
        self.budget = budget or Budget()

    def say(self, text: str) -> None:
        """Print one cleaned line and flush, so progress shows live."""
        print(clean(text), file=self.out, flush=True)

    def __call__(self, node: str, update: Mapping[str, object]) -> None:
        """Print what one node's update says (used as `drive`'s `on_update`)."""
        delta = update.get("budget")
        if isinstance(delta, Budget):
            self.budget = self.budget + delta
        handler = getattr(self, f"_on_{node}", None)
        if handler is not None:
            handler(update)

    def _on_tools(self, update: Mapping[str, object]) -> None:
        problems = update.get("problems")
        for source, why in problems.items() if isinstance(problems, Mapping) else []:
            self.say(f"warning: tools of {source} are unavailable this run: {why}")

    def _on_parse_goal(self, update: Mapping[str, object]) -> None:
        if "objective" in update:
            self.say(f"[goal] {update['objective']}")
        for criterion in _items(update.get("criteria"), Criterion):
            self.say(f"  criterion {criterion.id}: {criterion.text}")

    def _on_plan(self, update: Mapping[str, object]) -> None:
        errors = update.get("plan_errors")
        if isinstance(errors, list) and errors:
            self.say(f"[plan] rejected: {'; '.join(map(str, errors))}")
            return
        steps = _items(update.get("plan"), Step)
        if steps:
            self.say(f"[plan] {len(steps)} step{'' if len(steps) == 1 else 's'}")
            for step in steps:
                self.say(f"  {step_line(step)}")

    def _on_execute_step(self, update: Mapping[str, object]) -> None:
        results = update.get("results")
        if isinstance(results, Mapping):
            for result in _items(list(results.values()), StepResult):
                self.say(f"[step {result.step_id}] {result.status}: {first_line(result.output)}")

    def _on_reflect(self, update: Mapping[str, object]) -> None:
        results = update.get("results")
        if isinstance(results, Mapping):
            for result in _items(list(results.values()), StepResult):
                self.say(f"[reflect] {result.step_id}: {result.verdict} {first_line(result.note)}")
        for criterion in _items(update.get("criteria"), Criterion):
            if criterion.met:
                self.say(f"  criterion {criterion.id} met: {first_line(criterion.evidence)}")

    def _on_decide_done(self, update: Mapping[str, object]) -> None:
        decision = update.get("decision", "continue")
        reason = update.get("stop_reason") or update.get("replan_reason") or ""
        self.say(f"[decide] {decision}{': ' + str(reason) if reason else ''}")
        self.say(f"  budget: {summary(self.budget)}")


def _items(value: object, kind: type[T]) -> list[T]:
    return [v for v in value if isinstance(v, kind)] if isinstance(value, list) else []
