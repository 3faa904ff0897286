"""What the graph recalls before planning and remembers when a run ends."""

from __future__ import annotations

from langgraph.runtime import Runtime

from checkpoints.memory import Memory, MemoryBank
from nodes.context import Context
from nodes.state import MemoryHit, State, Step, StepResult
from tools import has_untrusted_output

FACT_CHARS = 400
OUTCOME_CHARS = 600


def memory_bank(runtime: Runtime[Context]) -> MemoryBank | None:
    """The run's memory, or None when memory is off or the graph has no store."""
    if not runtime.context.memory or runtime.store is None:
        return None
    context = runtime.context
    return MemoryBank(runtime.store, context.memory_namespace(), context.memory_max_items)


async def recall(state: State, runtime: Runtime[Context]) -> list[MemoryHit]:
    """Memories relevant to this run's objective and criteria."""
    bank = memory_bank(runtime)
    if bank is None:
        return []
    query = " ".join([state.objective or state.goal, *(c.text for c in state.criteria)])
    found = await bank.recall(query, runtime.context.memory_recall)
    return [
        MemoryHit(
            id=memory.key,
            kind=memory.kind,
            text=memory.text,
            trusted=memory.trusted,
            source=memory.source or f"{memory.thread_id}/{memory.step_id}".strip("/"),
            score=round(score, 4),
        )
        for memory, score in found
    ]


def _memory_of_step(
    state: State, result: StepResult, step: Step | None, thread_id: str, context: Context
) -> Memory | None:
    """A failed step's lesson, or a passed step's fact from outside content (untrusted, with
    where it came from); None for anything else."""
    if result.verdict == "fail":
        what = step.description if step else result.step_id
        how = f" using {step.tool}" if step and step.tool else ""
        return Memory(
            kind="lesson",
            text=f"For '{state.objective}': '{what}'{how} failed: {result.note}",
            thread_id=thread_id,
            step_id=result.step_id,
        )
    if step and step.tool and has_untrusted_output(step.tool, context) and result.verdict == "pass":
        args = step.args or {}
        return Memory(
            kind="fact",
            text=result.output[:FACT_CHARS],
            trusted=False,
            source=str(args.get("url") or args.get("query") or step.tool),
            thread_id=thread_id,
            step_id=result.step_id,
        )
    return None


def memories_of_run(
    state: State, answer: str, thread_id: str, context: Context | None = None
) -> list[Memory]:
    """Lessons (what failed and why, what worked), facts from outside content (web pages, MCP
    servers) with provenance, and the outcome."""
    context = context or Context()
    steps = {s.id: s for s in state.plan}
    memories = [
        memory
        for result in state.results.values()
        if (memory := _memory_of_step(state, result, steps.get(result.step_id), thread_id, context))
    ]
    worked = [
        steps[r.step_id].description
        for r in state.results.values()
        if r.verdict == "pass" and r.step_id in steps
    ]
    if worked and state.status == "done":
        memories.append(
            Memory(
                kind="lesson",
                text=f"For '{state.objective}' these steps worked: " + "; ".join(worked[:8]),
                thread_id=thread_id,
            )
        )
    memories.append(
        Memory(
            kind="outcome",
            text=f"Goal '{state.goal.strip()}' ended {state.status}: {answer[:OUTCOME_CHARS]}",
            thread_id=thread_id,
        )
    )
    return memories
