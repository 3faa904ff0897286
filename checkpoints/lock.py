"""One writer per thread: a lock per thread, released when its holder dies.

On SQLite it is an OS file lock beside the database (`checkpoints.sqlite`); on Postgres a
session-level advisory lock held on a connection of its own (`checkpoints.postgres`), so
processes on different machines exclude each other too.
"""

from __future__ import annotations

from nodes.errors import UsageError


class ThreadBusyError(UsageError):
    """Another process is running this thread right now (nothing was run)."""


def busy(thread_id: str, holder: str) -> ThreadBusyError:
    """The error for a thread whose lock `holder` has."""
    return ThreadBusyError(
        f"thread {thread_id} is already running ({holder}); wait for it to finish or stop it first"
    )
