"""Running a program step (`nodes.program`): the model writes the program, the sandbox runs it,
and what went wrong goes back for a fixed one, within the step's attempts and the run's limits."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from nodes.context import Context
from nodes.deadline import OutOfTimeError
from nodes.llm import EXECUTE, invoke, was_truncated
from nodes.program import (
    PROGRAM_ATTEMPTS,
    PROGRAM_TOOL,
    checks_note,
    fetched_pages,
    program_in,
    program_messages,
    repeated_note,
    retry_note,
    with_pages,
    written_files,
)
from nodes.program_errors import failing_libraries, same_program
from nodes.state import Budget, Step, StepTask
from nodes.step_calls import Execution, checked_call
from nodes.step_runs import Filled, failed_checks, step_prompt
from nodes.wave_budget import MODEL_CALL, wave_budget
from tools.python_tool import describe_interpreter
from tools.runtime import in_confinement
from tools.sanitize import sanitize


@dataclass
class Written:
    """One model reply asked for a program, and the program it holds (None: no usable one)."""

    reply: AIMessage
    program: str | None
    cut_off: bool
    cost: Budget


async def _first_messages(
    task: StepTask, step: Step, context: Context, pages: dict[str, str]
) -> list[BaseMessage]:
    """The program prompt; told of `pages` exactly when the program will start with them."""
    prompt, interpreter = await step_prompt(task, step), await describe_interpreter(context)
    return program_messages(prompt, interpreter, list(pages))


async def _write(
    task: StepTask, messages: list[BaseMessage], context: Context, *, resample: bool = False
) -> Written:
    """One reply asked for a program; `resample`: at the retry temperature (the model has just
    written a program it wrote before)."""
    reply, cost = await invoke(context, messages, stage=EXECUTE, resample=resample)
    wave_budget(task).model_call_cost(cost)
    cut_off = was_truncated(reply)
    return Written(reply, None if cut_off else program_in(reply.text), cut_off, cost)


async def write_program(task: StepTask, step: Step, context: Context) -> Filled:
    """The step's program from one model call, not run: the args a human approves."""
    limit = wave_budget(task).claim(MODEL_CALL, context)
    if limit:
        return Filled(None, f"{limit} reached")
    pages = _pages(task)
    try:
        written = await _write(task, await _first_messages(task, step, context, pages), context)
    except OutOfTimeError as exc:
        return Filled(None, str(exc), exc.spent)
    if written.program is None:
        why = "it was cut off" if written.cut_off else sanitize(written.reply.text)[:300]
        return Filled(None, f"no program was written: {why}", written.cost)
    return Filled({"code": with_pages(written.program, pages)}, cost=written.cost)


def _pages(task: StepTask) -> dict[str, str]:
    return fetched_pages([result.output for result in task.inputs])


RESAMPLES = 1
"""Replies a step may ask again for because they repeat a program it already ran."""


@dataclass
class Tried:
    """A program the step already ran, and how that went."""

    code: str
    ran: bool
    """It ran to the end (a code check failed after it)."""
    libraries: list[str]
    """The third-party packages its failure came from."""


async def run_program(task: StepTask, step: Step, context: Context) -> Execution:
    """Ask for the step's program and run it; a program that fails, or after which a code check
    fails, goes back with the error for a fixed one (at most `PROGRAM_ATTEMPTS` programs). The
    step ends when a program ran and nothing checked fails. A fix that is a program the step
    already ran is not run again, nor counted: the model is asked for a different one (without
    the library the failure came from) at `Context.retry_temperature`, `RESAMPLES` times at
    most: at temperature 0 a 1.5B model, told only the error, wrote the same program again."""
    pages = _pages(task)
    messages = await _first_messages(task, step, context, pages)
    run = Execution(step_id=step.id)
    run.ok, run.output = False, "ERROR: no program was written"
    tried: list[Tried] = []
    again: Tried | None = None
    attempts = resamples = 0
    while attempts < PROGRAM_ATTEMPTS:
        limit = wave_budget(task).claim(MODEL_CALL, context)
        if limit:
            run.ok, run.output = False, f"ERROR: stopped mid-step: {limit} reached"
            return run
        try:
            written = await _write(task, messages, context, resample=again is not None)
        except OutOfTimeError as exc:
            run.ok, run.output = False, f"ERROR: stopped mid-step: {exc}"
            return run
        run.spent += written.cost
        messages.append(AIMessage(written.reply.text))
        if written.program is None:
            attempts += 1
            messages.append(HumanMessage(retry_note(written.program, "", written.cut_off)))
            continue
        code = with_pages(written.program, pages)
        again = next((t for t in tried if same_program(t.code, code)), None)
        if again is not None:
            if resamples == RESAMPLES:
                return run  # it wrote a program it had written before, twice
            resamples += 1
            messages.append(HumanMessage(repeated_note(again.ran, again.libraries)))
            continue
        attempts += 1
        outcome = await checked_call(task, PROGRAM_TOOL, {"code": code}, run, context)
        run.ok, run.output = outcome.ok, outcome.text
        if not outcome.ok:
            libraries = failing_libraries(code, outcome.text)
            tried.append(Tried(code, False, libraries))
            note = retry_note(written.program, outcome.text, False, libraries)
            messages.append(HumanMessage(note))
            continue
        found = await failed_checks(task, [outcome])
        if not found or not found[1]:  # nothing to check, or every check passes
            return run
        failed, failures = found
        tried.append(Tried(code, True, []))
        written_now = await in_confinement(written_files, failed)
        messages.append(HumanMessage(checks_note(failures, written_now)))
    return run
