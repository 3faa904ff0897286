"""The systems under test, each doing a `Task` with the shared simulated model and tool."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from bench.sim import Latency, Meter, SimChatModel, Task, lookup_tool

GOAL = "Look up every fact and combine them into one summary."


@dataclass
class Result:
    """One system on one task."""

    system: str
    task: str
    wall: float
    meter: Meter
    super_steps: int = 0
    critical_path: float = 0.0


def _call_seconds(meter: Meter, latency: Latency) -> float:
    """Latency of an average model call of this run (per-call plus output-token time)."""
    average_output = meter.completion_tokens / max(meter.llm_calls, 1)
    return latency.per_call + latency.per_output_token * average_output


def _text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


# planloop -----------------------------------------------------------------------------------


def planloop_responder(task: Task) -> Any:
    steps = [
        {"id": k, "description": f"look up {k}", "expected": "the fact", "tool": "lookup",
         "args": {"key": k}, "depends_on": deps}
        for k, deps in task.deps.items()
    ] + [{"id": "synth", "description": "combine the facts into a summary",
          "expected": "a summary", "depends_on": list(task.deps)}]  # fmt: skip

    def reply(messages: Sequence[BaseMessage]) -> AIMessage:
        system = str(messages[0].content)
        if "goal analyst" in system:
            return AIMessage(json.dumps({"objective": GOAL, "criteria": ["summary written"]}))
        if "planner" in system:
            return AIMessage(json.dumps({"steps": steps}))
        if "step executor" in system:
            return AIMessage("Summary: all facts combined.")
        if "reviewer" in system:
            new = _text(messages).split("New results to judge:")[1].split("Earlier results:")[0]
            ids = sorted(set(re.findall(r"<result step='([\w]+)'", new)))
            met = [{"id": "c1", "met": True, "evidence": "synth"}] if "synth" in ids else []
            verdicts = [{"step_id": i, "ok": True, "note": ""} for i in ids]
            return AIMessage(json.dumps({"verdicts": verdicts, "criteria": met}))
        return AIMessage("All facts were looked up and summarised.")

    return reply


@contextmanager
def registered(tool: BaseTool) -> Iterator[None]:
    """Offer the bench's lookup tool to planloop for the block."""
    import tools

    tools.TOOLS.append(tool)
    tools.TOOL_RISK["lookup"] = "read_only"
    try:
        yield
    finally:
        tools.TOOLS.remove(tool)
        del tools.TOOL_RISK["lookup"]


async def run_planloop(task: Task, latency: Latency, workdir: Path) -> Result:
    from graph.api import arun
    from graph.threads import thread_history
    from nodes.context import Context
    from nodes.llm import use_model_factory

    meter = Meter()
    model = SimChatModel(responder=planloop_responder(task), latency=latency, meter=meter)
    context = Context(
        workspace=str(workdir / "ws"), model="sim", approval="none", memory=False,
        max_parallel_steps=8, max_steps=100, max_plan_steps=100, max_llm_calls=1000,
        max_tool_calls=1000, max_tokens=10**8, max_cost_usd=1e6,
    )  # fmt: skip
    db = workdir / f"planloop-{task.name}.db"
    with registered(lookup_tool(latency, meter)), use_model_factory(lambda _c: model):
        started = time.perf_counter()
        outcome = await arun(GOAL, context=context, db=db, thread_id=task.name)
        wall = time.perf_counter() - started
    assert outcome.status == "done", outcome.stop_reason
    steps = len(await thread_history(task.name, db)) - 1
    # parse, plan, (lookups along the longest chain, each reflected), synth, its reflection, finish
    sequential_calls = 2 + task.longest_chain + 3
    critical = sequential_calls * _call_seconds(meter, latency) + task.longest_chain * latency.tool
    return Result("planloop", task.name, wall, meter, steps, critical)


def checkpoint_bytes(db: Path, thread_id: str) -> int:
    """Bytes of a thread's checkpoints and pending writes."""
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


# sequential plan-and-execute (langchain_experimental) ---------------------------------------


def plan_execute_responder(task: Task) -> Any:
    order = [*task.deps, "synth"]
    plan = "\n".join(
        f"{n}. {'combine the facts' if k == 'synth' else f'look up {k}'}"
        for n, k in enumerate(order, 1)
    )

    def reply(messages: Sequence[BaseMessage]) -> AIMessage:
        text = _text(messages)
        if "<END_OF_PLAN>" in text or "devise a plan" in text:
            return AIMessage(f"Plan:\n{plan}\n<END_OF_PLAN>")
        objective = text.rsplit("Current objective:", 1)[-1]
        key = re.search(r"look up (k\d+)", objective)
        done = "Observation:" in objective or key is None
        if done:
            action = {"action": "Final Answer", "action_input": "done"}
        else:
            action = {"action": "lookup", "action_input": {"key": key.group(1)}}
        return AIMessage(f"Action:\n```\n{json.dumps(action)}\n```")

    return reply


async def run_plan_execute(task: Task, latency: Latency) -> Result:
    from langchain_experimental.plan_and_execute import (
        PlanAndExecute,
        load_agent_executor,
        load_chat_planner,
    )

    meter = Meter()
    model = SimChatModel(responder=plan_execute_responder(task), latency=latency, meter=meter)
    agent = PlanAndExecute(
        planner=load_chat_planner(model),
        executor=load_agent_executor(model, [lookup_tool(latency, meter)]),
    )
    started = time.perf_counter()
    await agent.ainvoke({"input": GOAL})
    wall = time.perf_counter() - started
    return Result("plan-and-execute", task.name, wall, meter, critical_path=wall)


# ReAct (langchain.agents.create_agent) --------------------------------------------------------


def react_responder(task: Task) -> Any:
    keys = list(task.deps)

    def reply(messages: Sequence[BaseMessage]) -> AIMessage:
        done = sum(1 for m in messages if isinstance(m, ToolMessage))
        if done < len(keys):  # classic ReAct: one action per thought
            call = {"name": "lookup", "args": {"key": keys[done]}, "id": f"call_{done}"}
            return AIMessage(content="", tool_calls=[call])
        return AIMessage("All facts were looked up and summarised.")

    return reply


async def run_react(task: Task, latency: Latency) -> Result:
    from langchain.agents import create_agent

    meter = Meter()
    model = SimChatModel(responder=react_responder(task), latency=latency, meter=meter)
    agent = create_agent(model, tools=[lookup_tool(latency, meter)])
    started = time.perf_counter()
    await agent.ainvoke({"messages": [HumanMessage(GOAL)]})
    wall = time.perf_counter() - started
    critical = (len(task.deps) + 1) * _call_seconds(meter, latency) + len(task.deps) * latency.tool
    return Result("react", task.name, wall, meter, critical_path=critical)
