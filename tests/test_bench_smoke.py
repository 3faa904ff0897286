"""A smoke run of the benchmark (`python -m bench --quick`, the full simulated latencies): it
completes, prints its tables and the status of every target. Asserted are the deterministic
targets (model calls and prompt tokens against every baseline, react-parallel included;
checkpoint storage linear in the steps). Wall-clock targets are printed, not asserted: the
wide task's 3x (about 3.9x on an idle machine) failed with the suite at nice 19 beside a busy
model server, and no test may depend on an idle CPU."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("langchain_experimental", reason="bench extra not installed")


@pytest.mark.slow
async def test_quick_bench_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import QUICK, main

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    targets = await main(QUICK)

    out = capsys.readouterr().out
    for task in ("wide", "deep", "mixed"):
        for system in ("planloop", "plan-and-execute", "react", "react-parallel"):
            assert f"{task:<6} {system} " in out
    assert "critical path (crit)" in out and "planloop vs" in out
    assert "per super-step at zero latency" in out and "checkpoint bytes" in out
    assert "planloop --help start-up" in out
    assert "fastest possible:" in out and "least possible:" in out
    for name in targets:
        assert f"PASS  {name}" in out or f"MISS  {name}" in out
    for task in ("wide", "mixed"):  # a pure chain (deep) has nothing to run in parallel
        assert targets[f"{task}: fewer LLM calls than both baselines"]
        assert targets[f"{task}: no more LLM calls than react-parallel"]
    assert targets["deep: no more LLM calls than react"]
    for task in ("wide", "deep", "mixed"):
        assert targets[f"{task}: fewer prompt tokens than both baselines"]
        assert targets[f"{task}: fewer tokens in all (prompt + completion) than both"]
        assert targets[f"{task}: fewer prompt tokens than react-parallel"]
    assert targets["checkpoint bytes N=40 / N=10 <= 4.5"]


def test_fastest_possible_is_the_chain_of_calls_and_lookups() -> None:
    from bench.sim import Latency, chain, fastest_possible

    # Zero cost per token: each lookup of a chain of two waits for one call, then the answer.
    assert fastest_possible(chain(2), Latency(per_call=1.0, tool=10.0)) == 23.0


async def test_fastest_possible_is_below_react_parallels_critical_path(tmp_path: Path) -> None:
    """react-parallel starts a turn's lookups once the whole turn is written and waits for a
    whole wave; the floor starts each lookup the moment its call is written. (Simulated
    seconds: computed from the calls, whatever the machine's load.)"""
    from bench.sim import TASKS, Latency, fastest_possible
    from bench.systems import run_react

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    latency = Latency(per_call=0.03, per_output_token=0.0005, tool=0.1)
    floors = {}
    for task in TASKS:
        theirs = await run_react(task, latency, tmp_path / task.name, 800, parallel=True)
        floors[task.name] = fastest_possible(task, latency) / theirs.critical_path
    assert all(ratio <= 1.0 + 1e-9 for ratio in floors.values()), floors
    # In mixed, k2's call can be made once k1 is done, before the rest of k1's wave is.
    assert floors["mixed"] < 1.0, floors


async def test_the_mixed_target_is_below_what_any_system_can_reach(tmp_path: Path) -> None:
    """At the issue's latencies (0.3 s a call, 5 ms an output token, 1 s a lookup) mixed's
    three levels of lookups take four model calls whatever a system writes; with only the
    summary written and no framework time that is more than 0.9x react-parallel's critical
    path (its wall can only be longer), so no planloop can meet 0.9x there. (Simulated seconds:
    computed from the calls, whatever the machine's load; every latency a tenth, which leaves
    each ratio as it is.)"""
    from bench.sim import TASKS, Latency, chain, fastest_possible, least_possible
    from bench.systems import run_react

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    assert least_possible(chain(2), Latency(per_call=1.0, tool=10.0)) == 23.0
    latency = Latency(per_call=0.03, per_output_token=0.0005, tool=0.1)
    ratios = {}
    for task in TASKS:
        assert least_possible(task, latency) <= fastest_possible(task, latency)
        theirs = await run_react(task, latency, tmp_path / task.name, 800, parallel=True)
        ratios[task.name] = least_possible(task, latency) / theirs.critical_path
    assert ratios["mixed"] > 0.9 and ratios["wide"] < 0.9 and ratios["deep"] < 1.0, ratios
