"""The systems under test, each doing a `Task` with the shared simulated model and tools.

Every system is offered the same tools: planloop's own (those usable without API keys) plus the
simulated `lookup`. Only `lookup` is ever called; the others cost what their schemas cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool

from bench.responders import plan_execute_responder, planloop_responder, react_responder
from bench.sim import CHARS_PER_TOKEN, GOAL, Latency, Meter, Op, SimChatModel, Task, lookup_tool

REACT_SYSTEM = "You are a helpful assistant. Use the tools to do the user's task, then answer."


@dataclass
class Result:
    """One system on one task."""

    system: str
    task: str
    wall: float
    meter: Meter
    critical_path: float
    super_steps: int = 0


def serial_critical_path(meter: Meter) -> float:
    """A system that makes one model or tool call at a time can go no faster than their sum."""
    return sum(op.seconds for op in meter.ops)


def wave_critical_path(meter: Meter, task: Task, latency: Latency | None = None) -> float:
    """Lower bound for a system that runs each wave of ready lookups concurrently.

    Model calls outside the steps (parse, plan, reflect, finish; or a ReAct model's turns) are
    sequential; inside a wave the slowest step (its own model and tool calls in a row) counts.
    With `latency` (planloop), a first-wave lookup that the first model call's streamed plan
    lists with its args starts when its step's text is written (`nodes.early_calls`): the
    first wave ends when both that call and the wave's slowest step have.
    """
    control = [op for op in meter.ops if op.kind == "model" and op.tag == ""]
    waves = [*task.waves(), ["synth"]]

    def step_seconds(key: str) -> float:
        return sum(op.seconds for op in meter.ops if op.tag == key)

    starts = streamed_starts(control[0], latency) if latency and control else {}
    first_call = control[0].seconds if starts else 0.0
    first_wave = max(starts.get(key, first_call) + step_seconds(key) for key in waves[0])
    rest = sum(max(step_seconds(key) for key in wave) for wave in waves[1:])
    return sum(op.seconds for op in control) - first_call + max(first_call, first_wave) + rest


def streamed_starts(call: Op, latency: Latency) -> dict[str, float]:
    """When each lookup a streamed plan lists with its args can start: the simulated time its
    step's text is complete."""
    from nodes.early_calls import StepScanner

    scanner, starts = StepScanner(), {}
    for position, char in enumerate(call.text, 1):
        for step in scanner.feed(char):
            args = step.get("args")
            if isinstance(args, dict) and not step.get("depends_on") and "key" in args:
                starts[str(args["key"])] = latency.call(position // CHARS_PER_TOKEN)
    return starts


def shared_tools(lookup: BaseTool, workspace: Path) -> list[BaseTool]:
    """planloop's tools usable without API keys, then the lookup."""
    from nodes.context import Context
    from tools import tools_for

    return [*tools_for(Context(workspace=str(workspace))).values(), lookup]


# planloop -----------------------------------------------------------------------------------


@contextmanager
def registered(tool: BaseTool) -> Iterator[None]:
    """Offer the bench's lookup tool to planloop for the block (no product file changes)."""
    from tools import ExtraTools, ToolSpec, offered

    with offered(ExtraTools(specs=(ToolSpec(tool, risk="read_only", untrusted_output=False),))):
        yield


def planloop_context(workspace: Path) -> object:
    """Autonomous settings with limits far above what the tasks need."""
    from nodes.context import Context

    return Context(
        workspace=str(workspace), model="sim", approval="none", memory=False,
        max_parallel_steps=8, max_steps=100, max_plan_steps=100, max_llm_calls=1000,
        max_tool_calls=1000, max_tokens=10**8, max_cost_usd=1e6,
    )  # fmt: skip


async def run_planloop(task: Task, latency: Latency, workdir: Path, chars: int) -> Result:
    """planloop through its public API (`graph.api.arun`), checkpointed to a SQLite file."""
    from graph.api import arun
    from graph.threads import thread_history
    from nodes.llm import use_model_factory

    meter = Meter()
    model = SimChatModel(responder=planloop_responder(task), latency=latency, meter=meter)
    context = planloop_context(workdir / "ws")
    db = workdir / f"planloop-{task.name}.db"
    with registered(lookup_tool(latency, meter, chars)), use_model_factory(lambda _c: model):
        started = time.perf_counter()
        outcome = await arun(GOAL, context=context, db=db, thread_id=task.name)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
    if outcome.status != "done":
        raise RuntimeError(f"planloop did not finish {task.name}: {outcome.stop_reason}")
    steps = len(await thread_history(task.name, db)) - 1
    critical = wave_critical_path(meter, task, latency)
    return Result("planloop", task.name, wall, meter, critical, steps)


# sequential plan-and-execute (langchain_experimental) ---------------------------------------


async def run_plan_execute(task: Task, latency: Latency, workdir: Path, chars: int) -> Result:
    """langchain_experimental's PlanAndExecute: plan once, then one executor agent per step."""
    from langchain_experimental.plan_and_execute import (
        PlanAndExecute,
        load_agent_executor,
        load_chat_planner,
    )

    meter = Meter()
    model = SimChatModel(responder=plan_execute_responder(task), latency=latency, meter=meter)
    offered = shared_tools(lookup_tool(latency, meter, chars), workdir)
    agent = PlanAndExecute(
        planner=load_chat_planner(model), executor=load_agent_executor(model, offered)
    )
    started = time.perf_counter()
    await agent.ainvoke({"input": GOAL})
    wall = time.perf_counter() - started
    return Result("plan-and-execute", task.name, wall, meter, serial_critical_path(meter))


# ReAct (langchain.agents.create_agent) --------------------------------------------------------


async def run_react(
    task: Task, latency: Latency, workdir: Path, chars: int, *, parallel: bool = False
) -> Result:
    """A create_agent ReAct loop; `parallel`: the model emits every ready lookup in one turn."""
    from langchain.agents import create_agent

    meter = Meter()
    responder = react_responder(task, parallel=parallel)
    model = SimChatModel(responder=responder, latency=latency, meter=meter)
    offered = shared_tools(lookup_tool(latency, meter, chars), workdir)
    agent = create_agent(model, tools=offered, system_prompt=REACT_SYSTEM)
    started = time.perf_counter()
    await agent.ainvoke({"messages": [HumanMessage(GOAL)]})
    wall = time.perf_counter() - started
    if parallel:
        return Result("react-parallel", task.name, wall, meter, wave_critical_path(meter, task))
    return Result("react", task.name, wall, meter, serial_critical_path(meter))
