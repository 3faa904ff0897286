"""The Python interpreter run_python's programs run with: planloop's own, or the user's (`--python
PATH`, a venv with their libraries), checked once before use and described to the planner."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
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


@dataclass(frozen=True)
class InterpreterGuard:
    """What a user's interpreter must keep clear of: the run's workspace, planloop's state
    folders and the home folder (all resolved)."""

    workspace: Path
    home: Path
    state: tuple[Path, ...] = ()

    @classmethod
    def of(
        cls, workspace: str | os.PathLike[str], state: Iterable[str | os.PathLike[str]] = ()
    ) -> InterpreterGuard:
        """The guard of a run in `workspace` whose state lives in the `state` folders."""
        return cls(
            workspace=Path(workspace).expanduser().resolve(),
            state=tuple(Path(s).expanduser().resolve() for s in state),
            home=Path.home().resolve(),
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


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _venv_home(folder: Path) -> Path | None:
    """The `home` a venv's pyvenv.cfg names (where its base Python lives), if there is one."""
    for cfg in (folder / "pyvenv.cfg", folder.parent / "pyvenv.cfg"):
        try:
            lines = cfg.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                return Path(value.strip()).expanduser().resolve()
    return None


def _check_location(executable: str, workspace: Path) -> None:
    """Refuse, before running it, an interpreter the agent could have changed: one whose path,
    real path, venv or base installation lies inside the workspace (running it on the host
    would run whatever a sandboxed program planted there, such as a `.pth` file)."""
    given = Path(executable)
    folder = given.parent.resolve()
    real = given.resolve()
    home = _venv_home(folder)
    places = [given, folder / given.name, folder, folder.parent, real, real.parent.parent]
    places += [home, home.parent] if home is not None else []
    for place in places:
        if _inside(place, workspace):
            raise InterpreterError(
                f"python interpreter {executable} lies inside the workspace {workspace} "
                f"({place}), where the agent could change it; use one outside the workspace"
            )


def _check_roots(executable: str, roots: tuple[str, ...], guarded: InterpreterGuard) -> None:
    """Refuse an interpreter whose folders the sandbox could not show safely: one inside the
    workspace, or one that holds the workspace, planloop's state, the home folder, or is `/`."""
    for root in roots:
        path = Path(root).resolve()
        why = ""
        if path == Path(path.anchor):
            why = "is the root folder"
        elif _inside(path, guarded.workspace) or _inside(guarded.workspace, path):
            why = f"overlaps the workspace {guarded.workspace}"
        elif any(_inside(state, path) for state in guarded.state):
            why = "holds planloop's state folder"
        elif _inside(guarded.home, path):
            why = f"holds the home folder {guarded.home}"
        if why:
            raise InterpreterError(
                f"python interpreter {executable} cannot be shown to the sandbox: its folder "
                f"{path} {why}; use a venv or Python installed elsewhere"
            )


def load_interpreter(path: str | None, guarded: InterpreterGuard) -> Interpreter:
    """Check the interpreter at `path` (None: planloop's own) once per guard and describe it.

    Raises `InterpreterError` with a one-line reason when it is not a working Python that can
    run the sandbox's bootstrap, or when it is not safe to run on the host or to show to the
    sandbox (see `_check_location`, `_check_roots`)."""
    return _load(path, guarded)


@functools.cache
def _load(path: str | None, guarded: InterpreterGuard) -> Interpreter:
    executable = _located(path) if path else sys.executable
    if path:
        _check_location(executable, guarded.workspace)
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
    if path:
        _check_roots(executable, roots, guarded)
    return Interpreter(
        executable=executable,
        version=str(found["version"]),
        roots=roots,
        libraries=tuple(str(n) for n in found["libraries"]),
        own=path is None,
    )


def interpreter_note(path: str | None, guarded: InterpreterGuard) -> str:
    """What the planner is told about run_python's interpreter (or why it cannot be used)."""
    try:
        return load_interpreter(path, guarded).describe()
    except InterpreterError as exc:
        return f"run_python cannot run: {exc}"
