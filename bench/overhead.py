"""Framework overhead, checkpoint growth and start-up.

Overhead compares planloop's compiled graph with a bare LangGraph graph of the same shape (same
nodes, edges, `Send` fan-out and super-steps; trivial node bodies), both on planloop's SQLite
saver (`checkpoints.open_checkpointer`) with synchronous durability, at zero simulated latency.
"""

from __future__ import annotations

import operator
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from bench.responders import planloop_responder
from bench.sim import GOAL, Latency, Meter, SimChatModel, Task, lookup_tool
from checkpoints import open_checkpointer


class Bare(TypedDict, total=False):
    goal: str
    plan: list[dict[str, Any]]
    results: Annotated[dict[str, str], operator.or_]
    next_steps: list[str]
    answer: str


def bare_graph(task: Task) -> Any:
    """planloop's topology with nodes that do only what the routing needs."""
    plan = [{"id": k, "depends_on": d} for k, d in task.deps.items()]
    plan.append({"id": "synth", "depends_on": list(task.deps)})

    def ready(state: Bare) -> list[str]:
        done = state.get("results", {})
        return [s["id"] for s in state["plan"] if s["id"] not in done
                and all(d in done for d in s["depends_on"])]  # fmt: skip

    async def parse_goal(state: Bare) -> Bare:
        return {"goal": state["goal"]}

    async def make_plan(_state: Bare) -> Bare:
        return {"plan": plan}

    async def approve_plan(_state: Bare) -> Bare:
        return {}

    async def decide_done(state: Bare) -> Bare:
        return {"next_steps": ready(state)[:8]}

    async def execute_step(task_: dict[str, str]) -> Bare:
        return {"results": {task_["id"]: "ok"}}

    async def reflect(_state: Bare) -> Bare:
        return {}

    async def finish(_state: Bare) -> Bare:
        return {"answer": "done"}

    def dispatch(state: Bare) -> list[Send] | str:
        return [Send("execute_step", {"id": i}) for i in state["next_steps"]] or "finish"

    builder: Any = StateGraph(Bare)
    for name, node in (("parse_goal", parse_goal), ("plan", make_plan),
                       ("approve_plan", approve_plan), ("decide_done", decide_done),
                       ("execute_step", execute_step), ("reflect", reflect),
                       ("finish", finish)):  # fmt: skip
        builder.add_node(name, node)
    builder.add_edge(START, "parse_goal")
    builder.add_conditional_edges("parse_goal", lambda _s: "plan", ["plan", "finish"])
    builder.add_conditional_edges("plan", lambda _s: "approve_plan", ["plan", "approve_plan"])
    builder.add_conditional_edges("approve_plan", lambda _s: "decide_done", ["decide_done"])
    builder.add_conditional_edges("decide_done", dispatch, ["execute_step", "finish"])
    builder.add_edge("execute_step", "reflect")
    builder.add_edge("reflect", "decide_done")
    builder.add_edge("finish", END)
    return builder


@dataclass
class Timed:
    """A compiled graph on its own database, and how to start a run of it."""

    app: Any
    make_input: Callable[[], Any]
    context: Any

    async def per_step(self, thread_id: str) -> float:
        """Seconds per super-step of one run on a fresh thread."""
        config: Any = {"configurable": {"thread_id": thread_id}, "recursion_limit": 500}
        started = time.perf_counter()
        await self.app.ainvoke(self.make_input(), config, context=self.context, durability="sync")
        elapsed = time.perf_counter() - started
        return elapsed / (len([s async for s in self.app.aget_state_history(config)]) - 1)


@dataclass
class Overhead:
    """Seconds per super-step at zero latency (medians) and the median of paired ratios."""

    planloop: float
    bare: float
    ratio: float


async def step_overhead(tasks: tuple[Task, ...], workdir: Path, runs: int, chars: int) -> Overhead:
    """planloop against the bare graph, runs interleaved so both see the same machine load."""
    from bench.systems import planloop_context, registered
    from graph.builder import build_graph
    from nodes.llm import use_model_factory

    ours: list[float] = []
    bare: list[float] = []
    for task in tasks:
        meter = Meter()
        model = SimChatModel(responder=planloop_responder(task), latency=Latency(), meter=meter)
        (workdir / task.name / "ws").mkdir(parents=True)
        context = planloop_context(workdir / task.name / "ws")
        with registered(lookup_tool(Latency(), meter, chars)), use_model_factory(model_of(model)):
            async with (
                open_checkpointer(workdir / f"{task.name}-planloop.db") as saver,
                open_checkpointer(workdir / f"{task.name}-bare.db") as bare_saver,
            ):
                a = Timed(build_graph().compile(checkpointer=saver), _goal_input, context)
                b = Timed(bare_graph(task).compile(checkpointer=bare_saver), _bare_input, None)
                for n in range(runs + 1):  # run 0 warms caches and imports
                    pair = (await a.per_step(f"t{n}"), await b.per_step(f"t{n}"))
                    if n:
                        ours.append(pair[0])
                        bare.append(pair[1])
    ratios = [x / y for x, y in zip(ours, bare, strict=True)]
    return Overhead(statistics.median(ours), statistics.median(bare), statistics.median(ratios))


def _goal_input() -> Any:
    from nodes.state import InputState

    return InputState(goal=GOAL)


def _bare_input() -> Any:
    return {"goal": GOAL}


def model_of(model: SimChatModel) -> Callable[[object], SimChatModel]:
    """A model factory for `nodes.llm.use_model_factory` that always returns `model`."""
    return lambda _context: model


def checkpoint_bytes(db: Path, thread_id: str) -> int:
    """Bytes of a thread's checkpoints (with metadata) and pending writes."""
    with closing(sqlite3.connect(db)) as conn:
        (a,) = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints "
            "WHERE thread_id = ?",
            (thread_id,),
        ).fetchone()
        (b,) = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes WHERE thread_id = ?",
            (thread_id,),
        ).fetchone()
    return int(a + b)


def help_startup_seconds(repeats: int) -> float:
    """Median wall time of `planloop --help` in a fresh process."""
    script = Path(sys.executable).with_name("planloop")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(script), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
