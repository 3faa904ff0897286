"""run_python: execute Python code in the sandbox (see `tools.sandbox`)."""

from __future__ import annotations

from langchain_core.tools import tool

from tools.runtime import current_context
from tools.sandbox import SandboxLimits, SandboxResult, run_python_code


def observation(result: SandboxResult) -> str:
    """The program's result as the model sees it."""
    if result.timed_out:
        head = "killed: timeout (wall-clock limit reached)"
    else:
        head = f"exit status {result.exit_code}"
        if result.limit_hit:
            head += f" (limit hit: {result.limit_hit})"
    parts = [head]
    if result.stdout.strip():
        parts += ["--- stdout ---", result.stdout.rstrip()]
    if result.stderr.strip():
        parts += ["--- stderr ---", result.stderr.rstrip()]
    if result.created_files:
        parts.append("files created or changed: " + ", ".join(result.created_files[:50]))
    return "\n".join(parts)


@tool
async def run_python(code: str) -> str:
    """Run a Python 3 program in an isolated sandbox and return its output.

    The workspace is the current directory and the only writable place; there is no network
    and no access to secrets. Print what you need to see.

    Args:
        code: The complete program to run.
    """
    context = current_context()
    limits = SandboxLimits(
        timeout_seconds=context.python_timeout_seconds,
        memory_mb=context.python_memory_mb,
        max_processes=context.python_max_processes,
        max_file_mb=context.python_max_file_mb,
    )
    result = await run_python_code(code, context.workspace, limits)
    text = observation(result)
    if result.timed_out or result.limit_hit or result.exit_code != 0:
        # A failed program is an error observation (counted in the budget), not a crash.
        raise RuntimeError(text)
    return text
