"""The sandbox's child process: started in a process group of its own, its output read with a
byte cap, and every process of it killed when it ends or its time runs out (`execute`).

What the child is (bubblewrap, unshare or the bare bootstrap) is decided in
`tools.sandbox_command`; what its result means, in `tools.sandbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from tools.sanitize import sanitize

READ_CHUNK = 65536
DRAIN_GRACE_SECONDS = 2.0
"""How long to wait for the pipes to close once the program is gone, before giving up."""


class Capture:
    """One output stream, read to its end with only the first `limit` bytes kept."""

    def __init__(self, limit: int) -> None:
        self.limit, self.kept, self.cut = limit, bytearray(), False

    async def read(self, stream: asyncio.StreamReader) -> None:
        """Read `stream` to its end, keeping what fits (the rest is read and dropped)."""
        while chunk := await stream.read(READ_CHUNK):
            room = self.limit - len(self.kept)
            self.kept += chunk[: max(room, 0)]
            self.cut = self.cut or len(chunk) > room

    def text(self) -> str:
        """What was kept, sanitised, with a note when the rest was cut."""
        return sanitize(bytes(self.kept)) + ("\n[... output truncated]" if self.cut else "")


Ran = tuple[int | None, Capture, Capture]
"""(exit status, or None when timed out; stdout; stderr) of a child run to its end."""


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


async def _spawn(
    argv: list[str], env: dict[str, str], cwd: Path, pass_fds: tuple[int, ...]
) -> tuple[
    asyncio.subprocess.Process,
    tuple[asyncio.StreamReader, asyncio.StreamReader],
    tuple[asyncio.BaseTransport, asyncio.BaseTransport],
]:
    """Start the child in a process group of its own, stdout and stderr on our own pipes:
    (the process, the pipes' readers, their transports)."""
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
    return process, (out_pipe, err_pipe), (out_transport, err_transport)


async def execute(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    *,
    timeout_seconds: float,
    max_output_bytes: int,
    monitored: bool,
    pass_fds: tuple[int, ...] = (),
) -> Ran:
    """Run the child to its end or the timeout, then kill whatever of it is left.

    `monitored`: the child is bwrap or unshare, watching a PID namespace's init. `pass_fds`:
    descriptors the child inherits (the receipt's status file).
    """
    process, (out_pipe, err_pipe), pipes = await _spawn(argv, env, cwd, pass_fds)
    out, err = Capture(max_output_bytes), Capture(max_output_bytes)
    io = [asyncio.create_task(out.read(out_pipe)), asyncio.create_task(err.read(err_pipe))]
    exit_code: int | None = None
    try:
        exit_code = await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        pass
    finally:  # on success, timeout or cancellation alike
        await _end(process, monitored=monitored, io=io, pipes=pipes)
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
