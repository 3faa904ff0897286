"""Runs one system on one goal in a fresh workspace, measures it and judges it with the checker.

Every model call goes through planloop's model seam wrapped by `nodes.replay`: recording (the
live run; the tape also gives the call and token counts, the same way for every system) or
replaying a recorded tape (offline, no server).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.live.goals import Goal
from bench.live.systems import Attempt, Job, RunSettings, System
from nodes.replay import Player, Tape, recording, replaying

NOT_DONE = ("failed", "stalled", "budget_exhausted")
"""Statuses that claim the goal was not (fully) reached."""
IGNORED_DIRS = ("planloop-runs",)
"""Workspace folders that hold run reports (thread ids, times), not results."""


@dataclass
class Row:
    """One system on one goal: the measurements the table shows."""

    goal: str
    system: str
    repeat: int
    passed: bool
    check: str
    """The checker's finding."""
    status: str
    agreement: str
    """agree, false done, false failed, or no verdict (timeout / error: the system claimed
    nothing)."""
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    tool_calls: int
    wall_seconds: float
    exit_code: int | None
    stop_reason: str = ""
    files: dict[str, str] = field(default_factory=dict)
    """Workspace files (outside run reports) and their sha256, after the run."""
    divergences: list[str] = field(default_factory=list)
    """Replay only: requests that differed from the recorded ones."""


def agreement(status: str, passed: bool) -> str:
    """Whether the system's own status agrees with the checker."""
    if status == "done":
        return "agree" if passed else "false done"
    if status in NOT_DONE:
        return "false failed" if passed else "agree"
    return "no verdict"


def workspace_files(workspace: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file the run left (run reports excluded)."""
    found = {}
    for path in sorted(workspace.rglob("*")):
        relative = path.relative_to(workspace)
        if path.is_file() and relative.parts[0] not in IGNORED_DIRS:
            found[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


def tape_usage(tape: Tape) -> tuple[int, int, int]:
    """Model calls, prompt tokens and completion tokens on a tape."""
    prompt = completion = 0
    for exchange in tape.exchanges:
        usage = (exchange.reply or {}).get("data", {}).get("usage_metadata") or {}
        prompt += int(usage.get("input_tokens", 0))
        completion += int(usage.get("output_tokens", 0))
    return len(tape.exchanges), prompt, completion


@dataclass(frozen=True)
class Recording:
    """A recorded run as stored in a JSON file."""

    meta: dict[str, Any]
    tape: Tape
    row: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a file written by `save`."""
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = data["meta"]
        return cls(meta, Tape.from_json(data["exchanges"], meta.get("workspace", "")), data["row"])

    def save(self, path: Path) -> None:
        """Write the recording as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"meta": self.meta, "row": self.row, "exchanges": self.tape.to_json()}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def recording_path(directory: Path, system: str, goal: str, repeat: int) -> Path:
    """Where a run's recording lives: DIR/<system>/<goal>.json (repeats: <goal>.<n>.json)."""
    return directory / system / (f"{goal}.json" if repeat == 0 else f"{goal}.{repeat}.json")


async def run_goal(
    goal: Goal,
    system: System,
    settings: RunSettings,
    *,
    site_url: str,
    wall_cap: float,
    repeat: int = 0,
    record_dir: Path | None = None,
    replay: Recording | None = None,
    keep_dir: Path | None = None,
) -> Row:
    """Run `system` on `goal` in a fresh workspace with fixtures and judge the result.

    `wall_cap`: seconds after which the run is abandoned and counted as a timeout.
    `replay`: serve this recording's replies instead of calling the model server.
    `keep_dir`: work there (kept afterwards) instead of a temporary directory.
    """
    with tempfile.TemporaryDirectory(prefix=f"live-{goal.name}-") as scratch:
        root = keep_dir or Path(scratch)
        workspace, home = (root / "ws").resolve(), (root / "home").resolve()
        goal.create_fixtures(workspace)
        home.mkdir(parents=True, exist_ok=True)
        job = Job(goal, goal.text(site_url), workspace, home, f"{goal.name}-{repeat}", settings)
        attempt = Attempt()
        tape = Tape(workspace=str(workspace))
        seam: AbstractContextManager[Tape | Player] = (
            replaying(replay.tape, str(workspace)) if replay else recording(tape)
        )
        started = time.perf_counter()
        with seam as handle:
            try:
                await asyncio.wait_for(system.run(job, attempt), timeout=wall_cap)
            except TimeoutError:
                attempt.status, attempt.exit_code = "timeout", None
                attempt.stop_reason = f"abandoned by the harness after {wall_cap:g} s"
        wall = time.perf_counter() - started
        verdict = goal.check(workspace)
        used = tape
        if isinstance(handle, Player):  # what the replay served, as it was recorded
            used = Tape([handle.tape.exchanges[i] for i in sorted(handle.served)])
        calls, prompt, completion = tape_usage(used)
        row = Row(
            goal=goal.name,
            system=system.name,
            repeat=repeat,
            passed=verdict.passed,
            check=verdict.detail,
            status=attempt.status,
            agreement=agreement(attempt.status, verdict.passed),
            model_calls=calls,
            prompt_tokens=prompt,
            completion_tokens=completion,
            tool_calls=attempt.tool_calls,
            wall_seconds=round(wall, 1),
            exit_code=attempt.exit_code,
            stop_reason=attempt.stop_reason,
            files=workspace_files(workspace),
            divergences=[
                f"#{d.position}: {d.detail}"
                for d in (handle.divergences if isinstance(handle, Player) else [])
            ],
        )
        if record_dir is not None and replay is None:
            meta = {
                "goal": goal.name,
                "system": system.name,
                "prompt": job.prompt,
                "model": settings.model,
                "base_url": settings.base_url,
                "workspace": str(workspace),
                "settings": asdict(settings),
                "wall_cap": wall_cap,
                "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            Recording(meta, tape, asdict(row)).save(
                recording_path(record_dir, system.name, goal.name, repeat)
            )
        return row
