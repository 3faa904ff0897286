"""Workspace confinement and the file operations behind the file tools.

Every path a tool receives is relative to the workspace. It is refused when it is absolute,
contains `..` or a NUL byte, or resolves (symlinks followed) to anywhere outside the workspace;
the check is `Path.is_relative_to` on resolved paths, so `/w/wsEVIL` is not inside `/w/ws`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from nodes.errors import UsageError

if TYPE_CHECKING:
    from tools.confinement import Confinement

MAX_WRITE_BYTES = 10 * 1024 * 1024
NO_LINK_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LISTED_FILES = 200
RUNS_DIR = "planloop-runs"
"""Workspace folder of every run's report, answer and artifacts (see `tools.artifacts`)."""

EDIT_MISS_CHARS = 1500
"""How much of the file an edit that missed its text shows, so the next try can copy it."""

_locks_guard = threading.Lock()
_path_locks: dict[Path, threading.Lock] = {}


class WorkspaceError(UsageError):
    """A path or file operation the workspace does not allow."""


def workspace_root(workspace: str | os.PathLike[str]) -> Path:
    """The resolved workspace directory, which must exist."""
    root = Path(workspace).expanduser()
    if not root.is_dir():
        raise WorkspaceError(f"workspace {str(root)!r} is not a directory")
    return root.resolve()


@contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """Hold the lock of one resolved path: read-modify-write operations on the same file
    (parallel appends and edits) run one at a time, so none overwrites another's change."""
    with _locks_guard:
        lock = _path_locks.setdefault(target, threading.Lock())
    with lock:
        yield


def resolve_in_workspace(
    workspace: str | os.PathLike[str],
    path: str,
    *,
    guard: Confinement | None = None,
    write: bool = False,
) -> Path:
    """Resolve a workspace-relative path, refusing anything that could leave the workspace.

    With `guard`, planloop's own files inside the workspace are refused too (`write`: the path
    is about to be changed).
    """
    if "\x00" in path:
        raise WorkspaceError("path contains a NUL byte")
    cleaned = path.strip()
    if not cleaned:
        raise WorkspaceError("path is empty")
    if cleaned.startswith(("/", "\\", "~")) or PurePosixPath(cleaned).is_absolute():
        raise WorkspaceError(f"absolute path {cleaned!r} is not allowed; use a workspace path")
    if ".." in PurePosixPath(cleaned.replace("\\", "/")).parts:
        raise WorkspaceError(f"path {cleaned!r} contains '..'")
    root = workspace_root(workspace)
    candidate = (root / cleaned).resolve()
    if not candidate.is_relative_to(root):
        raise WorkspaceError(f"path {cleaned!r} resolves outside the workspace")
    if guard is not None:
        guard.check(candidate, f"path {cleaned!r}", write=write)
    return candidate


def relative_name(workspace: str | os.PathLike[str], path: Path) -> str:
    """How a resolved path is shown to the model: relative to the workspace."""
    return path.relative_to(workspace_root(workspace)).as_posix()


class _Beneath:
    """A resolved workspace file reached from the root one real folder at a time.

    The path was checked (inside the workspace, not planloop's own) after resolving every link.
    Code running beside the tool (a parallel run_python step) could still swap a folder on it
    for a link before the file is opened; walking the resolved components with O_NOFOLLOW
    makes such a swap an error instead of a redirection, and the file is then read or replaced
    through the folder's descriptor.
    """

    def __init__(self, root: Path, target: Path, *, create: bool) -> None:
        self.name = target.name
        self.shown = target.relative_to(root).as_posix()
        self.folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in target.relative_to(root).parts[:-1]:
                self.folder = self._enter(part, create=create)
        except BaseException:
            os.close(self.folder)
            raise

    def _enter(self, part: str, *, create: bool) -> int:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=self.folder)
        try:
            child = os.open(part, NO_LINK_DIR, dir_fd=self.folder)
        except FileNotFoundError:
            raise WorkspaceError(f"no such directory on the way to {self.shown}") from None
        except OSError as exc:  # ELOOP / ENOTDIR: a link or file took the folder's place
            raise WorkspaceError(
                f"{self.shown} changed while planloop was using it ({exc.strerror}); try again"
            ) from None
        os.close(self.folder)
        return child

    def read(self, max_chars: int | None = None) -> str | None:
        """The file's text (None when it does not exist); never through a link."""
        try:
            handle = os.open(
                self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.folder
            )
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.shown}: {exc.strerror}") from None
        with os.fdopen(handle, "r", encoding="utf-8", errors="replace") as text:
            return text.read() if max_chars is None else text.read(max_chars)

    def replace(self, content: str) -> int:
        """Write via a temporary file and rename (a crash never leaves a half-written file; a
        link in the file's place is replaced, not followed); returns the size written."""
        data = content.encode("utf-8", errors="replace")
        if len(data) > MAX_WRITE_BYTES:
            raise WorkspaceError(f"content is {len(data)} bytes; the limit is {MAX_WRITE_BYTES}")
        temp = f".{self.name}.{os.urandom(4).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        handle = os.open(temp, flags, 0o644, dir_fd=self.folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.name, src_dir_fd=self.folder, dst_dir_fd=self.folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self.folder)
            raise
        return len(data)

    def __enter__(self) -> _Beneath:
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.folder)


