"""What isolation this machine gives run_python, probed once per process: bubblewrap,
`unshare` (network and PID namespaces), Landlock, and whether planloop runs as root (then the
program runs as uid 65534, see `tools.sandbox_boot`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass

from tools import sandbox_boot

SANDBOX_UID = 65534
LANDLOCK_ARCHES = {"x86_64", "aarch64", "arm64", "riscv64", "ppc64le", "s390x"}


@dataclass(frozen=True)
class Isolation:
    """The isolation this machine gives run_python."""

    bwrap: str | None
    """bubblewrap's path when it works here."""
    unshare: tuple[str, ...]
    """Without bubblewrap: the `unshare` prefix for network and PID namespaces, or ()."""
    landlock_abi: int
    """Without bubblewrap: the Landlock ABI version, 0 when unavailable."""
    run_as: int | None
    """The uid the program runs as when planloop is root, so process limits bind."""

    def describe(self) -> str:
        """One line for the run report: what is isolated and, without bubblewrap, what is not."""
        uid = f", uid {self.run_as}" if self.run_as is not None else ", user namespace"
        if self.bwrap:
            return (
                "bubblewrap (no network, read-only system, workspace-only writes, "
                f"private /tmp, scrubbed env{uid}) + rlimits"
            )
        parts = ["rlimits", "scrubbed env"]
        parts += [f"uid {self.run_as}"] if self.run_as is not None else []
        parts += ["unshare(net, pid)"] if self.unshare else []
        if self.landlock_abi:
            tcp = ", TCP" if self.landlock_abi >= 4 else ""
            parts.append(f"Landlock v{self.landlock_abi} (files{tcp})")
        gaps = ["UNIX sockets on the filesystem"]
        if not self.landlock_abi:
            gaps.insert(0, "reads and writes outside the workspace")
        if not self.unshare:
            gaps.append("UDP" if self.landlock_abi >= 4 else "network access")
            gaps.append("processes that detach outliving the timeout")
        return f"{' + '.join(parts)}; no bubblewrap, so not prevented: {', '.join(gaps)}"


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, check=False, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _bwrap() -> str | None:
    path = shutil.which("bwrap")
    probe = [path or "bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    return path if path and _works(probe) else None


def _unshare_prefix() -> tuple[str, ...]:
    path, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    prefix: tuple[str, ...] = (path or "unshare", "--net", "--pid", "--fork", "--kill-child")
    if os.geteuid() != 0:  # a user namespace makes the others possible; its own /proc makes
        # the bootstrap count only this sandbox's tasks, as RLIMIT_NPROC then does
        prefix += ("--user", "--map-current-user", "--mount-proc")
    if not path or not _works([*prefix, "true"]):
        return ()
    # Like bwrap's --die-with-parent: unshare dies with planloop, its child with it.
    with_parent = (setpriv or "setpriv", "--pdeathsig", "KILL", *prefix)
    return with_parent if setpriv and _works([*with_parent, "true"]) else prefix


def _landlock_abi() -> int:
    if sys.platform != "linux" or platform.machine() not in LANDLOCK_ARCHES:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = int(libc.syscall(sandbox_boot.SYS_LANDLOCK[0], None, 0, 1))  # 1: get the version
    return max(version, 0)


@functools.cache
def probe(*, bwrap: bool = True) -> Isolation:
    """What this machine allows (cached; `bwrap=False` describes the fallback)."""
    found = _bwrap() if bwrap else None
    return Isolation(
        bwrap=found,
        unshare=() if found else _unshare_prefix(),
        landlock_abi=0 if found else _landlock_abi(),
        run_as=SANDBOX_UID if os.geteuid() == 0 else None,
    )
