"""One writer per thread: a lock per thread, released when its holder dies.

On SQLite it is an OS file lock beside the database (`checkpoints.sqlite`); on Postgres a
session-level advisory lock held on a connection of its own (`checkpoints.postgres`), so
processes on different machines exclude each other too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from nodes.errors import UsageError


class ThreadBusyError(UsageError):
    """Another process is running this thread right now (nothing was run)."""


def busy(thread_id: str, holder: str) -> ThreadBusyError:
    """The error for a thread whose lock `holder` has."""
    return ThreadBusyError(
        f"thread {thread_id} is already running ({holder}); wait for it to finish or stop it first"
    )


@contextmanager
def thread_lock(db_path: str | os.PathLike[str], thread_id: str) -> Iterator[None]:
    """Hold the thread's lock for the block; refuse at once if another process holds it."""
    from checkpoints.storage import open_storage

    with open_storage(db_path).thread_lock(thread_id):
        yield
