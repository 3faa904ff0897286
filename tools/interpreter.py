"""The Python interpreter run_python's programs run with: planloop's own, or the user's (`--python
PATH`, a venv with their libraries), checked once before use and described to the planner."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nodes.errors import UsageError
from tools import sandbox_boot

DATA_LIBRARIES = ("numpy", "pandas", "matplotlib")
"""Libraries data goals need; the planner is told which of them the interpreter has."""
PROBE_SECONDS = 30.0
_PROBE = """
import importlib.util, json, sys
compile(open(sys.argv[1], encoding="utf-8").read(), "sandbox_boot", "exec")
print(json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix],
    "libraries": [n for n in sys.argv[2:] if importlib.util.find_spec(n) is not None],
}))
"""


class InterpreterError(UsageError):
    """The configured interpreter cannot run sandboxed programs (the message is one line)."""


@dataclass(frozen=True)
class Interpreter:
    """A working Python and what the sandbox must show of it."""

    executable: str
    """Absolute path, symlinks kept (a venv's `bin/python` finds its venv through its path)."""
    version: str
    """Its version, like 3.11.2."""
    roots: tuple[str, ...]
    """Folders bound read-only into the sandbox so it runs there: its prefixes (the venv and
    the base installation) and the folder its executable really lives in."""
    libraries: tuple[str, ...]
    """Which of `DATA_LIBRARIES` it can import."""
    own: bool
    """True when it is planloop's own interpreter."""

    def describe(self) -> str:
        """One line for the planner: which Python, and which data libraries it has."""
        whose = "planloop's own interpreter" if self.own else self.executable
        has = ", ".join(self.libraries) or "none"
        missing = ", ".join(n for n in DATA_LIBRARIES if n not in self.libraries) or "none"
        return (
            f"run_python runs Python {self.version} ({whose}); importable: {has}; "
            f"not installed (do not import): {missing}. Save plots as files (matplotlib uses "
            "the Agg backend) in the workspace."
        )


def _located(path: str) -> str:
    """The interpreter's absolute path: as given, or found on PATH for a bare name."""
    if os.sep not in path:
        found = shutil.which(path)
        if found is None:
            raise InterpreterError(f"python interpreter {path!r} is not on PATH")
        path = found
    absolute = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(absolute):
        raise InterpreterError(f"python interpreter {path!r} does not exist")
    if os.path.isdir(absolute) or not os.access(absolute, os.X_OK):
        raise InterpreterError(f"python interpreter {path!r} is not an executable file")
    return absolute


@functools.cache
def load_interpreter(path: str | None) -> Interpreter:
    """Check the interpreter at `path` (None: planloop's own) once and describe it (cached).

    Raises `InterpreterError` with a one-line reason when it is not a working Python that can
    run the sandbox's bootstrap."""
    executable = _located(path) if path else sys.executable
    argv = [executable, "-I", "-c", _PROBE, sandbox_boot.__file__, *DATA_LIBRARIES]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterError(f"python interpreter {executable} does not start: {exc}") from None
    lines = done.stderr.strip().splitlines()
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (ValueError, IndexError):
        found = None
    if not isinstance(found, dict):
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise InterpreterError(
            f"{executable} is not a Python 3 that can run planloop's sandbox ({why[:200]})"
        )
    real_home = str(Path(os.path.realpath(executable)).parent)
    roots = tuple(dict.fromkeys([*(str(p) for p in found["prefixes"]), real_home]))
    return Interpreter(
        executable=executable,
        version=str(found["version"]),
        roots=roots,
        libraries=tuple(str(n) for n in found["libraries"]),
        own=path is None,
    )


def interpreter_note(path: str | None) -> str:
    """What the planner is told about run_python's interpreter (or why it cannot be used)."""
    try:
        return load_interpreter(path).describe()
    except InterpreterError as exc:
        return f"run_python cannot run: {exc}"
