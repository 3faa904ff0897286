"""Ctrl-C that always stops a run: `run_interruptibly` is `asyncio.run` whose SIGINT cancels the
work, and cancels it again while the cancellation is not honoured.

`asyncio.run` cancels its task once on the first SIGINT. Once in CI a run went on after that
cancellation, until its model request timed out two minutes later (exit 1, not 130): something
below planloop took the cancellation for its own. Checkpoints and the journal make stopping at
any point safe, so insisting costs nothing a resume does not restore.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

RECANCEL_SECONDS = 5.0
"""How long a cancelled run may take to wind down (writing its last checkpoint) before it is
cancelled again."""


def run_interruptibly(
    work: Coroutine[Any, Any, T], *, recancel_seconds: float = RECANCEL_SECONDS
) -> T:
    """Run `work` to its end; SIGINT cancels it (again every `recancel_seconds` until it
    stops) and raises `KeyboardInterrupt`."""
    return asyncio.run(_interruptible(work, recancel_seconds))


async def _interruptible(work: Coroutine[Any, Any, T], recancel_seconds: float) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None, "a coroutine run by asyncio.run has a task"
    interrupted = False

    def cancel() -> None:
        nonlocal interrupted
        interrupted = True
        if not task.done():
            task.cancel()
            loop.call_later(recancel_seconds, cancel)

    loop.add_signal_handler(signal.SIGINT, cancel)
    try:
        return await work
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
