"""Large tool outputs live as files in the workspace; state keeps a clipped text and a path."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from tools.sanitize import close_untrusted
from tools.workspace import relative_name, resolve_in_workspace, write_text_atomic

RUNS_DIR = "planloop-runs"


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


def save_artifact(workspace: str | os.PathLike[str], thread_id: str, label: str, text: str) -> str:
    """Store `text` under the run's artifacts folder; return its workspace-relative path.

    The name is derived from the content, so a re-run step writes the same file, not a copy.
    """
    digest = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:12]
    safe_label = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40] or "output"
    target = resolve_in_workspace(
        workspace, f"{run_dir(thread_id)}/artifacts/{safe_label}-{digest}.txt"
    )
    write_text_atomic(target, text)
    return relative_name(workspace, target)


def clip(
    text: str, limit: int, *, workspace: str | os.PathLike[str], thread_id: str, label: str
) -> Observation:
    """Clip `text` to `limit` characters; the full text is saved as an artifact when clipped."""
    if len(text) <= limit:
        return Observation(text)
    path = save_artifact(workspace, thread_id, label, text)
    marker = (
        f"\n[... truncated: {len(text)} characters in all; the full output is in {path} "
        "(read_file can read it)]"
    )
    return Observation(close_untrusted(text[:limit]) + marker, [path])
