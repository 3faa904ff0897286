"""Named points where a test freezes planloop, to kill it there and check crash recovery.

`PLANLOOP_FAILPOINT=name[@N]` stops the process with SIGSTOP the Nth time (default: the first)
it passes the point `name`; `name:tool` counts only that tool's actions
(`action-done:run_python`), and `*` matches every point, so `*@N` stops at the Nth point passed.
The test that set it waits for the stop (`waitpid` with `WUNTRACED`), then kills the process:
a crash at an exact place, with no timing involved. Unset, a failpoint does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

FAILPOINT_ENV = "PLANLOOP_FAILPOINT"

ACTION_STARTED = "action-started"
"""A side effect is journaled as started; the tool has not run yet."""
PROGRAM_EXITED = "program-exited"
"""A run_python program has ended; planloop has not yet built or saved its observation."""
ACTION_DONE = "action-done"
"""The tool has returned; its completion is not journaled yet."""
ACTION_COMPLETED = "action-completed"
"""The completion is journaled."""

_passed: Counter[str] = Counter()
_lock = threading.Lock()


def failpoint(name: str, tool: str = "") -> None:
    """Freeze the whole process here when `PLANLOOP_FAILPOINT` selects this pass."""
    wanted = os.environ.get(FAILPOINT_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point not in (name, f"{name}:{tool}", "*"):
        return
    with _lock:
        _passed[point] += 1
        reached = _passed[point] == int(nth or 1)
    if reached:
        os.kill(os.getpid(), signal.SIGSTOP)
