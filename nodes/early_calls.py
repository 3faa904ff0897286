"""Early calls: a planned read-only call starts while the plan is still being written.

A planner writes its steps one after another, and a slow model takes seconds per step. A step
whose tool and args are already fixed, whose tool only reads and which the approval policy
lets run without a human, cannot be changed by the rest of the plan: its call is started as
soon as the step's JSON object is complete in the stream (the LLMCompiler paper's streamed
dispatch). The plan is then validated as usual and the step is dispatched as usual; when
`execute_step` runs it, it takes the call's outcome instead of calling again.

Every guarantee holds: nothing that acts or needs approval starts early, an early call counts
against the run's tool-call budget when it starts (and never again), and a call nobody takes
(its plan was rejected or changed) is only a read that was counted. The calls live in this
process: a run resumed elsewhere simply makes them again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from nodes.approval import approval_reason
from nodes.context import Context
from nodes.state import Budget, State, Step
from tools import ToolOutcome, action_fingerprint, risk_of, spec_of

logger = logging.getLogger(__name__)


class StepScanner:
    """Finds each step object of a plan's `steps` array as soon as its JSON is complete, in a
    reply that arrives piece by piece. It tracks strings and nesting itself, so a `"steps"`
    inside a string or a nested object is never taken for the plan's."""

    def __init__(self) -> None:
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._string = ""
        self._last_string = ""
        self._after_key = False
        self._in_steps = False
        self._element: list[str] = []

    def feed(self, text: str) -> list[dict[str, object]]:
        """The step objects completed by `text`, the reply's next piece."""
        steps = []
        for char in text:
            step = self._char(char)
            if step is not None:
                steps.append(step)
        return steps

    def _char(self, char: str) -> dict[str, object] | None:
        if self._element:
            self._element.append(char)
        if self._in_string:
            self._string_char(char)
            return None
        if char == '"':
            self._in_string, self._string = True, ""
        elif char == ":":
            self._after_key = self._depth == 1 and self._last_string == "steps"
        elif char in "{[":
            self._open(char)
        elif char in "}]":
            return self._close()
        elif not char.isspace():
            self._after_key = False
        return None

    def _string_char(self, char: str) -> None:
        if self._escaped:
            self._escaped = False
        elif char == "\\":
            self._escaped = True
        elif char == '"':
            self._in_string, self._last_string = False, self._string
            return
        self._string += char

    def _open(self, char: str) -> None:
        if char == "[" and self._after_key:
            self._in_steps = True
        elif char == "{" and self._in_steps and self._depth == 2:
            self._element = ["{"]
        self._after_key = False
        self._depth += 1

    def _close(self) -> dict[str, object] | None:
        self._depth -= 1
        if self._depth == 1:
            self._in_steps = False
        if not (self._element and self._depth == 2):
            return None
        text, self._element = "".join(self._element), []
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


def startable(step: Mapping[str, object], state: State, context: Context) -> bool:
    """Whether a streamed step may start now: a call with fixed args (no placeholders, no
    dependencies) of an available tool that only reads, which the policy runs unasked."""
    tool, args = step.get("tool"), step.get("args")
    if not isinstance(tool, str) or not isinstance(args, dict) or step.get("depends_on"):
        return False
    if context.plan_approval or "{{" in json.dumps(args, default=str):
        return False
    spec = spec_of(tool, context)
    if spec is None or spec.side_effects or spec.why_unavailable():
        return False
    if risk_of(tool, context) != "read_only":
        return False
    planned = Step(
        id="early", description="", expected="", tool=tool, args=dict(args), risk="read_only"
    )
    why = approval_reason(
        planned, context, web_content_seen=state.web_content_seen, written=state.files_written
    )
    return why is None


@dataclass
class EarlyCalls:
    """The early calls one planning call started, by action fingerprint."""

    state: State
    context: Context
    room: int
    """How many calls may start early: what the run's budget allows, but one."""
    calls: dict[str, asyncio.Task[ToolOutcome]] = field(default_factory=dict)
    scanner: StepScanner = field(default_factory=StepScanner)

    def begin(self) -> None:
        """A new reply starts (a first attempt, a resend or a repair)."""
        self.scanner = StepScanner()

    def feed(self, text: str) -> None:
        """The reply's next piece: start each step it completes that may start."""
        for step in self.scanner.feed(text):
            if len(self.calls) < self.room and startable(step, self.state, self.context):
                self._start(str(step["tool"]), dict(step["args"]))  # type: ignore[call-overload]

    def _start(self, tool: str, args: dict[str, object]) -> None:
        from nodes.step_calls import call_tool  # step_calls imports this module's users

        key = action_fingerprint(tool, args)
        if key not in self.calls:
            logger.info("early call: %s %s starts while the plan is written", tool, args)
            self.calls[key] = asyncio.ensure_future(call_tool(tool, args, self.context, ""))

    def spent(self) -> Budget:
        """The tool calls started, as a budget delta of the node that planned."""
        return Budget(tool_calls=len(self.calls))


_RUNS: dict[str, EarlyCalls] = {}
"""The early calls of each run (by thread id) in this process, until taken or dropped."""


def early_calls(thread_id: str, state: State, context: Context) -> EarlyCalls:
    """A new set of early calls for a planning call of this run (earlier ones nobody took are
    dropped: a new plan is being written)."""
    drop_early_calls(thread_id)
    # One call is left unclaimed: calls counted ahead of their steps must never use up the
    # budget, or decide_done would stop the run before the steps that take them ran.
    room = max(0, context.max_tool_calls - state.budget.tool_calls - 1)
    calls = EarlyCalls(state, context, room)
    _RUNS[thread_id] = calls
    return calls


async def take_early_call(
    thread_id: str, tool: str, args: Mapping[str, object]
) -> ToolOutcome | None:
    """The outcome of the early call of exactly this tool and args (waiting for it if it is
    still running), once; None when there is none."""
    calls = _RUNS.get(thread_id)
    task = calls.calls.pop(action_fingerprint(tool, args), None) if calls else None
    if task is None:
        return None
    try:
        return await task
    except asyncio.CancelledError:
        if task.cancelled():  # the early call was dropped, not this step cancelled
            return None
        raise


def drop_early_calls(thread_id: str) -> None:
    """Forget the run's early calls that nobody took, cancelling any still running."""
    calls = _RUNS.pop(thread_id, None)
    for task in calls.calls.values() if calls else ():
        task.cancel()
