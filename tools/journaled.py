"""Acting under the run's journal: a side-effecting call is made at most once per idempotency
key, across crashes (the journal itself is `checkpoints.journal`).

Here live the outcomes the journal already knows (recorded, or found after a crash: the file at
the digest it was to have, a receipt), acting under the journal (started, made, its outcome kept,
completed), and settling a thread's unfinished entries before it continues. One action per
workspace file runs at a time, so the evidence a file gives is always its last action's.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from checkpoints.journal import Journal, JournalEntry
from tools.failpoints import ACTION_COMPLETED, ACTION_DONE, ACTION_STARTED, failpoint
from tools.receipts import action_receipt, has_outcome, recovered, save_outcome
from tools.sanitize import sanitize
from tools.workspace import WorkspaceError, digest, relative_name, resolve_in_workspace

ALREADY_RAN = "\n[from the journal: this action already ran]"
UNKNOWN_EFFECT = (
    "ERROR: an earlier attempt of this call was interrupted by a crash and {tool} cannot be "
    "safely repeated (not idempotent); whether it took effect is unknown, so it was not made "
    "again: check its effect, then plan it again if it is still needed"
)

_target_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)

Call = Callable[[], Awaitable[tuple[bool, str]]]
"""Makes the call itself: (ok, raw output); never raises for what the tool does."""


@dataclass(frozen=True)
class Action:
    """A side-effecting call as the journal records it."""

    key: str
    """Its idempotency key (`checkpoints.journal.idempotency_key`)."""
    tool: str
    args: Mapping[str, object]
    workspace: str
    thread_id: str
    step_id: str


def file_digest(workspace: str | os.PathLike[str], path: object) -> str | None:
    """Digest of a workspace file's current content, or None when it cannot be read."""
    try:
        target = resolve_in_workspace(workspace, str(path))
        return digest(target.read_text(encoding="utf-8", errors="replace"))
    except (OSError, WorkspaceError):
        return None


def planned_digest(
    workspace: str | os.PathLike[str], tool: str, args: Mapping[str, object]
) -> str | None:
    """Digest the target file will have once a file tool has run (None for other tools)."""
    path, content = args.get("path"), args.get("content")
    try:
        if tool == "write_file" and isinstance(content, str):
            return digest(content)
        existing = resolve_in_workspace(workspace, str(path))
        current = (
            existing.read_text(encoding="utf-8", errors="replace") if existing.is_file() else ""
        )
    except (OSError, WorkspaceError):
        return None
    if tool == "append_file" and isinstance(content, str):
        return digest(current + content)
    old, new = args.get("old_text"), args.get("new_text")
    if (
        tool == "edit_file"
        and isinstance(old, str)
        and isinstance(new, str)
        and current.count(old) == 1
    ):
        return digest(current.replace(old, new, 1))
    return None


def _target_of(workspace: str, args: Mapping[str, object]) -> str | None:
    """The workspace file a call acts on (its `path` argument), relative, or None."""
    path = args.get("path")
    if not isinstance(path, str):
        return None
    try:
        return relative_name(workspace, resolve_in_workspace(workspace, path))
    except (OSError, WorkspaceError):
        return None


def _one_at_a_time(target: str | None) -> AbstractAsyncContextManager[object]:
    """The lock of one workspace file for this event loop (no lock for calls without one).

    Held from the journal's `started` entry to its completion, so a file has at most one
    unfinished action at any moment, and that action made the file's last change: after a
    crash, the expected digest tells for sure whether the effect happened.
    """
    if target is None:
        return nullcontext()
    locks = _target_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(target, asyncio.Lock())


def evidence(
    journal: Journal, entry: JournalEntry, workspace: str, target: str | None = None
) -> tuple[bool, str] | None:
    """(ok, observation) of a started action that had in fact finished before a crash: the
    file is at the digest it was to have, or the code run left a receipt. None: it had not."""
    path = entry.target or target
    expected = entry.expected_digest
    if expected and path is not None and file_digest(workspace, path) == expected:
        return True, f"{entry.tool} on {path} had completed before an interruption"
    return recovered(journal.receipt_dir(entry.key))


