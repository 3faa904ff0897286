"""Serialising schema set-up across processes that open one SQLite database at the same time.

`CREATE TABLE IF NOT EXISTS` is safe to race, but migration bookkeeping is not: two processes
setting up the store at once both insert the same migration row. A short exclusive file lock
beside the database makes the first-time set-up one process at a time.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path


def _lock_path(db_path: str | os.PathLike[str]) -> Path:
    path = Path(db_path)
    return path.with_name(f".{path.name}.setup.lock")


@contextmanager
def schema_lock(db_path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the database's set-up lock (blocking) for the block."""
    handle = os.open(_lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


@asynccontextmanager
async def async_schema_lock(db_path: str | os.PathLike[str]) -> AsyncIterator[None]:
    """`schema_lock` for async code: the wait happens in a thread, not on the event loop."""
    handle = os.open(_lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)
