"""Running untrusted Python in a separate, killable, confined process.

With bubblewrap (`bwrap`): new PID, network, IPC and UTS namespaces (and a user namespace when
planloop is not root); the system and the interpreter read-only; the workspace (at /workspace)
the only writable place; a private, size-limited /tmp; an environment of a few harmless
variables. Without it, the fallback gives what the machine allows (see `isolation_mode()`).
Always: rlimits (address space, CPU seconds, file size, open files, processes, no core dumps);
as root, the program runs as uid 65534 so the process limit binds (the kernel never applies
RLIMIT_NPROC to uid 0); a wall-clock timeout that kills the whole process tree; output read
with a byte cap; stdout/stderr sanitised before they reach state. The child process itself
(started, read, killed) is `tools.sandbox_process`; its command line, `tools.sandbox_command`.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.artifacts import ensure_run_dir
from tools.confinement import Confinement
from tools.failpoints import PROGRAM_EXITED, failpoint
from tools.interpreter import Interpreter
from tools.receipts import STATUS_FILE
from tools.sandbox_boot import SETUP_FAILED
from tools.sandbox_command import PROGRAM_FILE, SandboxUnavailableError, View, build_command
from tools.sandbox_files import changed_files, snapshot
from tools.sandbox_probe import Isolation, probe
from tools.sandbox_process import Ran, execute
from tools.workspace import workspace_root

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one run."""

    timeout_seconds: float
    memory_mb: int
    max_processes: int
    max_file_mb: int
    max_output_bytes: int = 200_000
    """Bytes of stdout, and of stderr, kept; the rest is read and dropped."""


@dataclass(frozen=True)
class SandboxResult:
    """What the sandboxed program did."""

    exit_code: int | None
    """The program's exit status (negative: killed by that signal); None when timed out."""
    stdout: str
    stderr: str
    timed_out: bool
    limit_hit: str = ""
    """Empty, or the limit that stopped the program: timeout, cpu, memory, file size,
    processes, or output (cut, though the program ran to its end)."""
    created_files: list[str] = field(default_factory=list)
    """Workspace-relative files the program created or changed."""
    isolation: str = ""


def isolation_mode() -> str:
    """Which isolation this machine gives run_python (shown in run reports); cached."""
    return probe().describe()


def _settings(limits: SandboxLimits) -> dict[str, Any]:
    """What the bootstrap (`tools.sandbox_boot`) applies before the program runs."""
    return {
        "rlimits": {
            "AS": limits.memory_mb * MIB,
            # SIGXCPU at the soft limit (reported as "cpu"), SIGKILL a second later
            "CPU": [math.ceil(limits.timeout_seconds) + 1, math.ceil(limits.timeout_seconds) + 2],
            "FSIZE": limits.max_file_mb * MIB,
            "NOFILE": 256,
            "CORE": 0,
        },
        "max_processes": limits.max_processes,
    }


def _signal_of(exit_code: int, isolation: Isolation) -> int:
    """The signal that killed the program, or 0 (bubblewrap reports it as 128 + signal)."""
    if exit_code < 0:
        return -exit_code
    return exit_code - 128 if isolation.bwrap and exit_code > 128 else 0


def _which_limit(exit_code: int | None, stderr: str, output_cut: bool, iso: Isolation) -> str:
    if exit_code is None:
        return "timeout"
    if _signal_of(exit_code, iso) == signal.SIGXCPU:
        return "cpu"
    if exit_code == 0:
        return "output" if output_cut else ""
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory"
    if "File too large" in stderr:
        return "file size"
    if "BlockingIOError" in stderr and "Resource temporarily unavailable" in stderr:
        return "processes"
    return "output" if output_cut else ""


def view_of(confinement: Confinement | None) -> View:
    """What the program must not see of the workspace (blocking: run in a thread).

    Makes this run's folder a real folder first, so the program cannot plant a link there.
    """
    if confinement is None:
        return View()
    ensure_run_dir(confinement.root, confinement.thread_id)
    runs = confinement.runs
    others = [entry for entry in runs.iterdir() if entry.name != confinement.thread_id]
    hidden = tuple(folder for folder in confinement.state if folder.is_dir())
    return View(
        hidden=hidden,
        read_only=tuple(folder for folder in confinement.read_only if folder.is_dir()),
        runs=runs,
        own_run=confinement.thread_id,
        secrets=bool(hidden or others),
    )


