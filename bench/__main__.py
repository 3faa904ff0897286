"""`python -m bench [--quick]`: planloop beside sequential plan-and-execute and ReAct.

Every system gets the same simulated model (latency per call and per output token), the same
tools (planloop's own plus a simulated `lookup` with latency) and the same three tasks. Prints the
measurements, the ratios between the systems and PASS/MISS for each target of SPEC section 7.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from bench.overhead import checkpoint_bytes, help_startup_seconds, step_overhead
from bench.report import (
    CRITICAL_PATH,
    SETUP,
    Extras,
    break_even,
    extras_lines,
    fastest_lines,
    least_lines,
    ratio_table,
    results_table,
    targets,
)
from bench.sim import TASKS, Latency, Task, chain
from bench.systems import Result, run_plan_execute, run_planloop, run_react


@dataclass(frozen=True)
class Mode:
    """How hard to measure."""

    name: str
    latency: Latency
    record_chars: int
    """Size of each lookup result (a search-result-sized passage)."""
    repeats: int
    """Runs per system and task; the median wall-clock is reported."""
    overhead_runs: int
    startup_runs: int


FULL = Mode("full", Latency(per_call=0.3, per_output_token=0.005, tool=1.0), 800, 1, 15, 7)
"""A fast hosted model (0.3 s to the first token, 200 tokens/s) and 1 s per lookup (a search
API call); `--per-call`, `--per-token` and `--tool` change them."""
QUICK = replace(FULL, name="quick (smoke)", overhead_runs=3, startup_runs=3)
"""The same latencies (large enough that wall-clock ratios mean something on a loaded machine:
planloop's framework overhead is a few percent of a run), fewer overhead and start-up runs."""

SYSTEMS = ("planloop", "plan-and-execute", "react", "react-parallel")


async def run_system(system: str, task: Task, mode: Mode, workdir: Path) -> Result:
    """One run of one system on one task."""
    latency, chars = mode.latency, mode.record_chars
    if system == "planloop":
        return await run_planloop(task, latency, workdir, chars)
    if system == "plan-and-execute":
        return await run_plan_execute(task, latency, workdir, chars)
    return await run_react(task, latency, workdir, chars, parallel=system == "react-parallel")


async def compare(mode: Mode, workdir: Path) -> list[Result]:
    """Every system on every task, `mode.repeats` times; the median wall-clock is kept.

    One untimed run of each system first, so imports and first-use caches are not measured.
    """
    warm = replace(mode, latency=Latency())
    for system in SYSTEMS:
        await run_system(system, TASKS[2], warm, workdir / f"warm-{system}")
    results = []
    for task in TASKS:
        for system in SYSTEMS:
            runs = [
                await run_system(system, task, mode, workdir / f"{task.name}-{system}-{n}")
                for n in range(mode.repeats)
            ]
            walls = [r.wall for r in runs]
            results.append(replace(runs[-1], wall=statistics.median(walls)))
    return results


async def checkpoint_growth(workdir: Path, chars: int) -> tuple[int, int]:
    """planloop's checkpoint bytes for N=10 and N=40 steps (a chain of N-1 lookups + synthesis)."""
    sizes = []
    for n in (10, 40):
        task = chain(n - 1)
        await run_planloop(task, Latency(), workdir / task.name, chars)
        sizes.append(checkpoint_bytes(workdir / task.name / f"planloop-{task.name}.db", task.name))
    return sizes[0], sizes[1]


async def main(mode: Mode = FULL) -> dict[str, bool]:
    """Run the benchmark, print it, and return PASS (True) / MISS (False) per target."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = await compare(mode, workdir)
        small, large = await checkpoint_growth(workdir / "growth", mode.record_chars)
        overhead = await step_overhead(
            TASKS, workdir / "overhead", mode.overhead_runs, mode.record_chars
        )
    extras = Extras(
        overhead.planloop,
        overhead.bare,
        overhead.ratio,
        small,
        large,
        help_startup_seconds(mode.startup_runs),
    )
    by = {(r.task, r.system): r for r in results}
    print(f"mode: {mode.name}; simulated latency: {mode.latency}")
    print(f"each lookup returns {mode.record_chars} characters; wall = median of {mode.repeats}")
    print(SETUP)
    print(CRITICAL_PATH)
    print()
    print("\n".join(results_table(results)))
    print()
    print("\n".join(ratio_table(by)))
    print()
    print("\n".join(fastest_lines(by, mode.latency)))
    print("\n".join(least_lines(by, mode.latency)))
    print()
    print("\n".join(break_even(by, TASKS[0], mode.latency)))
    print()
    print("\n".join(extras_lines(extras)))
    checks = targets(by, extras)
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return checks


def parse_mode(argv: list[str] | None = None) -> Mode:
    """The mode the command line asks for."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny latencies: a smoke run")
    parser.add_argument("--per-call", type=float, help="model latency per call, seconds")
    parser.add_argument("--per-token", type=float, help="model latency per output token, s")
    parser.add_argument("--tool", type=float, help="latency of one lookup, seconds")
    parser.add_argument("--repeats", type=int, help="runs per system and task (median)")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    latency = Latency(
        per_call=mode.latency.per_call if args.per_call is None else args.per_call,
        per_output_token=mode.latency.per_output_token
        if args.per_token is None
        else args.per_token,
        tool=mode.latency.tool if args.tool is None else args.tool,
    )
    if latency == mode.latency and args.repeats is None:
        return mode
    return replace(mode, latency=latency, repeats=args.repeats or mode.repeats)


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    asyncio.run(main(parse_mode()))
