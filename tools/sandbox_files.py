"""Which workspace files a sandboxed program created or changed."""

from __future__ import annotations

import os
from pathlib import Path

IGNORED_DIRS = {"planloop-runs", "__pycache__", ".git"}
MAX_TRACKED = 5000


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of the workspace's files (bounded, no symlinks)."""
    seen: dict[str, tuple[int, int]] = {}
    for current, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if d not in IGNORED_DIRS]
        for name in files:
            path = Path(current) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            seen[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
            if len(seen) >= MAX_TRACKED:
                return seen
    return seen


def changed_files(root: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """Files that are new or different since `before`, sorted."""
    after = snapshot(root)
    return sorted(name for name, info in after.items() if before.get(name) != info)
