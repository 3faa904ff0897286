"""The first code run_python's child runs, before the model's program: limits, then the program.

Run as `python -I -B -c <this source> <json settings>`; the settings name the program's file
(see `tools.sandbox_command`). Standard library only: it runs inside the sandbox, not in planloop.
In order: resource limits; as root, a switch to an unprivileged uid that keeps only
CAP_DAC_OVERRIDE, so the root-owned workspace stays writable while RLIMIT_NPROC binds (the
kernel never applies it to uid 0); no_new_privs; without bubblewrap, a Landlock ruleset (files
and TCP) and a parent-death signal. Any failure here stops the run before the program starts.
"""

from __future__ import annotations

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


def confine(settings: dict[str, Any]) -> None:
    """Everything that must hold before the first line of the program runs."""
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
    run_program(source)


if __name__ == "__main__":
    main()
