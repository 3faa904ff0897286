"""File tools confined to the run's workspace (see `tools.workspace` for the rules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core.tools import tool

from tools import workspace
from tools.confinement import Confinement
from tools.runtime import current_confinement

READ_LIMIT_CHARS = 20_000


def _here() -> tuple[str, Confinement]:
    """The workspace of the graph run this tool is called from, and what it hides."""
    guard = current_confinement()
    return str(guard.root), guard


MISSING_FILE_LISTED = 20
"""How many of the workspace's files an error about a missing file names."""


@contextmanager
def _missing_files_listed(root: str, guard: Confinement) -> Iterator[None]:
    """A missing file's error names the files there are: a small model that guessed a name
    (`region_data.json` for `sales.csv`) otherwise guesses again, or lists files first."""
    try:
        yield
    except workspace.WorkspaceError as exc:
        if not str(exc).startswith("no such file"):
            raise
        listed = workspace.list_paths(root, guard=guard).splitlines()
        names = [name for name in listed if not name.startswith("[...")]  # a stopped listing
        shown = ", ".join(names[:MISSING_FILE_LISTED])
        more = " and more" if len(listed) > MISSING_FILE_LISTED else ""
        raise workspace.WorkspaceError(f"{exc}; the workspace has: {shown}{more}") from exc


@tool
def read_file(path: str) -> str:
    """Read a UTF-8 text file from the workspace.

    Args:
        path: File path relative to the workspace root, e.g. `notes/todo.md`.
    """
    root, guard = _here()
    with _missing_files_listed(root, guard):
        return workspace.read_text(root, path, READ_LIMIT_CHARS, guard=guard)


@tool
def write_file(path: str, content: str) -> str:
    """Create or overwrite a text file in the workspace (parent folders are created).

    Args:
        path: File path relative to the workspace root, e.g. `report.md`.
        content: The complete new contents of the file.
    """
    root, guard = _here()
    return workspace.write_text(root, path, content, guard=guard)


@tool
def append_file(path: str, content: str) -> str:
    """Append text to the end of a workspace file, creating the file if it does not exist.

    Args:
        path: File path relative to the workspace root.
        content: Text to add at the end (include a trailing newline if you want one).
    """
    root, guard = _here()
    return workspace.append_text(root, path, content, guard=guard)


@tool
def edit_file(path: str, old_text: str, new_text: str) -> str:
    """Replace one exact occurrence of `old_text` with `new_text` in a workspace file.

    Args:
        path: File path relative to the workspace root.
        old_text: Text that occurs exactly once in the file.
        new_text: Replacement text.
    """
    root, guard = _here()
    with _missing_files_listed(root, guard):
        return workspace.edit_text(root, path, old_text, new_text, guard=guard)


@tool
def list_files(path: str = ".") -> str:
    """List the files under a workspace directory, one relative path per line.

    Args:
        path: Directory relative to the workspace root; `.` for the whole workspace.
    """
    root, guard = _here()
    return workspace.list_paths(root, path, guard=guard)
