"""What the steps of one wave have spent so far, seen by each of them.

The steps LangGraph runs in one super-step (one `Send` each) start from the same budget, the
run's at dispatch. Each checking the limits against that budget plus only its own spending, a
wave of N steps could spend what was left N times over. So the wave's steps share one ledger
(in the process that runs the super-step), and each model or tool call first claims its share:
a call that would cross a limit is not made, whichever sibling asks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

from nodes.budget import exceeded_limit
from nodes.context import Context
from nodes.state import Budget, StepTask
from tools.runtime import current_thread_id

MODEL_CALL = Budget(llm_calls=1)
TOOL_CALL = Budget(tool_calls=1)


@dataclass(eq=False)
class WaveBudget:
    """The spending of one wave's steps while they run."""

    dispatched: Budget
    """The run's budget when the wave was dispatched."""
    spent: Budget = field(default_factory=Budget)
    """What the wave's steps spent, or claimed for calls in flight."""

    def claim(self, claim: Budget, context: Context, elapsed: float = 0.0) -> str | None:
        """Set `claim` aside for a call about to be made; or the limit the run has reached
        (`elapsed`: this step's working seconds, which siblings spend at the same time)."""
        so_far = self.dispatched + self.spent + Budget(seconds=elapsed)
        limit = exceeded_limit(so_far, context)
        if limit is None:
            self.spent += claim
        return limit

    def model_call_cost(self, cost: Budget) -> None:
        """Add what a model call cost beyond the call its step claimed (tokens, money)."""
        self.spent += replace(cost, llm_calls=0, seconds=0.0)


KEPT_WAVES = 256
"""Ledgers kept in the process, the latest waves' (a wave's steps all start at once)."""
_WAVES: OrderedDict[tuple[str, str], WaveBudget] = OrderedDict()


def wave_budget(task: StepTask) -> WaveBudget:
    """The ledger of the wave `task` belongs to: its steps were dispatched with the very same
    budget (seconds included), which no other wave of the run has."""
    key = (current_thread_id(), repr(task.budget))
    wave = _WAVES.get(key)
    if wave is None:
        wave = _WAVES[key] = WaveBudget(dispatched=task.budget)
        while len(_WAVES) > KEPT_WAVES:
            _WAVES.popitem(last=False)
    return wave
