"""How run_python's child is started: the command line for the isolation this machine gives
(`tools.sandbox_probe`), and the view of the workspace the program gets.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools import sandbox_boot
from tools.interpreter import Interpreter
from tools.sandbox_probe import SANDBOX_UID, Isolation, probe

__all__ = [  # the probe's names are still imported from here
    "PROGRAM_FILE",
    "SANDBOX_UID",
    "Isolation",
    "SandboxUnavailableError",
    "View",
    "build_command",
    "probe",
]

SANDBOX_WORKDIR = "/workspace"
PROGRAM_FILE = "program.py"
"""The program's file in the private temporary directory (bound at /run/program.py)."""
SANDBOX_PROGRAM = "/run/program.py"
SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "MPLBACKEND": "Agg",
}
"""The child's whole environment (plus HOME and TMPDIR): nothing of planloop's, so no keys."""
COVER_EMPTY = "cover-empty"
COVER_RUNS = "cover-runs"
STAGED_RUN = "staged-run"
"""Folders in the private temporary directory that build the workspace view (`View`)."""
BWRAP_ROOT_CAPS = ("CAP_DAC_OVERRIDE", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
"""What the bootstrap needs to switch uid; bubblewrap drops every other capability of root."""


@dataclass(frozen=True)
class View:
    """What the program sees of the workspace besides its own files (host paths, resolved).

    planloop's state folders inside the workspace show as empty, read-only folders; the runs
    folder shows read-only, holding only this run's folder, so other runs' records are gone.
    """

    hidden: tuple[Path, ...] = ()
    """State folders inside the workspace."""
    read_only: tuple[Path, ...] = ()
    """planloop's own code and environment inside the workspace (shown, never writable)."""
    runs: Path | None = None
    """`planloop-runs` in the workspace (a real folder), or None when there is none."""
    own_run: str = ""
    """This run's folder name under `runs` (a real folder)."""
    secrets: bool = False
    """True when something to hide exists: a state folder, or another run's record."""

    def prepare(self, tmpdir: Path) -> None:
        """Make the covering folders in the private temporary directory."""
        (tmpdir / COVER_EMPTY).mkdir()
        (tmpdir / STAGED_RUN).mkdir()
        if self.own_run:
            (tmpdir / COVER_RUNS / self.own_run).mkdir(parents=True)

    def binds(self, tmpdir: Path) -> list[tuple[Path, Path]]:
        """(source, target) read-only binds, in order, resolving sources as they are mounted:
        the run's folder is staged before the runs folder is covered."""
        binds = [(folder, folder) for folder in self.read_only]
        binds += [(tmpdir / COVER_EMPTY, folder) for folder in self.hidden]
        if self.runs is not None and self.own_run:
            staged = tmpdir / STAGED_RUN
            binds += [
                (self.runs / self.own_run, staged),
                (tmpdir / COVER_RUNS, self.runs),
                (staged, self.runs / self.own_run),
            ]
        return binds


class SandboxUnavailableError(RuntimeError):
    """The sandbox cannot give this program the view it must have; the program does not run."""


@functools.cache
def _boot_source() -> str:
    return Path(sandbox_boot.__file__).read_text(encoding="utf-8")


def _interpreter_roots(python: Interpreter | None) -> list[str]:
    """Folders the program's interpreter needs: its venv, its base installation, its binary."""
    if python is None:
        return sorted({sys.base_prefix, sys.prefix})
    return list(python.roots)


def _system_mounts(python: Interpreter | None = None) -> list[str]:
    """Read-only binds that make the interpreter (and its venv's packages) usable."""
    mounts = ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            mounts += ["--symlink", os.readlink(target), str(target)]
        elif target.exists():
            mounts += ["--ro-bind", str(target), str(target)]
    for prefix in _interpreter_roots(python):
        if prefix != "/usr" and not prefix.startswith("/usr/") and prefix != "/":
            mounts += ["--ro-bind", prefix, prefix]
    mounts += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # Font configuration (no secrets), so plotting libraries find the system's fonts.
    return [*mounts, "--ro-bind-try", "/etc/fonts", "/etc/fonts"]


def _bwrap_view(view: View, workspace: Path, tmpdir: Path) -> list[str]:
    """bubblewrap binds every source from the host, so no staging is needed."""
    inside = Path(SANDBOX_WORKDIR)
    args = []
    for folder in view.read_only:
        args += ["--ro-bind", str(folder), str(inside / folder.relative_to(workspace))]
    for folder in view.hidden:
        args += [
            "--ro-bind",
            str(tmpdir / COVER_EMPTY),
            str(inside / folder.relative_to(workspace)),
        ]
    if view.runs is not None and view.own_run:
        runs = inside / view.runs.relative_to(workspace)
        args += ["--ro-bind", str(tmpdir / COVER_RUNS), str(runs)]
        args += ["--ro-bind", str(view.runs / view.own_run), str(runs / view.own_run)]
    return args


def _bwrap_argv(
    iso: Isolation,
    workspace: Path,
    tmpdir: Path,
    tmpfs_bytes: int,
    view: View,
    python: Interpreter | None = None,
) -> list[str]:
    if iso.run_as is not None:  # root: no user namespace, the bootstrap switches uid
        identity = ["--cap-drop", "ALL"]
        identity += [arg for cap in BWRAP_ROOT_CAPS for arg in ("--cap-add", cap)]
    else:  # an unprivileged user: a user namespace (the uid outside stays the user's)
        identity = ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    env = _child_env("/tmp")
    return [
        str(iso.bwrap),
        "--die-with-parent",
        "--new-session",
        *("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"),
        "--unshare-cgroup-try",
        *identity,
        *("--proc", "/proc", "--dev", "/dev"),
        # /tmp first: the interpreter (a venv may live under /tmp) is bound on top of it.
        *("--size", str(tmpfs_bytes), "--tmpfs", "/tmp"),
        *_system_mounts(python),
        *("--ro-bind", str(tmpdir / PROGRAM_FILE), SANDBOX_PROGRAM),
        *("--bind", str(workspace), SANDBOX_WORKDIR, "--chdir", SANDBOX_WORKDIR),
        *_bwrap_view(view, workspace, tmpdir),
        *("--remount-ro", "/"),  # the sandbox's own root (a tmpfs) too: no writes outside
        "--clearenv",
        *[arg for key, value in env.items() for arg in ("--setenv", key, value)],
        "--",
    ]


def _landlock_paths(
    workspace: Path, tmpdir: Path, python: Interpreter | None = None
) -> dict[str, list[str]]:
    system = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
    system += [*_interpreter_roots(python), "/etc/ld.so.cache", "/etc/fonts"]
    system += ["/dev/urandom", "/dev/zero"]
    return {"read": system, "write": [str(workspace), str(tmpdir), "/dev/null"]}


def _child_env(home: str) -> dict[str, str]:
    """The child's whole environment: `SAFE_ENV`, with `home` as its home and temporary folder."""
    return {**SAFE_ENV, "HOME": home, "TMPDIR": home}


def _check_protectable(iso: Isolation, view: View) -> None:
    """Raise `SandboxUnavailableError` when this machine cannot keep the program away from what
    it must not reach."""
    if not iso.bwrap and not iso.landlock_abi:
        raise SandboxUnavailableError(
            "neither bubblewrap nor Landlock is available, so nothing would keep the program "
            "away from files outside the workspace (planloop's own database among them); "
            "install bubblewrap"
        )
    if not iso.bwrap and iso.run_as is None and (view.secrets or view.read_only):
        raise SandboxUnavailableError(
            "planloop's own files (its state folder, other runs' records, its code or its Python "
            "environment) are inside the workspace, and without bubblewrap an unprivileged "
            "sandbox cannot protect them; install bubblewrap, or use a workspace without them"
        )


def _fallback_prefix(
    iso: Isolation,
    workspace: Path,
    tmpdir: Path,
    settings: dict[str, Any],
    view: View,
    python: Interpreter | None,
) -> tuple[list[str], dict[str, str]]:
    """Without bubblewrap: the `unshare` prefix (or none) and the child's environment; what the
    bootstrap must build itself (the view, Landlock) goes into `settings`."""
    settings["program"] = str(tmpdir / PROGRAM_FILE)
    settings["pdeathsig"] = True
    if iso.run_as is not None and (view.secrets or view.read_only):  # as root, the
        # bootstrap builds the view in a mount namespace
        settings["binds"] = [[str(src), str(dst)] for src, dst in view.binds(tmpdir)]
    if iso.landlock_abi:
        settings["landlock"] = {
            "abi": iso.landlock_abi,
            **_landlock_paths(workspace, tmpdir, python),
        }
    return list(iso.unshare), _child_env(str(tmpdir))


def build_command(
    iso: Isolation,
    workspace: Path,
    tmpdir: Path,
    settings: dict[str, Any],
    tmpfs_bytes: int,
    view: View | None = None,
    python: Interpreter | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The child's argv and environment.

    `python`: the interpreter that runs the program (None: planloop's own), bound read-only.

    `workspace` must be resolved; `tmpdir` holds the program (`PROGRAM_FILE`) and is its private
    /tmp without bubblewrap. Raises `SandboxUnavailableError` when `view` has something to hide
    and this machine cannot hide it (no bubblewrap, not root: no mount namespace to build it in).
    """
    view = view or View()
    view.prepare(tmpdir)
    settings = {**settings, "uid": iso.run_as}
    _check_protectable(iso, view)
    if iso.bwrap:
        prefix = _bwrap_argv(iso, workspace, tmpdir, tmpfs_bytes, view, python)
        env = _child_env("/tmp")
        settings["program"] = SANDBOX_PROGRAM
    else:
        prefix, env = _fallback_prefix(iso, workspace, tmpdir, settings, view, python)
    executable = python.executable if python is not None else sys.executable
    boot = [executable, "-I", "-B", "-c", _boot_source(), json.dumps(settings)]
    return [*prefix, *boot], env
