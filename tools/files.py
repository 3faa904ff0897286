"""File tools confined to the run's workspace (see `tools.workspace` for the rules)."""

from __future__ import annotations

from langchain_core.tools import tool

from tools import workspace
from tools.runtime import current_context

READ_LIMIT_CHARS = 20_000


def current_workspace() -> str:
    """The workspace of the graph run this tool is called from."""
    return current_context().workspace


@tool
def read_file(path: str) -> str:
    """Read a UTF-8 text file from the workspace.

    Args:
        path: File path relative to the workspace root, e.g. `notes/todo.md`.
    """
    return workspace.read_text(current_workspace(), path, READ_LIMIT_CHARS)


@tool
def write_file(path: str, content: str) -> str:
    """Create or overwrite a text file in the workspace (parent folders are created).

    Args:
        path: File path relative to the workspace root, e.g. `report.md`.
        content: The complete new contents of the file.
    """
    return workspace.write_text(current_workspace(), path, content)


@tool
def append_file(path: str, content: str) -> str:
    """Append text to the end of a workspace file, creating the file if it does not exist.

    Args:
        path: File path relative to the workspace root.
        content: Text to add at the end (include a trailing newline if you want one).
    """
    return workspace.append_text(current_workspace(), path, content)


@tool
def edit_file(path: str, old_text: str, new_text: str) -> str:
    """Replace one exact occurrence of `old_text` with `new_text` in a workspace file.

    Args:
        path: File path relative to the workspace root.
        old_text: Text that occurs exactly once in the file.
        new_text: Replacement text.
    """
    return workspace.edit_text(current_workspace(), path, old_text, new_text)


@tool
def list_files(path: str = ".") -> str:
    """List the files under a workspace directory, one relative path per line.

    Args:
        path: Directory relative to the workspace root; `.` for the whole workspace.
    """
    return workspace.list_paths(current_workspace(), path)