def read_text(
    workspace: str | os.PathLike[str],
    path: str,
    max_chars: int,
    *,
    guard: Confinement | None = None,
) -> str:
    """Read a text file; undecodable bytes become U+FFFD rather than failing the step."""
    target = resolve_in_workspace(workspace, path, guard=guard)
    if not target.is_file():
        raise WorkspaceError(f"no such file: {path}")
    with _Beneath(workspace_root(workspace), target, create=False) as file:
        text = file.read(max_chars + 1)
    if text is None:
        raise WorkspaceError(f"no such file: {path}")
    if len(text) > max_chars:
        return text[:max_chars] + f"\n[... truncated at {max_chars} characters]"
    return text


def write_text(
    workspace: str | os.PathLike[str],
    path: str,
    content: str,
    *,
    guard: Confinement | None = None,
) -> str:
    """Create or replace a file with `content`."""
    target = resolve_in_workspace(workspace, path, guard=guard, write=True)
    if target.is_dir():
        raise WorkspaceError(f"{path} is a directory")
    with file_lock(target), _Beneath(workspace_root(workspace), target, create=True) as file:
        size = file.replace(content)
    return f"wrote {size} bytes to {relative_name(workspace, target)}"


def append_text(
    workspace: str | os.PathLike[str],
    path: str,
    content: str,
    *,
    guard: Confinement | None = None,
) -> str:
    """Append `content` to a file, creating it when missing."""
    target = resolve_in_workspace(workspace, path, guard=guard, write=True)
    with file_lock(target), _Beneath(workspace_root(workspace), target, create=True) as file:
        size = file.replace((file.read() or "") + content)
    return f"appended to {relative_name(workspace, target)} (now {size} bytes)"


def edit_text(
    workspace: str | os.PathLike[str],
    path: str,
    old: str,
    new: str,
    *,
    guard: Confinement | None = None,
) -> str:
    """Replace the single occurrence of `old` with `new`."""
    target = resolve_in_workspace(workspace, path, guard=guard, write=True)
    with file_lock(target), _Beneath(workspace_root(workspace), target, create=False) as file:
        text = file.read()
        if text is None:
            raise WorkspaceError(f"no such file: {path}")
        count = text.count(old) if old else 0
        if count != 1:
            # The file's start lets the model copy the exact text instead of guessing again.
            shown = text[:EDIT_MISS_CHARS] + ("\n[...]" if len(text) > EDIT_MISS_CHARS else "")
            raise WorkspaceError(
                f"the text to replace occurs {count} times in {path}; it must be once. "
                f"The file begins:\n{shown}"
            )
        file.replace(text.replace(old, new, 1))
    return f"edited {relative_name(workspace, target)}"


def list_paths(
    workspace: str | os.PathLike[str], path: str = ".", *, guard: Confinement | None = None
) -> str:
    """List files under a workspace directory, one relative path per line (what `guard`
    hides is left out)."""
    root = workspace_root(workspace)
    base = root if path.strip() in ("", ".") else resolve_in_workspace(workspace, path, guard=guard)
    if not base.is_dir():
        raise WorkspaceError(f"no such directory: {path}")

    def visible(candidate: Path) -> bool:
        return guard is None or guard.refusal(candidate, write=False) is None

    names: list[str] = []
    for current, dirs, files in os.walk(base, followlinks=False):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and visible(here / d))
        for name in sorted(f for f in files if visible(here / f)):
            names.append((here / name).relative_to(root).as_posix())
            if len(names) >= MAX_LISTED_FILES:
                return "\n".join([*names, f"[... listing stopped at {MAX_LISTED_FILES} files]"])
    return "\n".join(names) if names else "(no files)"


def digest(text: str) -> str:
    """The digest the journal compares file contents by."""
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()
