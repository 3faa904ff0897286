"""The systems the live suite compares, in one registry (`SYSTEMS`).

Every system gets the same model (built by planloop's model seam, so recording and replay work
for all of them), the same goal text, the same workspace, the same tools (planloop's own, with its
sandbox) and the same budget (`Goal.limits`). An ablation of planloop is one line in `SYSTEMS`:
`planloop_variant(max_parallel_steps=1)` runs planloop with those `Context` settings changed.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.live.goals import Goal
from bench.systems import REACT_SYSTEM
from nodes.context import Context


@dataclass(frozen=True)
class RunSettings:
    """What the harness sets for every system and goal."""

    model: str
    base_url: str | None
    request_timeout: float
    """Seconds one model request may take."""
    max_seconds: float
    """planloop's own working-time budget (it stops itself and writes a partial result)."""


@dataclass
class Attempt:
    """What a system reports about one run; filled in as the run goes, so a run the harness
    abandons at its wall cap still reports what it did so far."""

    status: str = "running"
    """done, failed, stalled, budget_exhausted (the system's own word), or the harness's:
    timeout (wall cap hit), error (the system raised)."""
    stop_reason: str = ""
    tool_calls: int = 0
    exit_code: int | None = None
    """The CLI's exit code for the status (0 done, 1 failed, 4 budget exhausted)."""
    answer: str = ""


@dataclass(frozen=True)
class Job:
    """One system run: the goal, its text, where to work."""

    goal: Goal
    prompt: str
    workspace: Path
    home: Path
    """A fresh directory for the system's own state (planloop's database)."""
    thread_id: str
    settings: RunSettings


SystemRunner = Callable[[Job, Attempt], Awaitable[None]]


