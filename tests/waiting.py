"""Waiting for a condition, not for a time: what tests use instead of fixed delays.

A busy machine (CI on two cores, with a compiler beside it) makes everything slower but never
changes what eventually happens. So tests poll the condition they need, with a deadline far
beyond what an idle machine takes, and fail only if it never comes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PATIENCE_SECONDS = 60.0
"""How long a condition may take on a loaded machine before the test calls it a failure."""
POLL_SECONDS = 0.05


def eventually(condition: Callable[[], bool], *, within: float = PATIENCE_SECONDS) -> bool:
    """Poll `condition` until it holds (True) or `within` seconds pass (False)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


async def eventually_async(
    condition: Callable[[], bool], *, within: float = PATIENCE_SECONDS
) -> bool:
    """`eventually` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True
