"""Ctrl-C stops a run even when something below planloop swallows the first cancellation."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import asyncio, sys
    from graph.cli.interrupt import run_interruptibly

    async def stubborn() -> None:
        print("ready", flush=True)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            print("swallowed", flush=True)  # as a library once did with a run's cancellation
        await asyncio.Event().wait()

    try:
        run_interruptibly(stubborn(), recancel_seconds=0.05)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def test_a_swallowed_cancellation_is_cancelled_again(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", PROGRAM],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert process.stdout.read() == "swallowed\n"
