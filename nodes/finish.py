"""finish: the final answer (or partial result) and the Markdown report in the workspace."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.budget import Stopwatch, model_call_limit
from nodes.checks import CHECKED
from nodes.context import Context
from nodes.deadline import OutOfTimeError, within_run_time
from nodes.early_calls import drop_early_calls
from nodes.errors import PlanloopError
from nodes.history import history_text
from nodes.llm import FINISH, invoke
from nodes.memory import memories_of_run, memory_bank
from nodes.prompts import FINISH_SYSTEM, FINISH_USER
from nodes.render import criteria_lines
from nodes.report import partial_answer, render_report
from nodes.state import Budget, State
from tools.artifacts import write_run_file
from tools.runtime import current_thread_id
from tools.workspace import WorkspaceError

RESULT_CHARS = 1500


async def _final_answer(state: State, context: Context) -> tuple[str, Budget]:
    messages = [
        SystemMessage(FINISH_SYSTEM),
        HumanMessage(
            FINISH_USER.format(
                goal=state.goal,
                criteria=criteria_lines(state.criteria, with_status=True),
                results=history_text(
                    list(state.results.values()),
                    {s.id: s for s in state.plan},
                    budget_tokens=context.history_budget_tokens,
                    detail_chars=RESULT_CHARS,
                ),
            )
        ),
    ]
    reply, spent = await invoke(context, messages, stage=FINISH)
    return reply.text.strip(), spent


def written_answer(state: State) -> str | None:
    """The output of the step reflection named as the final answer, when finish may reuse it:
    it passed and an executor wrote it (not raw tool output such as web text)."""
    result = state.results.get(state.answer_step)
    step = next((s for s in state.plan if s.id == state.answer_step), None)
    if result is None or step is None or step.tool is not None or result.verdict != "pass":
        return None
    return result.output.strip() or None


def reviewed_answer(state: State) -> str | None:
    """The answer for the user: a step's output the review named, else the answer the review
    itself wrote from the results when it found every criterion met."""
    return written_answer(state) or state.review_answer.strip() or None


def verified_answer(state: State) -> str | None:
    """The answer when every criterion is met and has a check: the executor's own words (when
    a review named them the answer), what was checked on disk and the model's evidence for the
    rest. No model call: there is nothing left to judge or to find."""
    if not state.criteria or any(c.check is None or not c.met for c in state.criteria):
        return None
    checked = "\n".join(f"- {c.text}: {c.evidence.removeprefix(CHECKED)}" for c in state.criteria)
    return f"{reviewed_answer(state) or 'Done.'}\n\nChecked in the workspace:\n{checked}"


def met_answer(state: State, limit: str) -> str:
    """The answer of a run that reached its goal when a limit forbids the model call that
    would write one: why it is done, and each criterion with its evidence."""
    criteria = criteria_lines(state.criteria, with_status=True)
    return f"Done: {state.stop_reason}.\n{criteria}\n\n(No answer was written: {limit}.)"


def _write_outputs(state: State, answer: str, thread_id: str, workspace: str) -> str:
    """Write report.md and answer.md into the run's folder (blocking I/O: run in a thread)."""
    try:
        report_rel = write_run_file(
            workspace, thread_id, "report.md", render_report(state, answer, thread_id)
        )
        write_run_file(workspace, thread_id, "answer.md", answer + "\n")
    except (OSError, WorkspaceError) as exc:
        raise PlanloopError(f"cannot write the run's report into the workspace: {exc}") from exc
    return report_rel


@within_run_time
async def finish(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Write the answer and the report; a stopped run gets its partial result, no model call."""
    watch = Stopwatch()
    drop_early_calls(current_thread_id())  # reads a dropped plan started, nobody will take
    status = "failed" if state.status == "running" else state.status
    state = replace(state, status=status)
    reused = (verified_answer(state) or reviewed_answer(state)) if status == "done" else None
    limit = model_call_limit(state.budget, runtime.context)
    if reused is not None:
        answer, spent = reused, Budget()  # the answer is already written: no model call
    elif status == "done" and limit:
        answer, spent = met_answer(state, limit), Budget()
    elif status == "done":
        try:
            answer, spent = await _final_answer(state, runtime.context)
        except OutOfTimeError as exc:  # done all the same: the answer lists the evidence
            answer, spent = met_answer(state, str(exc)), exc.spent
    else:
        answer, spent = partial_answer(state), Budget()
    thread_id = current_thread_id()
    budget = watch.budget(spent)
    final = replace(state, budget=state.budget + budget)
    report_rel = await asyncio.to_thread(
        _write_outputs, final, answer, thread_id, runtime.context.workspace
    )
    bank = memory_bank(runtime)
    if bank is not None:
        await bank.remember(memories_of_run(final, answer, thread_id, runtime.context))
    return {"status": status, "answer": answer, "report_path": report_rel, "budget": budget}
