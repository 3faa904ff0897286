"""One writer per thread: an OS file lock per thread, released when its holder dies."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nodes.errors import PlanloopError


class ThreadBusyError(PlanloopError):
    """Another process is running this thread right now."""


@contextmanager
def thread_lock(db_path: str | os.PathLike[str], thread_id: str) -> Iterator[None]:
    """Hold the thread's lock for the block; refuse at once if another process holds it.

    `flock` locks belong to the open file, so the kernel releases them when the holder exits
    or is killed: a crashed run never leaves its thread locked.
    """
    name = hashlib.sha256(thread_id.encode()).hexdigest()[:24]
    path = Path(db_path).parent / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "another process"
            raise ThreadBusyError(
                f"thread {thread_id} is already running (pid {holder}); "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock
