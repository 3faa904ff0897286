"""What a code run leaves on disk, so that a crash after it finished does not run it again.

A journaled run_python call gets a receipt folder outside the workspace (see
`checkpoints.journal.Journal.receipt_dir`). The sandbox's bootstrap writes the program's exit
status there when the program ends by itself (`STATUS_FILE`), through a descriptor planloop
opened, so the status survives planloop's death; planloop writes the whole observation
(`OUTCOME_FILE`) before it journals the completion. A resume that finds either knows the program
finished and does not run it again. A program still running when planloop died was killed with
it and leaves neither: that one is run again (the spec allows redoing the step in flight).
"""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path

STATUS_FILE = "status"
OUTCOME_FILE = "outcome.json"
FAILED_PREFIX = "ERROR: RuntimeError: "
"""How a failed run_python call reads once `run_tool` has turned its exception into text."""

action_receipt: ContextVar[Path | None] = ContextVar("planloop_action_receipt", default=None)
"""The receipt folder of the journaled call in progress (set by `tools.journaled`)."""


def save_outcome(receipt: Path, ok: bool, text: str, *, exact: bool = False) -> None:
    """Record the call's observation (atomically: a crash leaves the old state or the new).

    `exact`: `text` is the observation as `run_tool` returns it (any tool's call); otherwise it
    is a run_python observation whose failure prefix is added on recovery."""
    receipt.mkdir(parents=True, exist_ok=True)
    temp = receipt / f".{OUTCOME_FILE}.tmp"
    with temp.open("w", encoding="utf-8") as out:
        json.dump({"ok": ok, "text": text, "exact": exact}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, receipt / OUTCOME_FILE)


def has_outcome(receipt: Path) -> bool:
    """True when the call's observation was already saved (run_python saves its own)."""
    return (receipt / OUTCOME_FILE).exists()


def recovered(receipt: Path) -> tuple[bool, str] | None:
    """(ok, observation) of a call that had finished, or None when it had not."""
    try:
        outcome = json.loads((receipt / OUTCOME_FILE).read_text(encoding="utf-8"))
        ok, text = bool(outcome["ok"]), str(outcome["text"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    else:
        return ok, text if ok or outcome.get("exact") else FAILED_PREFIX + text
    try:
        code = int((receipt / STATUS_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    text = (
        f"exit status {code}\n[the program had finished before planloop was interrupted; "
        "its output was not saved]"
    )
    return (True, text) if code == 0 else (False, FAILED_PREFIX + text)
