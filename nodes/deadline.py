"""The run's time limit, kept by model calls in flight.

The budget's seconds are checked between calls (`nodes.budget`), but one call can take
minutes on a slow server: a program started with 20 s left ran 90 s past a 270 s limit. So
each node runs under a deadline, the moment its run's `max_seconds` run out (the node's
budget at its start plus the seconds left), and the model seam (`nodes.llm`) stops a call
still in flight then, raising `OutOfTimeError`. The node catches it where it can keep what it
has (code's checks, the results so far) and ends the run `budget_exhausted` on the limit,
exactly as a limit crossed between calls does.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar, cast

from langgraph.runtime import Runtime

from nodes.context import Context
from nodes.errors import PlanloopError
from nodes.state import Budget, State, StepTask


class OutOfTimeError(PlanloopError):
    """The run's max-seconds ran out while a model call was in flight; the call was stopped.
    `spent`: what the node's earlier calls cost (the stopped call's tokens are not reported)."""

    def __init__(self, message: str, *, spent: Budget | None = None) -> None:
        super().__init__(message)
        self.spent = spent or Budget()


@dataclass(frozen=True)
class Deadline:
    """When a node's model calls must have ended, and the limit that says so."""

    started: float
    """`time.monotonic()` reading when the node started (its stopwatch counts from here, so
    a node stopped at the deadline has spent every second that was left)."""
    at: float
    """`time.monotonic()` reading at which the run's seconds are used up."""
    limit: str
    """The limit, described for the user ("max seconds (270)")."""

    def seconds_left(self) -> float:
        """Seconds until the deadline (0 or less: passed)."""
        return self.at - time.monotonic()

    def passed(self) -> OutOfTimeError:
        """The error a call stopped by this deadline raises."""
        return OutOfTimeError(
            f"budget limit reached: {self.limit}; the model call in flight was stopped"
        )


_deadline: ContextVar[Deadline | None] = ContextVar("planloop_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the node running now, or None outside a node (no limit)."""
    return _deadline.get()


@contextmanager
def deadline_for(spent: Budget, context: Context) -> Iterator[Deadline]:
    """Model calls inside the block end when the run's `max_seconds` do, counting `spent`."""
    started = time.monotonic()
    left = context.max_seconds - spent.seconds
    deadline = Deadline(started, started + left, f"max seconds ({context.max_seconds:g})")
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def out_of_time(exc: OutOfTimeError) -> dict[str, object]:
    """The state update that ends the run on the time limit a stopped call hit."""
    return {"status": "budget_exhausted", "stop_reason": str(exc)}


NodeT = TypeVar("NodeT", bound=Callable[..., Awaitable[dict[str, object]]])


def within_run_time(node: NodeT) -> NodeT:
    """Run the node `node` (called as LangGraph calls it: its input, a `State` or a
    `StepTask`, then `runtime`) under its run's deadline."""

    @functools.wraps(node)
    async def timed(state: State | StepTask, runtime: Runtime[Context]) -> dict[str, object]:
        with deadline_for(state.budget, runtime.context):
            return await node(state, runtime)

    return cast(NodeT, timed)
