"""run_python: execute Python code in the sandbox (see `tools.sandbox`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langchain_core.tools import tool

from nodes.context import Context
from tools.code_layout import laid_out
from tools.confinement import Confinement, state_folders
from tools.interpreter import Interpreter, InterpreterGuard, interpreter_note, load_interpreter
from tools.receipts import action_receipt, save_outcome
from tools.runtime import current_confinement, current_context
from tools.sandbox import SandboxLimits, SandboxResult, run_python_code

MAX_LISTED_FILES = 50
CREATED_PREFIX = "files created or changed: "
STDOUT_HEAD = "--- stdout ---"
STDERR_HEAD = "--- stderr ---"
ISOLATION_PREFIX = "isolation: "


def created_files(observation_text: str) -> list[str]:
    """The workspace files a run_python observation says the program created or changed."""
    for line in observation_text.splitlines():
        if line.startswith(CREATED_PREFIX):
            names = line.removeprefix(CREATED_PREFIX).split(" and ")[0]
            return [name for name in names.split(", ") if name]
    return []


def observation(result: SandboxResult, limits: SandboxLimits) -> str:
    """The program's result as the model sees it: status, output, files, isolation."""
    if result.timed_out:
        head = f"killed: timeout after {limits.timeout_seconds:g}s"
    else:
        head = f"exit status {result.exit_code}"
        if result.limit_hit:
            head += f" (limit hit: {result.limit_hit})"
    parts = [head]
    if result.stdout.strip():
        parts += [STDOUT_HEAD, result.stdout.rstrip()]
    if result.stderr.strip():
        parts += [STDERR_HEAD, result.stderr.rstrip()]
    if result.created_files:
        names = result.created_files[:MAX_LISTED_FILES]
        more = len(result.created_files) - len(names)
        parts.append(CREATED_PREFIX + ", ".join(names) + (f" and {more} more" if more else ""))
    parts.append(f"{ISOLATION_PREFIX}{result.isolation}")
    return "\n".join(parts)


def program_stdout(observation_text: str) -> str | None:
    """What the program printed, from an `observation` of a program that exited 0; None for
    any other observation."""
    lines = observation_text.split("\n")
    if lines[0] != "exit status 0" or STDOUT_HEAD not in lines:
        return None
    start, end = lines.index(STDOUT_HEAD) + 1, len(lines)
    if lines[-1].startswith(ISOLATION_PREFIX):  # the tail `observation` adds, from the end
        end -= 1
        if end > start and lines[end - 1].startswith(CREATED_PREFIX):
            end -= 1
        if STDERR_HEAD in lines[start:end]:
            end = start + len(lines[start:end]) - 1 - lines[start:end][::-1].index(STDERR_HEAD)
    return "\n".join(lines[start:end])


def sandbox_limits(context: Context) -> SandboxLimits:
    """The run's settings for a program's time, memory, processes and file size."""
    return SandboxLimits(
        timeout_seconds=context.python_timeout_seconds,
        memory_mb=context.python_memory_mb,
        max_processes=context.python_max_processes,
        max_file_mb=context.python_max_file_mb,
    )


async def _interpreter(context: Context) -> Interpreter | None:
    """The configured interpreter (checked once, cached), or None for planloop's own; a broken
    one raises, which run_tool turns into an error observation."""
    if not context.python:
        return None
    guarded = InterpreterGuard.of(context.workspace, state_folders.get())
    return await asyncio.to_thread(load_interpreter, context.python, guarded)


async def describe_interpreter(context: Context) -> str:
    """What a prompt says of run_python's interpreter (its Python, what it can import), or why
    it cannot run; the interpreter is probed once per process, in a thread (never on the event
    loop)."""
    guarded = InterpreterGuard.of(context.workspace, state_folders.get())
    return await asyncio.to_thread(interpreter_note, context.python, guarded)


async def run_script(path: str, confinement: Confinement) -> SandboxResult:
    """Run the workspace's Python script `path` as `python path` would, in the sandbox and
    with the run's limits and interpreter, as run_python runs code."""
    context = current_context()
    start = f"import runpy, sys\nsys.argv = [{path!r}]\n"
    code = start + f"runpy.run_path({path!r}, run_name='__main__')"
    python = await _interpreter(context)
    limits = sandbox_limits(context)
    return await run_python_code(
        code, context.workspace, limits, confinement=confinement, python=python
    )


async def run_in_folder(code: str, folder: Path) -> SandboxResult:
    """Run `code` in the sandbox with the run's limits and interpreter, as run_python runs
    code, but in `folder` (a copy of the workspace that code made) instead of the workspace."""
    context = current_context()
    python = await _interpreter(context)
    return await run_python_code(laid_out(code), folder, sandbox_limits(context), python=python)


@tool
async def run_python(code: str) -> str:
    """Run a Python 3 program in an isolated sandbox and return its output.

    The workspace is the current directory and the only writable place; there is no network
    and no access to secrets. Limits: wall-clock time, memory, processes and file size (see the
    run settings). Print what you need to see.

    Args:
        code: The complete program to run.
    """
    # A one-line program with a compound statement after a `;` cannot parse; it runs laid
    # out as the lines it means (`tools.code_layout`), and any program that parses as it is.
    context = current_context()
    limits = sandbox_limits(context)
    receipt = action_receipt.get()
    python = await _interpreter(context)
    result = await run_python_code(
        laid_out(code),
        context.workspace,
        limits,
        confinement=await asyncio.to_thread(current_confinement),
        receipt=receipt,
        python=python,
    )
    text = observation(result, limits)
    # A program that failed (non-zero exit) or hit a limit is raised, so run_tool records the
    # step as an error observation ("ERROR: RuntimeError: exit status 1 ...", ok=False) that the
    # planner sees; a clean run returns its output. Either way nothing crashes the graph.
    # Output cut at the byte cap is not a failure: the program ran to its end.
    ok = result.exit_code == 0 and result.limit_hit in ("", "output")
    if receipt is not None:  # the whole observation survives a crash before the journal has it
        await asyncio.to_thread(save_outcome, receipt, ok, text)
    if not ok:
        raise RuntimeError(text)
    return text