def first_line(exc: BaseException) -> str:
    """An exception's message in one short line."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def base_context(job: Job, **overrides: Any) -> Context:
    """planloop's settings as a user runs the suite's goals: no approvals, no memory."""
    values: dict[str, Any] = {
        "workspace": str(job.workspace),
        "model": job.settings.model,
        "base_url": job.settings.base_url,
        "approval": "none",
        "memory": False,
        "request_timeout": job.settings.request_timeout,
        "max_seconds": job.settings.max_seconds,
        "max_steps": job.goal.limits.max_steps,
        "max_tool_calls": job.goal.limits.max_tool_calls,
        "allow_private_urls": job.goal.uses_site,
        **overrides,
    }
    return Context(**values)


# planloop ---------------------------------------------------------------------------------------


def planloop_variant(**overrides: Any) -> SystemRunner:
    """planloop through its Python API (`graph.api.arun`), with `Context` settings changed by
    `overrides` (none: planloop as shipped)."""

    async def run(job: Job, attempt: Attempt) -> None:
        from graph.api import arun
        from graph.cli import EXIT_FAILED, EXIT_PAUSED, STATUS_EXIT

        context = base_context(job, **overrides)

        def on_update(_node: str, update: Any) -> None:
            budget = update.get("budget")
            attempt.tool_calls += getattr(budget, "tool_calls", 0)
            if isinstance(update.get("status"), str):
                attempt.status = update["status"]
            if isinstance(update.get("stop_reason"), str):
                attempt.stop_reason = update["stop_reason"]

        previous_home = os.environ.get("PLANLOOP_HOME")
        os.environ["PLANLOOP_HOME"] = str(job.home)  # a fresh home per goal, as for a new user
        try:
            outcome = await arun(
                job.prompt,
                context=context,
                thread_id=job.thread_id,
                db=job.home / "planloop.db",
                on_update=on_update,
            )
        except Exception as exc:
            attempt.status, attempt.exit_code = "error", EXIT_FAILED
            attempt.stop_reason = f"{type(exc).__name__}: {first_line(exc)}"
            return
        finally:
            if previous_home is None:
                os.environ.pop("PLANLOOP_HOME", None)
            else:
                os.environ["PLANLOOP_HOME"] = previous_home
        attempt.status, attempt.stop_reason = outcome.status, outcome.stop_reason
        attempt.tool_calls, attempt.answer = outcome.budget.tool_calls, outcome.answer
        attempt.exit_code = (
            EXIT_PAUSED if outcome.paused else STATUS_EXIT.get(outcome.status, EXIT_FAILED)
        )

    return run


# ReAct ------------------------------------------------------------------------------------------


def _tool_errors_as_observations() -> Any:
    """create_agent middleware: a tool that raises becomes an `ERROR: ...` observation (as in
    planloop's `run_tool`) instead of ending the agent."""
    from langchain.agents.middleware import wrap_tool_call
    from langchain_core.messages import ToolMessage

    @wrap_tool_call
    async def tool_errors_as_observations(request: Any, handler: Any) -> Any:
        try:
            return await handler(request)
        except Exception as exc:
            return ToolMessage(
                content=f"ERROR: {type(exc).__name__}: {exc}"[:2000],
                tool_call_id=request.tool_call["id"],
                name=request.tool_call.get("name"),
                status="error",
            )

    return tool_errors_as_observations


def _parallel_tool_calls() -> Any:
    """create_agent middleware: every model request allows parallel tool calls (create_agent
    binds the tools with `request.model_settings`, and ChatOpenAI sends
    `parallel_tool_calls: true`), so the model may call several tools in one turn."""
    from langchain.agents.middleware import wrap_model_call

    @wrap_model_call
    async def parallel_tool_calls(request: Any, handler: Any) -> Any:
        settings = {**request.model_settings, "parallel_tool_calls": True}
        return await handler(request.override(model_settings=settings))

    return parallel_tool_calls


def react_agent(context: Context, *, parallel: bool = False) -> Any:
    """The ReAct agent: create_agent with planloop's tools and model; `parallel` allows
    parallel tool calls in each request."""
    from langchain.agents import create_agent

    from nodes.llm import chat_model
    from tools import tools_for

    middleware = [_tool_errors_as_observations()]
    if parallel:
        middleware.append(_parallel_tool_calls())
    return create_agent(
        chat_model(context),
        tools=list(tools_for(context).values()),
        system_prompt=REACT_SYSTEM,
        middleware=middleware,
        context_schema=Context,
    )


async def run_react(job: Job, attempt: Attempt) -> None:
    """The ReAct agent as the server runs tool calls by default (one per turn on
    llama-server)."""
    await _run_react(job, attempt, parallel=False)


async def run_react_parallel(job: Job, attempt: Attempt) -> None:
    """The same ReAct agent with parallel tool calls allowed (`parallel_tool_calls: true`)."""
    await _run_react(job, attempt, parallel=True)


async def _run_react(job: Job, attempt: Attempt, *, parallel: bool) -> None:
    """`langchain.agents.create_agent` with planloop's tools; it may take as many tool turns as
    the goal's `max_tool_calls` (the LangGraph recursion limit), and is done when it answers
    without calling a tool."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langgraph.errors import GraphRecursionError

    context = base_context(job)
    agent = react_agent(context, parallel=parallel)
    config: Any = {"recursion_limit": 2 * job.goal.limits.max_tool_calls + 1}
    try:
        async for chunk in agent.astream(
            {"messages": [HumanMessage(job.prompt)]},
            config,
            context=context,
            stream_mode="updates",
        ):
            for update in chunk.values():
                messages = update.get("messages", []) if isinstance(update, dict) else []
                attempt.tool_calls += sum(isinstance(m, ToolMessage) for m in messages)
                answers = [m for m in messages if isinstance(m, AIMessage) and not m.tool_calls]
                if answers:
                    attempt.answer = answers[-1].text
    except GraphRecursionError:
        attempt.status, attempt.exit_code = "budget_exhausted", 4
        attempt.stop_reason = f"more than {job.goal.limits.max_tool_calls} tool turns"
        return
    except Exception as exc:
        attempt.status, attempt.exit_code = "error", 1
        attempt.stop_reason = f"{type(exc).__name__}: {first_line(exc)}"
        return
    attempt.status, attempt.exit_code = "done", 0
    attempt.stop_reason = "answered without a tool call"


@dataclass(frozen=True)
class System:
    """A registered system."""

    name: str
    description: str
    run: SystemRunner


SYSTEMS: dict[str, System] = {
    system.name: system
    for system in (
        System("planloop", "planloop as shipped (Python API)", planloop_variant()),
        System("react", "langchain create_agent ReAct loop, planloop's tools", run_react),
        System(
            "react-parallel",
            "the same ReAct loop with parallel tool calls allowed (parallel_tool_calls: true)",
            run_react_parallel,
        ),
        System(
            "planloop-short",
            "ablation: every goal on the short path (effort=short)",
            planloop_variant(effort="short"),
        ),
        System(
            "planloop-full",
            "ablation: every goal through plan, review and replan (effort=full)",
            planloop_variant(effort="full"),
        ),
        System(
            "planloop-tools",
            "ablation: no program steps; executors call tools (programs=False)",
            planloop_variant(programs=False),
        ),
        System(
            "planloop-no-cross-check",
            "ablation: no second program settles criteria; the reviewer judges (cross_check=False)",
            planloop_variant(cross_check=False),
        ),
        System(
            "planloop-settles",
            "variant: outputs two programs wrote alike settle criteria (cross_check_settles)",
            planloop_variant(cross_check_settles=True),
        ),
        System(
            "planloop-serial",
            "ablation: one step at a time (max_parallel_steps=1)",
            planloop_variant(max_parallel_steps=1),
        ),
        System(
            "planloop-every-wave",
            "ablation: reflect after every wave (reflection=every_wave)",
            planloop_variant(reflection="every_wave"),
        ),
    )
}
"""Every system `--systems` can name; add an ablation here."""
