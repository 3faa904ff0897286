"""Framework overhead: planloop's super-steps against a bare LangGraph graph on the same saver."""

from __future__ import annotations

import operator
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph

from checkpoints import open_checkpointer


class Counter(TypedDict):
    n: Annotated[int, operator.add]


async def bare_graph_step_seconds(steps: int, db: Path) -> float:
    """Seconds per super-step of a trivial loop graph with the same SQLite saver and durability."""

    async def work(_state: Counter) -> Counter:
        return {"n": 1}

    def again(state: Counter) -> str:
        return END if state["n"] >= steps else "work"

    builder: StateGraph[Counter, None, Counter, Counter] = StateGraph(Counter)
    builder.add_node("work", work)
    builder.add_edge(START, "work")
    builder.add_conditional_edges("work", again, ["work", END])
    async with open_checkpointer(db) as saver:
        app = builder.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bare"}, "recursion_limit": steps + 10}
        started = time.perf_counter()
        await app.ainvoke({"n": 0}, config, durability="sync")  # type: ignore[arg-type]
        return (time.perf_counter() - started) / steps


def help_startup_seconds(repeats: int) -> float:
    """Median wall time of `planloop --help` in a fresh process."""
    script = Path(sys.executable).with_name("planloop")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(script), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
