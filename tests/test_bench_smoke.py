"""A smoke run of the benchmark: it completes, prints its tables, and the deterministic
comparisons hold (planloop needs fewer model calls than both baselines on the wide task)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("langchain_experimental", reason="bench extra not installed")


async def test_quick_bench_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import main

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    targets = await main(quick=True)

    out = capsys.readouterr().out
    for system in ("planloop", "plan-and-execute", "react"):
        assert f"wide   {system}" in out
    assert "per super-step at zero latency" in out and "checkpoint bytes" in out
    assert targets["fewer LLM calls than both (wide)"]
    assert targets["planloop --help < 1 s"]
