"""Running untrusted Python in a separate, killable, confined process.

With bubblewrap (`bwrap`): new PID, network, IPC and UTS namespaces (and a user namespace when
planloop is not root); the system and the interpreter read-only; the workspace (at /workspace)
the only writable place; a private, size-limited /tmp; an environment of a few harmless
variables. Without it, the fallback gives what the machine allows (see `isolation_mode()`).
Always: rlimits (address space, CPU seconds, file size, open files, processes, no core dumps);
as root, the program runs as uid 65534 so the process limit binds (the kernel never applies
RLIMIT_NPROC to uid 0); a wall-clock timeout that kills the whole process tree; output read
with a byte cap; stdout/stderr sanitised before they reach state.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from tools.sandbox_command import (
    PROGRAM_FILE,
    Isolation,
    SandboxUnavailableError,
    View,
    build_command,
    probe,
)
from tools.sandbox_files import changed_files, snapshot
from tools.sanitize import sanitize
from tools.workspace import workspace_root

MIB = 1024 * 1024
READ_CHUNK = 65536
DRAIN_GRACE_SECONDS = 2.0
"""How long to wait for the pipes to close once the program is gone, before giving up."""


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


class _Capture:
    """One output stream, read to its end with only the first `limit` bytes kept."""

    def __init__(self, limit: int) -> None:
        self.limit, self.kept, self.cut = limit, bytearray(), False

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(READ_CHUNK):
            room = self.limit - len(self.kept)
            self.kept += chunk[: max(room, 0)]
            self.cut = self.cut or len(chunk) > room

    def text(self) -> str:
        return sanitize(bytes(self.kept)) + ("\n[... output truncated]" if self.cut else "")


async def _pipe_reader() -> tuple[asyncio.StreamReader, asyncio.BaseTransport, int]:
    """A pipe of our own (asyncio's would make `wait()` wait for the pipes to close, which a
    detached grandchild can keep open): its reader, transport, and write end for the child."""
    read_end, write_end = os.pipe()
    reader = asyncio.StreamReader(limit=READ_CHUNK)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", buffering=0)
    )
    return reader, transport, write_end


def _kill_children(pid: int) -> None:
    """SIGKILL the direct children of `pid` (bwrap's or unshare's PID-namespace init, whose
    death takes the whole namespace down), so that `pid` reaps them before it exits."""
    with contextlib.suppress(OSError, ValueError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(child), signal.SIGKILL)


def _kill_tree(pid: int) -> None:
    """SIGKILL the child's process group (everything that did not leave it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


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


async def _execute(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    limits: SandboxLimits,
    *,
    monitored: bool,
    pass_fds: tuple[int, ...] = (),
) -> tuple[int | None, _Capture, _Capture]:
    """Run the child to its end or the timeout, then kill whatever of it is left.

    `monitored`: the child is bwrap or unshare, watching a PID namespace's init. `pass_fds`:
    descriptors the child inherits (the receipt's status file).
    """
    (out_pipe, out_transport, out_fd), (err_pipe, err_transport, err_fd) = (
        await _pipe_reader(),
        await _pipe_reader(),
    )
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
            start_new_session=True,  # its own process group, killed as a whole
            pass_fds=pass_fds,
        )
    except BaseException:
        out_transport.close()
        err_transport.close()
        raise
    finally:
        os.close(out_fd)
        os.close(err_fd)
    out, err = _Capture(limits.max_output_bytes), _Capture(limits.max_output_bytes)
    io = [asyncio.create_task(out.read(out_pipe)), asyncio.create_task(err.read(err_pipe))]
    exit_code: int | None = None
    try:
        exit_code = await asyncio.wait_for(process.wait(), limits.timeout_seconds)
    except TimeoutError:
        pass
    finally:  # on success, timeout or cancellation alike
        await _end(process, monitored=monitored, io=io, pipes=(out_transport, err_transport))
    return exit_code, out, err


async def _end(
    process: asyncio.subprocess.Process,
    *,
    monitored: bool,
    io: list[asyncio.Task[None]],
    pipes: tuple[asyncio.BaseTransport, ...],
) -> None:
    """Kill whatever is left of the child (through its PID namespace's init first, when it has
    one, then its process group), reap it, and stop reading its output."""
    try:
        if process.returncode is None and monitored:
            await asyncio.shield(asyncio.to_thread(_kill_children, process.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), DRAIN_GRACE_SECONDS)
    finally:
        _kill_tree(process.pid)
        await asyncio.shield(process.wait())
        # A detached grandchild could hold the pipes open: keep what was read, move on.
        _, pending = await asyncio.wait(io, timeout=DRAIN_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        for pipe in pipes:
            pipe.close()


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
) -> tuple[int | None, _Capture, _Capture] | SandboxResult:
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
        ran = await _execute(argv, env, root, limits, monitored=monitored, pass_fds=passed)
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
