"""Human-readable progress for the CLI: lines per node update (`ProgressPrinter`), and on a
terminal a live status line of the model calls in flight (`ModelStatus`)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TextIO, TypeVar

from nodes.budget import summary
from nodes.render import check_text, step_line
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
        self.status: ModelStatus | None = None
        """The live status line, moved out of the way of each printed line."""

    def say(self, text: str) -> None:
        """Print one cleaned line and flush, so progress shows live."""
        if self.status is not None:
            self.status.clear()
        print(clean(text), file=self.out, flush=True)
        if self.status is not None:
            self.status.draw()

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
            checked = f"  [{check_text(criterion.check)}]" if criterion.check else ""
            self.say(f"  criterion {criterion.id}: {criterion.text}{checked}")
        notes = update.get("criteria_notes")
        for note in notes if isinstance(notes, list) else []:
            self.say(f"  note: {note}")
        if update.get("effort") == "short":
            self.say("  short path: one executor step does the goal")

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


@dataclass
class _Call:
    stage: str
    started: float
    tokens: int = 0


class ModelStatus:
    """One line on a terminal's stderr while model calls are in flight, redrawn in place:
    `plan: waiting for the model · 12 s · 85 tokens` (the oldest call; others are counted).

    Fed the custom-stream events of `nodes.streaming` (it is `drive`'s `on_event`); `running()`
    keeps the seconds ticking while no event comes (a long prompt is read before any token).
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.calls: dict[str, _Call] = {}
        self._shown = False

    @classmethod
    def for_terminal(cls, out: TextIO | None = None) -> ModelStatus | None:
        """A status line on `out` (default stderr) when it is a terminal, else None."""
        stream = out or sys.stderr
        return cls(stream) if stream.isatty() else None

    def __call__(self, event: Mapping[str, object]) -> None:
        """Take one custom-stream event; events other than model call progress are ignored."""
        call = event.get("model_call")
        if not isinstance(call, Mapping):
            return
        key, state = str(call.get("id", "")), call.get("state")
        tokens = call.get("tokens")
        if state == "started":
            self.calls[key] = _Call(str(call.get("stage", "model")), time.monotonic())
        elif state in ("done", "failed"):
            self.calls.pop(key, None)
        elif key in self.calls and isinstance(tokens, int):
            self.calls[key].tokens = tokens
        self.draw()

    def line(self) -> str:
        """The status text ("" when no call is in flight)."""
        if not self.calls:
            return ""
        oldest = min(self.calls.values(), key=lambda c: c.started)
        seconds = int(time.monotonic() - oldest.started)
        text = f"{oldest.stage}: waiting for the model · {seconds} s · {oldest.tokens} tokens"
        others = len(self.calls) - 1
        return f"{text} (+{others} more call{'s' if others > 1 else ''})" if others else text

    def draw(self) -> None:
        """Show the current status in place of the previous one."""
        text = clean(self.line())
        if not text and not self._shown:
            return
        width = shutil.get_terminal_size().columns - 1
        self.out.write("\r\x1b[2K" + text[:width])
        self.out.flush()
        self._shown = bool(text)

    def clear(self) -> None:
        """Remove the status line (before other output, and at the end)."""
        if self._shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._shown = False

    async def running(self, work: Awaitable[T], every: float = 1.0) -> T:
        """Await `work`, redrawing the status every `every` seconds; cleared afterwards."""

        async def tick() -> None:
            while True:
                await asyncio.sleep(every)
                self.draw()

        ticker = asyncio.create_task(tick())
        try:
            return await work
        finally:
            ticker.cancel()
            self.calls.clear()
            self.clear()


def _items(value: object, kind: type[T]) -> list[T]:
    return [v for v in value if isinstance(v, kind)] if isinstance(value, list) else []
