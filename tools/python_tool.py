"""run_python: execute Python code in the sandbox (see `tools.sandbox`)."""

from __future__ import annotations

from langchain_core.tools import tool


@tool
async def run_python(code: str) -> str:
    """Run a Python 3 program in an isolated sandbox and return its output.

    The workspace is the current directory and the only writable place; there is no network
    and no access to secrets. Print what you need to see.

    Args:
        code: The complete program to run.
    """
    raise NotImplementedError("run_python is being built")
