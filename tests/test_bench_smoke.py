"""A smoke run of the benchmark (`python -m bench --quick`): it completes, prints its tables and
the status of every target. Timing targets are not asserted (CI machines vary); the deterministic
ones are: planloop makes fewer model calls than both baselines on the wide and mixed tasks, uses
fewer prompt tokens and fewer tokens in all on every task, and checkpoint storage grows linearly
with the steps."""

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
    for task in ("wide", "deep", "mixed"):
        assert targets[f"{task}: fewer prompt tokens than both baselines"]
        assert targets[f"{task}: fewer tokens in all (prompt + completion) than both"]
    assert targets["checkpoint bytes N=40 / N=10 <= 4.5"]
