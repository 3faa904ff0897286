"""`python -m bench [--quick]`: planloop beside sequential plan-and-execute and ReAct.

Every system gets the same simulated model (latency per call and per output token) and the same
simulated lookup tool. Prints one table per measure and PASS/MISS for each target of SPEC 7.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import warnings
from pathlib import Path

from bench.overhead import bare_graph_step_seconds, help_startup_seconds
from bench.sim import TASKS, Latency, Task
from bench.systems import Result, checkpoint_bytes, run_plan_execute, run_planloop, run_react


def row(result: Result) -> str:
    m = result.meter
    ratio = result.wall / result.critical_path if result.critical_path else float("nan")
    return (
        f"{result.task:<6} {result.system:<17} {result.wall:8.2f}s {result.critical_path:8.2f}s "
        f"{ratio:6.2f}x {m.llm_calls:6d} {m.prompt_tokens:8d} {m.completion_tokens:7d} "
        f"{m.tool_calls:6d} {result.super_steps or '-':>6}"
    )


async def compare(latency: Latency, workdir: Path) -> list[Result]:
    results = []
    for task in TASKS:
        results.append(await run_planloop(task, latency, workdir / task.name))
        results.append(await run_plan_execute(task, latency))
        results.append(await run_react(task, latency))
    return results


async def checkpoint_growth(workdir: Path) -> tuple[int, int]:
    sizes = []
    for n in (10, 40):
        task = Task(f"chain{n}", {f"k{i}": [f"k{i - 1}"] if i > 1 else [] for i in range(1, n + 1)})
        await run_planloop(task, Latency(), workdir / task.name)
        sizes.append(checkpoint_bytes(workdir / task.name / f"planloop-{task.name}.db", task.name))
    return sizes[0], sizes[1]


async def main(quick: bool) -> dict[str, bool]:
    latency = Latency(per_call=0.05, per_output_token=0.0002, tool=0.2)
    if quick:
        latency = Latency(per_call=0.01, per_output_token=0.0, tool=0.04)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = await compare(latency, workdir)
        small, large = await checkpoint_growth(workdir)
        zero = await run_planloop(TASKS[1], Latency(), workdir / "zero")
        bare = await bare_graph_step_seconds(zero.super_steps, workdir / "bare.db")
    startup = help_startup_seconds(3 if quick else 7)
    print(f"simulated latency: {latency}")
    print(
        "critical path: the system's own unavoidable sequential model calls (at their average "
        "latency) + the longest tool chain"
    )
    print("task   system                wall     crit  ratio  calls   prompt  compl  tools  steps")
    for result in results:
        print(row(result))
    per_step = zero.wall / zero.super_steps
    print(
        f"\nper super-step at zero latency: planloop {per_step * 1000:.2f} ms, "
        f"bare LangGraph {bare * 1000:.2f} ms, ratio {per_step / bare:.2f}x"
    )
    print(f"checkpoint bytes: N=10 {small}, N=40 {large}, ratio {large / small:.2f}")
    print(f"planloop --help start-up: {startup:.3f}s")
    by = {(r.task, r.system): r for r in results}
    wide = {s: by[("wide", s)] for s in ("planloop", "plan-and-execute", "react")}
    targets = {
        "wide <= 1.3x critical path": wide["planloop"].wall <= 1.3 * wide["planloop"].critical_path,
        "wide >= 3x faster than both baselines": all(
            wide[s].wall >= 3 * wide["planloop"].wall for s in ("plan-and-execute", "react")
        ),
        "fewer LLM calls than both (wide)": all(
            wide["planloop"].meter.llm_calls < wide[s].meter.llm_calls
            for s in ("plan-and-execute", "react")
        ),
        "fewer prompt tokens than both (wide)": all(
            wide["planloop"].meter.prompt_tokens < wide[s].meter.prompt_tokens
            for s in ("plan-and-execute", "react")
        ),
        "overhead per super-step <= 2x bare LangGraph": per_step <= 2 * bare,
        "checkpoint bytes N=40/N=10 <= 4.5": large / small <= 4.5,
        "planloop --help < 1 s": startup < 1.0,
    }
    print()
    for name, ok in targets.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return targets


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny latencies: a smoke run")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    asyncio.run(main(parser.parse_args().quick))
