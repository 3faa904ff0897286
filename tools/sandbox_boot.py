"""The first code run_python's child runs, before the model's program: limits, then the program.

Run as `python -I -B -c <this source> <json settings>`; the settings name the program's file
(see `tools.sandbox_command`). Standard library only: it runs inside the sandbox, not in planloop.
In order: resource limits; as root, a switch to an unprivileged uid that keeps only
CAP_DAC_OVERRIDE, so the root-owned workspace stays writable while RLIMIT_NPROC binds (the
kernel never applies it to uid 0); no_new_privs; without bubblewrap, a Landlock ruleset (files
and TCP), a parent-death signal and, as root, a mount namespace that hides planloop's own files
in the workspace. Any failure here stops the run before the program starts. When the program
ends by itself, its exit status is written to the receipt descriptor planloop passed, if any.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import json
import linecache
import os
import resource
import signal
import sys
import traceback
import types
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_CAPBSET_DROP = 1, 8, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 38, 47, 2
CAP_DAC_OVERRIDE = 1
SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self (same on every arch)
FS_READ = 1 | 4 | 8  # EXECUTE | READ_FILE | READ_DIR
FS_FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # rights that apply to a file, not a dir
SETUP_FAILED = 70
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


def drop_privileges(uid: int) -> None:
    """From root to `uid`, keeping CAP_DAC_OVERRIDE alone (also across exec, as ambient)."""
    for cap in range(64):
        if cap != CAP_DAC_OVERRIDE and _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            break  # past the last capability this kernel knows
    _prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = data[0].inheritable = 1 << CAP_DAC_OVERRIDE
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_OVERRIDE, 0, 0), "ambient")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise OSError("could not give up root")


def tasks_of(uid: int) -> int:
    """Tasks (threads count) that already run under `uid`, as far as /proc shows them."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total


def apply_landlock(abi: int, read: list[str], write: list[str]) -> None:
    """Allow reading `read`, reading and writing `write`, and no TCP at all; deny the rest."""
    fs = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)
    fs |= 1 << 15 if abi >= 5 else 0
    attr = (ctypes.c_uint64 * 3)(fs, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 * (3 if abi >= 6 else 2 if abi >= 4 else 1)
    ruleset = _check(_libc.syscall(SYS_LANDLOCK[0], attr, size, 0), "landlock_create_ruleset")

    for paths, rights in ((read, FS_READ), (write, fs)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path this machine does not have
            allowed = rights if os.path.isdir(path) else rights & FS_FILE_RIGHTS & fs
            rule = _PathBeneath(allowed, fd)
            _check(_libc.syscall(SYS_LANDLOCK[1], ruleset, 1, ctypes.byref(rule), 0), path)
            os.close(fd)
    _check(_libc.syscall(SYS_LANDLOCK[2], ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)


def _mount(source: str | None, target: str, flags: int) -> None:
    raw_source = source.encode() if source is not None else None
    result = _libc.mount(raw_source, target.encode(), None, ctypes.c_ulong(flags), None)
    _check(result, f"mount {target}")


def build_view(binds: list[list[str]]) -> None:
    """In a mount namespace of this process's own, bind each source read-only over its target
    (what planloop hides shows as an empty folder); nothing propagates back to the host."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", MS_REC | MS_PRIVATE)
    for source, target in binds:
        _mount(source, target, MS_BIND | MS_REC)
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def confine(settings: dict[str, Any]) -> None:
    """Everything that must hold before the first line of the program runs."""
    if settings.get("binds"):  # needs root: before the switch to the unprivileged uid
        build_view(settings["binds"])
    for name, value in settings["rlimits"].items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (soft, hard))
    if settings.get("uid") is not None:
        drop_privileges(settings["uid"])
    # Counted per real uid (in this user namespace): leave room for what already runs as it.
    nproc = tasks_of(os.getuid()) + settings["max_processes"]
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if settings.get("pdeathsig"):
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if settings.get("landlock"):
        landlock = settings["landlock"]
        apply_landlock(landlock["abi"], landlock["read"], landlock["write"])


def exit_code(exc: SystemExit) -> int:
    """The status the interpreter exits with for `exc` (a message means 1)."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def report_status_at_exit(status_fd: int) -> dict[str, int]:
    """Write the exit status to `status_fd` once the program has ended by itself, after its
    own exit handlers (registered later, so run earlier); returns the slot for the status."""
    os.set_inheritable(status_fd, False)  # not for the program's own child processes
    ended: dict[str, int] = {}
    me = os.getpid()

    def report() -> None:
        if "code" in ended and os.getpid() == me:  # not a forked child returning through here
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.write(status_fd, str(ended["code"]).encode())
        os.close(status_fd)

    atexit.register(report)
    return ended


def run_program(source: str) -> None:
    """Run the program as `__main__`, with tracebacks that show only its own frames."""
    name = "<program>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"], sys.argv = main, ["-"]
    sys.path.insert(0, "")  # like `python -`: the workspace's own modules are importable
    try:
        exec(compile(source, name, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        frames = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, frames)
        sys.exit(1)


def main() -> None:
    """Read the settings, confine this process, then run the program."""
    settings = json.loads(sys.argv[1])
    source = Path(settings["program"]).read_text(encoding="utf-8", errors="replace")
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # lone surrogates print as \udxxx
            stream.reconfigure(errors="backslashreplace")
    try:
        confine(settings)
    except Exception as exc:  # fail closed: the program never runs half-confined
        print(f"sandbox setup failed: {exc}", file=sys.stderr)
        sys.exit(SETUP_FAILED)
    status_fd = settings.get("status_fd")
    ended = report_status_at_exit(status_fd) if status_fd is not None else {}
    try:
        run_program(source)
    except SystemExit as exc:
        ended["code"] = exit_code(exc)
        raise
    ended["code"] = 0


if __name__ == "__main__":
    main()
