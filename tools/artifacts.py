"""Large tool outputs live as files in the workspace; state keeps a clipped text and a path.

Everything planloop writes into `planloop-runs/<thread>/` goes through `write_run_file`, which
never follows a link: the agent's code shares the workspace, and whatever it planted in that
folder's place (a symlink out of the workspace, a file) is moved aside, not written through.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import uuid
from dataclasses import dataclass, field

from tools.sanitize import close_untrusted
from tools.workspace import RUNS_DIR, WorkspaceError, workspace_root

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FOLDER_ATTEMPTS = 3


def run_dir(thread_id: str) -> str:
    """Workspace-relative folder of one run's report, answer and artifacts."""
    return f"{RUNS_DIR}/{thread_id}"


@dataclass(frozen=True)
class Observation:
    """A tool output as it enters state."""

    text: str
    """At most the configured number of characters, with a marker when clipped."""
    artifacts: list[str] = field(default_factory=list)
    """Workspace-relative paths of the full outputs that were clipped."""


def _move_aside(parent: int, name: str) -> None:
    """Clear `name` for a real folder: a link is removed (that loses nothing), anything else is
    renamed, so no data the agent left there is destroyed."""
    info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        os.unlink(name, dir_fd=parent)
    else:
        aside = f"{name}.displaced-{uuid.uuid4().hex[:8]}"
        os.rename(name, aside, src_dir_fd=parent, dst_dir_fd=parent)


def _open_folder(parent: int, name: str) -> int:
    """A descriptor of the real folder `name` under `parent`, created when missing."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise WorkspaceError(f"{name!r} cannot name a folder")
    for _ in range(FOLDER_ATTEMPTS):
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
        try:
            return os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
        _move_aside(parent, name)
    raise WorkspaceError(f"{name} keeps being replaced by something that is not a folder")


def _clear_for_file(folder: int, name: str) -> None:
    """A folder planted where a file is to go is moved aside (a rename cannot replace it)."""
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        _move_aside(folder, name)


def _write_at(folder: int, name: str, data: bytes) -> None:
    """Write `name` in `folder` atomically (temporary file + rename, which replaces a link
    rather than following it)."""
    temp = f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    handle = os.open(
        temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
        dir_fd=folder,
    )  # fmt: skip
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        _clear_for_file(folder, name)
        os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        os.unlink(temp, dir_fd=folder)
        raise


def write_run_file(
    workspace: str | os.PathLike[str], thread_id: str, name: str, text: str, *, sub: str = ""
) -> str:
    """Write `planloop-runs/<thread>/[sub/]name`; return its workspace-relative path.

    Raises `OSError` or `WorkspaceError` when the file cannot be written.
    """
    parts = [RUNS_DIR, thread_id, *([sub] if sub else [])]
    folder = os.open(workspace_root(workspace), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            child = _open_folder(folder, part)
            os.close(folder)
            folder = child
        if "/" in name or name in ("", ".", ".."):
            raise WorkspaceError(f"{name!r} cannot name a file")
        _write_at(folder, name, text.encode("utf-8", errors="replace"))
    finally:
        os.close(folder)
    return "/".join([*parts, name])


def ensure_run_dir(workspace: str | os.PathLike[str], thread_id: str) -> None:
    """Make `planloop-runs/<thread>` a real folder (moving aside whatever was planted there)."""
    folder = os.open(workspace_root(workspace), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in (RUNS_DIR, thread_id):
            child = _open_folder(folder, part)
            os.close(folder)
            folder = child
    finally:
        os.close(folder)


def save_artifact(workspace: str | os.PathLike[str], thread_id: str, label: str, text: str) -> str:
    """Store `text` under the run's artifacts folder; return its workspace-relative path.

    The name is derived from the content, so a re-run step writes the same file, not a copy.
    """
    digest = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:12]
    safe_label = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40] or "output"
    return write_run_file(workspace, thread_id, f"{safe_label}-{digest}.txt", text, sub="artifacts")


def clip(
    text: str, limit: int, *, workspace: str | os.PathLike[str], thread_id: str, label: str
) -> Observation:
    """Clip `text` to `limit` characters; the full text is saved as an artifact when clipped.

    When the artifact cannot be written, the observation says so: the step still has its
    clipped output, and the run goes on.
    """
    if len(text) <= limit:
        return Observation(text)
    try:
        path = save_artifact(workspace, thread_id, label, text)
    except (OSError, WorkspaceError) as exc:
        marker = (
            f"\n[... truncated: {len(text)} characters in all; the full output could not be "
            f"saved ({exc})]"
        )
        return Observation(close_untrusted(text[:limit]) + marker)
    marker = (
        f"\n[... truncated: {len(text)} characters in all; the full output is in {path} "
        "(read_file can read it)]"
    )
    return Observation(close_untrusted(text[:limit]) + marker, [path])
