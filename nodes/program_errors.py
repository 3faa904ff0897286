"""What a failed program tells the next attempt: which third-party library it failed in, and
whether a fix is the failed program again.

A 1.5B model reaches for pandas to read any file (a log, a list of names, a CSV with `;`
separators) and, told of the error, returns the same program: in the live suite's pass 17 the
three goals planloop failed each ended so, every attempt a pandas program, most of them
identical. Told where the error came from, and that the standard library will do, the model
has a way out that its own fix does not find.
"""

from __future__ import annotations

import ast
import re
import sys

PROGRAM_FILE = "<program>"
"""The file name the sandbox gives a program's code in its tracebacks."""

_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)', re.MULTILINE)
_PACKAGE_DIR = re.compile(r"(?:site|dist)-packages/([A-Za-z_][A-Za-z0-9_]*)")
_COMPILED_FRAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)/")
"""A frame in a compiled module of a package names its file relative to it
(`pandas/_libs/parsers.pyx`)."""


def imported_libraries(code: str) -> dict[str, str]:
    """The names a program binds by importing a module outside the standard library, each
    with its top-level package (`import pandas as pd` binds `pd` to `pandas`); empty when the
    code does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                bound[alias.asname or top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top = node.module.split(".")[0]
            for alias in node.names:
                bound[alias.asname or alias.name] = top
    return {name: top for name, top in bound.items() if top not in sys.stdlib_module_names}


def traceback_libraries(error: str) -> list[str]:
    """The packages outside the standard library that frames of a traceback are in."""
    found = []
    for path, _ in _FRAME.findall(error):
        match = _PACKAGE_DIR.search(path) or _COMPILED_FRAME.match(path)
        if match and match.group(1) not in sys.stdlib_module_names:
            found.append(match.group(1))
    return list(dict.fromkeys(found))


def failing_libraries(code: str, error: str) -> list[str]:
    """The third-party packages `code` imports that its failure `error` (a traceback) came
    from: a frame inside one, or the program's last frame on a line that uses one (a call with
    an argument the library does not take fails there, with no frame inside it)."""
    bound = imported_libraries(code)
    found = [name for name in traceback_libraries(error) if name in bound.values()]
    own = [int(line) for path, line in _FRAME.findall(error) if path == PROGRAM_FILE]
    lines = code.splitlines()
    if own and 0 < own[-1] <= len(lines):
        found += [bound[name] for name in _names_in(lines[own[-1] - 1]) if name in bound]
    return list(dict.fromkeys(found))


def _names_in(line: str) -> list[str]:
    """The names a line of code uses (the roots of its attribute chains included)."""
    try:
        tree = ast.parse(line.strip())
    except (SyntaxError, ValueError):
        return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line)
    return [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]


def same_program(first: str, second: str) -> bool:
    """Whether two programs are the same code, comments and layout aside."""
    return _shape(first) == _shape(second)


def _shape(code: str) -> str:
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        return "\n".join(line.rstrip() for line in code.strip().splitlines())
