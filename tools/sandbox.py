"""Running untrusted Python in a separate, killable, confined process.

With bubblewrap (`bwrap`): new user, PID, network, IPC and mount namespaces; the system and the
interpreter read-only; the workspace the only writable place; a private /tmp; no environment
but a few harmless variables. Always: rlimits (address space, CPU seconds, file size, open
files, no core dumps), a pids cgroup for the process count where cgroups are writable (rlimits
do not bind root), a wall-clock timeout that kills the whole process tree, and bounded output.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tools.sandbox_files import changed_files, snapshot
from tools.sanitize import sanitize

SANDBOX_WORKDIR = "/workspace"
SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "MPLBACKEND": "Agg",
}
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one run."""

    timeout_seconds: float
    memory_mb: int
    max_processes: int
    max_file_mb: int
    max_output_bytes: int = 200_000


@dataclass(frozen=True)
class SandboxResult:
    """What the sandboxed program did."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    limit_hit: str = ""
    """Empty, or which limit stopped the program: timeout, memory, file size, output."""
    created_files: list[str] = field(default_factory=list)
    isolation: str = ""


def _bwrap_works() -> bool:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    return subprocess.run(probe, capture_output=True, check=False, timeout=10).returncode == 0


def _unshare_net_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = [unshare, "--net", "true"]
    return subprocess.run(probe, capture_output=True, check=False, timeout=10).returncode == 0


@functools.cache
def isolation_mode() -> str:
    """Which isolation this machine gives run_python (shown in run reports)."""
    cgroup = " + pids cgroup" if _cgroup_available() else ""
    if _bwrap_works():
        return (
            "bubblewrap (no network, read-only system, workspace-only writes, private /tmp, "
            f"scrubbed env) + rlimits{cgroup}"
        )
    if _unshare_net_works():
        return (
            f"rlimits{cgroup} + scrubbed env + network namespace (no bubblewrap: writes "
            "outside the workspace are not prevented)"
        )
    return f"rlimits{cgroup} + scrubbed env only (no bubblewrap, no network namespace)"


def _cgroup_available() -> bool:
    return os.access(PIDS_CGROUP_ROOT, os.W_OK)


def _interpreter_mounts() -> list[str]:
    """Read-only binds that make this interpreter (and its venv's packages) usable."""
    mounts = ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            mounts += ["--symlink", os.readlink(target), str(target)]
        elif target.exists():
            mounts += ["--ro-bind", str(target), str(target)]
    for prefix in {sys.base_prefix, sys.prefix}:
        if not prefix.startswith("/usr"):
            mounts += ["--ro-bind", prefix, prefix]
    return mounts


def build_command(workspace: Path) -> tuple[list[str], Path]:
    """The argv that runs a program read from stdin, and the directory it runs in."""
    python = [sys.executable, "-I", "-"]
    if _bwrap_works():
        argv = [
            shutil.which("bwrap") or "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            "--uid", "65534",
            "--gid", "65534",
            # /tmp first: the interpreter (a venv may live under /tmp) is bound on top of it.
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",
            *_interpreter_mounts(),
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--bind", str(workspace), SANDBOX_WORKDIR,
            "--chdir", SANDBOX_WORKDIR,
            "--clearenv",
            *[arg for key, value in SAFE_ENV.items() for arg in ("--setenv", key, value)],
            "--setenv", "HOME", SANDBOX_WORKDIR,
            "--",
            *python,
        ]  # fmt: skip
        return argv, workspace
    prefix = [shutil.which("unshare") or "unshare", "--net"] if _unshare_net_works() else []
    return [*prefix, *python], workspace


def _limit_resources(limits: SandboxLimits, cgroup: Path | None) -> None:
    """Runs in the child between fork and exec: rlimits, then join the pids cgroup."""
    memory = limits.memory_mb * 1024 * 1024
    cpu = max(1, int(limits.timeout_seconds) + 1)
    file_size = limits.max_file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    if cgroup is not None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))


def _make_cgroup(limits: SandboxLimits) -> Path | None:
    if not _cgroup_available():
        return None
    cgroup = PIDS_CGROUP_ROOT / f"planloop-{uuid.uuid4().hex[:12]}"
    try:
        cgroup.mkdir()
        # bwrap and its PID-namespace init count too.
        (cgroup / "pids.max").write_text(str(limits.max_processes + 2))
    except OSError:
        return None
    return cgroup


def _remove_cgroup(cgroup: Path | None) -> None:
    if cgroup is None:
        return
    with contextlib.suppress(OSError):
        for pid in (cgroup / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
    with contextlib.suppress(OSError):
        cgroup.rmdir()


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Keep the first `limit` bytes and drain the rest; True when output was cut."""
    kept, cut = bytearray(), False
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
        cut = cut or len(chunk) > room
    return bytes(kept), cut


async def run_python_code(code: str, workspace: str | Path, limits: SandboxLimits) -> SandboxResult:
    """Run `code` confined to `workspace`; never raises for what the program does."""
    root = Path(workspace).resolve()
    await asyncio.to_thread(isolation_mode)  # cached after the first probe
    argv, cwd = build_command(root)
    # Blocking work (file walks, probes, cgroup files) runs in threads: the event loop serves
    # other steps meanwhile, and `langgraph dev` forbids blocking calls on it.
    isolation = await asyncio.to_thread(isolation_mode)
    before = await asyncio.to_thread(snapshot, root)
    cgroup = await asyncio.to_thread(_make_cgroup, limits)
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(SAFE_ENV, HOME=str(root)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=functools.partial(_limit_resources, limits, cgroup),
    )
    assert process.stdin and process.stdout and process.stderr
    timed_out = False
    try:
        process.stdin.write(code.encode("utf-8", errors="replace"))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await process.stdin.drain()
        process.stdin.close()
        readers = asyncio.gather(
            _read_bounded(process.stdout, limits.max_output_bytes),
            _read_bounded(process.stderr, limits.max_output_bytes),
            process.wait(),
        )
        try:
            (out, out_cut), (err, err_cut), _ = await asyncio.wait_for(
                readers, limits.timeout_seconds
            )
        except TimeoutError:
            timed_out = True
            _kill_tree(process.pid)
            out, out_cut, err, err_cut = b"", False, b"", False
            await process.wait()
    finally:
        _kill_tree(process.pid)
        await asyncio.to_thread(_remove_cgroup, cgroup)
    stderr = sanitize(err)
    limit_hit = _which_limit(timed_out, stderr, out_cut or err_cut)
    return SandboxResult(
        exit_code=None if timed_out else process.returncode,
        stdout=sanitize(out) + ("\n[... output truncated]" if out_cut else ""),
        stderr=stderr + ("\n[... output truncated]" if err_cut else ""),
        timed_out=timed_out,
        limit_hit=limit_hit,
        created_files=await asyncio.to_thread(changed_files, root, before),
        isolation=isolation,
    )


def _kill_tree(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 9)


def _which_limit(timed_out: bool, stderr: str, output_cut: bool) -> str:
    if timed_out:
        return "timeout"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory"
    if "File too large" in stderr:
        return "file size"
    if "BlockingIOError" in stderr and "Resource temporarily unavailable" in stderr:
        return "processes"
    return "output" if output_cut else ""