def settle_unfinished(journal: Journal, thread_id: str, workspace: str) -> int:
    """Before a thread continues, record as completed every action of it that had finished
    before a crash (while nothing else can have changed its file yet); return how many."""
    settled = 0
    for entry in journal.unfinished(thread_id):
        found = evidence(journal, entry, workspace)
        if found is not None:
            journal.complete(entry.key, sanitize(found[1]))
            settled += 1
        journal.discard_receipt(entry.key)
    return settled


async def at_most_once(
    journal: Journal, action: Action, make: Call, *, rerun_after_crash: bool
) -> tuple[bool, str]:
    """Make a side-effecting call (`make`) at most once per idempotency key, across crashes.

    A call whose outcome is saved (its receipt) before the journal records it is not made again
    after a crash in between; a call interrupted mid-way is made again only when its tool may
    be repeated (`rerun_after_crash`), and otherwise becomes an error observation."""
    target = await asyncio.to_thread(_target_of, action.workspace, action.args)
    async with _one_at_a_time(target):
        entry = await asyncio.to_thread(journal.get, action.key)
        known = await _known_outcome(journal, action, entry, target, rerun_after_crash)
        if known is not None:
            return known
        return await _act(journal, action, target, make)


async def _known_outcome(
    journal: Journal,
    action: Action,
    entry: JournalEntry | None,
    target: str | None,
    rerun_after_crash: bool,
) -> tuple[bool, str] | None:
    """The outcome of an action the journal has seen: recorded, or found after a crash (the
    file's digest, a receipt); for an interrupted call that may not be repeated, an error
    observation. None: the action is to be made."""
    if entry is None:
        return None
    if entry.status == "completed" and entry.observation is not None:
        return not entry.observation.startswith("ERROR"), entry.observation + ALREADY_RAN
    found = await asyncio.to_thread(evidence, journal, entry, action.workspace, target)
    if found is not None:
        await asyncio.to_thread(journal.complete, action.key, sanitize(found[1]))
        await asyncio.to_thread(journal.discard_receipt, action.key)
        return found[0], found[1] + ALREADY_RAN
    if not rerun_after_crash:
        unknown = UNKNOWN_EFFECT.format(tool=action.tool)
        await asyncio.to_thread(journal.complete, action.key, unknown)
        return False, unknown
    return None


async def _act(
    journal: Journal, action: Action, target: str | None, make: Call
) -> tuple[bool, str]:
    """Journal the call as started, make it, keep its outcome, journal it as completed."""
    expected = await asyncio.to_thread(planned_digest, action.workspace, action.tool, action.args)
    await asyncio.to_thread(journal.discard_receipt, action.key)  # a killed attempt's leftovers
    await asyncio.to_thread(
        journal.start,
        action.key,
        thread_id=action.thread_id,
        step_id=action.step_id,
        tool=action.tool,
        expected_digest=expected,
        target=target,
    )
    failpoint(ACTION_STARTED, action.tool)
    receipt_dir = journal.receipt_dir(action.key)
    ok, raw = await _with_receipt(receipt_dir, make)
    # The outcome outlives a crash before the journal has it (file tools leave a digest
    # instead, and run_python saves its own).
    if expected is None and not await asyncio.to_thread(has_outcome, receipt_dir):
        await asyncio.to_thread(save_outcome, receipt_dir, ok, sanitize(raw), exact=True)
    failpoint(ACTION_DONE, action.tool)
    await asyncio.to_thread(journal.complete, action.key, sanitize(raw))
    failpoint(ACTION_COMPLETED, action.tool)
    await asyncio.to_thread(journal.discard_receipt, action.key)
    return ok, raw


async def _with_receipt(receipt_dir: Path, make: Call) -> tuple[bool, str]:
    """Make the call with its receipt folder known to the tool (run_python records there)."""
    receipt = action_receipt.set(receipt_dir)
    try:
        return await make()
    finally:
        action_receipt.reset(receipt)
