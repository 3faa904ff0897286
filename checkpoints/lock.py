"""One writer per thread: a lock per thread, released when its holder dies.

On SQLite it is an OS file lock beside the database; on Postgres a session-level advisory lock
held on a connection of its own, so processes on different machines exclude each other too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from checkpoints.backend import LOCKS_DIR, advisory_key, is_postgres, redact
from checkpoints.saver import CheckpointStoreError
from nodes.errors import PlanloopError

LOCK_GRACE_SECONDS = 1.0
"""How long a Postgres lock request waits: a killed holder's server session ends a moment after
the process, so a resume started right after a crash is not refused for that moment."""
KEEPALIVE_OPTIONS = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
)
"""The server drops (and unlocks) a session whose machine vanished within about 25 seconds."""


if TYPE_CHECKING:
    import psycopg


class ThreadBusyError(PlanloopError):
    """Another process is running this thread right now."""


def _busy(thread_id: str, holder: str) -> ThreadBusyError:
    return ThreadBusyError(
        f"thread {thread_id} is already running ({holder}); wait for it to finish or stop it first"
    )


@contextmanager
def thread_lock(db_path: str | os.PathLike[str], thread_id: str) -> Iterator[None]:
    """Hold the thread's lock for the block; refuse at once if another process holds it."""
    if is_postgres(db_path):
        with _advisory_lock(str(db_path), thread_id):
            yield
        return
    with _file_lock(Path(db_path), thread_id):
        yield


@contextmanager
def _file_lock(db_path: Path, thread_id: str) -> Iterator[None]:
    """`flock` locks belong to the open file, so the kernel releases them when the holder exits
    or is killed: a crashed run never leaves its thread locked."""
    name = hashlib.sha256(thread_id.encode()).hexdigest()[:24]
    path = db_path.parent / LOCKS_DIR / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "another process"
            raise _busy(thread_id, f"pid {holder}") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


@contextmanager
def _advisory_lock(url: str, thread_id: str) -> Iterator[None]:
    """A session-level advisory lock: the server releases it when the session ends, which
    happens when the holding process exits or is killed (its connection closes)."""
    import psycopg  # only Postgres users pay for the import

    key = advisory_key(f"thread:{thread_id}")
    me = f"pid {os.getpid()} on {socket.gethostname()}"
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            application_name=f"planloop {me}"[:63],
            options=KEEPALIVE_OPTIONS,
            connect_timeout=10,
        )
    except psycopg.Error as exc:
        raise CheckpointStoreError(f"cannot open database {redact(url)}: {exc}") from exc
    try:
        deadline = time.monotonic() + LOCK_GRACE_SECONDS
        while not _try_lock(conn, key):
            if time.monotonic() > deadline:
                raise _busy(thread_id, _holder(conn, key))
            time.sleep(0.05)
        yield
    finally:
        conn.close()  # ending the session releases the lock


def _try_lock(conn: psycopg.Connection[tuple[object, ...]], key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def _holder(conn: psycopg.Connection[tuple[object, ...]], key: int) -> str:
    """Who holds the lock, from the holder's application name (e.g. `pid 42 on host`)."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    name = str(row[0]) if row and row[0] else ""
    return name.removeprefix("planloop ") if name.startswith("planloop ") else "another process"
