"""What a workspace script prints, for a `program_output` check (`nodes.checks`).

A check runs the script as run_python runs code (the sandbox: no network, no secrets, the
run's limits), so code derives such a check only when the run may execute code without asking
(`--approve none`): a check never runs what a human was to approve first.
"""

from __future__ import annotations

import asyncio

from tools.confinement import Confinement
from tools.python_tool import run_script
from tools.runtime import current_context
from tools.workspace import WorkspaceError


def printed_by(path: str, guard: Confinement) -> str:
    """The script's standard output; raises `WorkspaceError` with a one-line reason when it
    did not run to a clean end. Blocking: called from a worker thread (which has no event
    loop of its own, so the sandbox gets one for the run). A run resumed with approvals on
    does not run it: its check fails with that reason."""
    if current_context().approval != "none":
        raise WorkspaceError("not run: running code waits for approval (--approve none)")
    result = asyncio.run(run_script(path, guard))
    if result.timed_out or result.exit_code != 0:
        why = "timed out" if result.timed_out else f"exit status {result.exit_code}"
        last = (result.stderr.strip().splitlines() or [""])[-1][:200]
        raise WorkspaceError(f"running it ended with {why}" + (f": {last}" if last else ""))
    return result.stdout
