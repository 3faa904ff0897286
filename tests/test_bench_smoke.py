"""A smoke run of the benchmark (`python -m bench --quick`, the full simulated latencies): it
completes, prints its tables and the status of every target. Asserted are the targets that hold
with a margin on a loaded machine: the deterministic ones (model calls and prompt tokens against
every baseline, react-parallel included; checkpoint storage linear in the steps) and the
wall-clock ones whose margin dwarfs scheduling noise (the wide task at least 3x faster than
plan-and-execute and ReAct: about 4x, with framework overhead a few percent of the run)."""

from __future__ import annotations

import warnings

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("langchain_experimental", reason="bench extra not installed")


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
    assert targets["wide: >= 3x faster than plan-and-execute and react"]
    assert targets["checkpoint bytes N=40 / N=10 <= 4.5"]