def _open_status(receipt: Path | None) -> int | None:
    """The receipt's status file, opened for the bootstrap to write (None without a receipt)."""
    if receipt is None:
        return None
    receipt.mkdir(parents=True, exist_ok=True)
    return os.open(receipt / STATUS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


async def run_python_code(
    code: str,
    workspace: str | Path,
    limits: SandboxLimits,
    *,
    isolation: Isolation | None = None,
    confinement: Confinement | None = None,
    receipt: Path | None = None,
    python: Interpreter | None = None,
) -> SandboxResult:
    """Run `code` confined to `workspace`; never raises for what the program does.

    Raises `WorkspaceError` when the workspace is not a directory.

    `isolation` overrides the probed one (tests use `probe(bwrap=False)` for the fallback).
    `confinement`: planloop's own files in the workspace, hidden from the program. `receipt`: a
    folder where the program's exit status is recorded even if planloop dies meanwhile.
    `python`: the interpreter to run it with (None: planloop's own), under the same isolation.
    """
    # Blocking work (probes, file walks) runs in threads: the event loop serves other steps
    # meanwhile, and `langgraph dev` forbids blocking calls on it.
    root = await asyncio.to_thread(workspace_root, workspace)
    iso = isolation if isolation is not None else await asyncio.to_thread(probe)
    # The receipt first: a state folder it creates is hidden by the view computed next.
    status_fd = await asyncio.to_thread(_open_status, receipt)
    try:
        view = await asyncio.to_thread(view_of, confinement)
        before = await asyncio.to_thread(snapshot, root)
        ran = await _run_in_private_tmp(code, root, iso, limits, view, python, status_fd)
    finally:
        if status_fd is not None:
            os.close(status_fd)
    if isinstance(ran, SandboxResult):
        return ran
    return await _result(ran, iso, root, before)


async def _result(
    ran: Ran, iso: Isolation, root: Path, before: dict[str, tuple[int, int]]
) -> SandboxResult:
    """What the program did; the files it changed are those that differ from `before`."""
    exit_code, out, err = ran
    stderr = err.text()
    if exit_code == SETUP_FAILED and "sandbox setup failed" in stderr:
        stderr += "\n(the sandbox could not be set up; the program did not run)"
    return SandboxResult(
        exit_code=exit_code,
        stdout=out.text(),
        stderr=stderr,
        timed_out=exit_code is None,
        limit_hit=_which_limit(exit_code, stderr, out.cut or err.cut, iso),
        created_files=await asyncio.to_thread(changed_files, root, before),
        isolation=iso.describe(),
    )


async def _run_in_private_tmp(
    code: str,
    root: Path,
    iso: Isolation,
    limits: SandboxLimits,
    view: View,
    python: Interpreter | None,
    status_fd: int | None,
) -> Ran | SandboxResult:
    """Write the program into a private temporary folder, run it, remove the folder; the
    refusal as a result when the sandbox cannot be built here."""
    tmpdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="planloop-sandbox-"))
    try:
        await asyncio.to_thread((tmpdir / PROGRAM_FILE).write_text, code, "utf-8", "replace")
        settings = _settings(limits)
        if status_fd is not None:
            settings["status_fd"] = status_fd
        try:
            argv, env = await asyncio.to_thread(
                build_command, iso, root, tmpdir, settings, limits.memory_mb * MIB, view, python
            )
        except SandboxUnavailableError as exc:
            return _refused(str(exc), iso)
        passed = (status_fd,) if status_fd is not None else ()
        monitored = bool(iso.bwrap or iso.unshare)
        ran = await execute(
            argv,
            env,
            root,
            timeout_seconds=limits.timeout_seconds,
            max_output_bytes=limits.max_output_bytes,
            monitored=monitored,
            pass_fds=passed,
        )
        failpoint(PROGRAM_EXITED)
        return ran
    finally:
        await asyncio.to_thread(shutil.rmtree, tmpdir, True)


def _refused(reason: str, iso: Isolation) -> SandboxResult:
    """The result of a program that was not started because the sandbox could not be built."""
    return SandboxResult(
        exit_code=SETUP_FAILED,
        stdout="",
        stderr=f"sandbox setup failed: {reason}\n(the program did not run)",
        timed_out=False,
        isolation=iso.describe(),
    )
