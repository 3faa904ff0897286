"""Program steps: the model writes a step's Python program as code, not as a JSON tool call.

A step planned as a `run_python` call whose args are left to fill (and the short path's
whole-goal step, when the goal needs nothing but the workspace) is done CodeAct-style: the
model replies with one program in a ```python block, it runs in the sandbox, and a program that
fails, or leaves a code check failing, goes back with what went wrong for a fixed one. Code
written as code needs no JSON escaping (a 1.5B model broke a regex's backslash in every JSON
plan that held one). Asked plainly for one program per file goal of the live suite, a 1.5B
model wrote a correct one for 10 of 15, where planloop's tool-calling runs had passed 2 of 17.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from nodes.context import Context
from nodes.goal_files import as_data, named_files
from nodes.prompts import (
    PROGRAM_CHECKS_NOTE,
    PROGRAM_CUT_OFF_NOTE,
    PROGRAM_FAILED_NOTE,
    PROGRAM_LIBRARY_NOTE,
    PROGRAM_MISSING_NOTE,
    PROGRAM_PAGE_LINE,
    PROGRAM_PAGES_NOTE,
    PROGRAM_REPEATED_NOTE,
    PROGRAM_SYSTEM,
    PROGRAM_WRITTEN_FILE,
)
from nodes.state import Criterion, Step
from tools import BUILTIN_TOOLS, spec_of, tool_specs
from tools.confinement import Confinement
from tools.sanitize import untrusted_blocks
from tools.workspace import WorkspaceError, read_text

PROGRAM_TOOL = "run_python"
"""The tool a program step calls; its one argument is `code`."""
PROGRAM_ATTEMPTS = 3
"""Programs one step may write: the first, and two fixes of what went wrong."""
FAILURE_CHARS = 1500
"""The end of a failed program's output that goes back to the model (the traceback's end)."""

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.I)
_NEEDS_MORE_THAN_FILES = re.compile(
    r"\{site\}|\bwww\.|\b(?:internet|online|search|google|browse|api|latest|news|today'?s)\b",
    re.IGNORECASE,
)
_ASKS_FOR_PAGES = re.compile(
    r"://|\b(?:web|website|url|http|https|download|fetch)\b", re.IGNORECASE
)
_URL = re.compile(r"https?://[^\s'\"<>()]+")
FETCH_TOOL = "fetch_url"
"""The tool that gets a page the goal gives the address of, before its program runs."""
MAX_PAGES = 3
"""Most addresses a goal may give for the fetch-then-program short path."""


PAGES_VARIABLE = "pages"
"""The dict a program over fetched pages starts with: each address -> that page's text."""


def fetched_pages(outputs: list[str]) -> dict[str, str]:
    """The pages earlier steps fetched (`fetch_url`'s delimited text), by address."""
    return {source: text for out in outputs for source, text in untrusted_blocks(out).items()}


def with_pages(program: str, pages: dict[str, str]) -> str:
    """The program with `PAGES_VARIABLE` defined first (the text as a Python literal: data,
    never code), when there are pages."""
    return f"{PAGES_VARIABLE} = {pages!r}\n\n{program}" if pages else program


def pages_of(goal: str) -> list[str]:
    """The web addresses a goal gives, in order, each once (sentence punctuation dropped)."""
    found = (url.rstrip(".,;:!?") for url in _URL.findall(goal))
    return list(dict.fromkeys(found))


def whole_goal(goal: str) -> str:
    """The description of the short path's step, which does the whole goal."""
    return f"Do the whole goal: {goal.strip()}"


def is_program_step(tool: str | None) -> bool:
    """Whether a step's tool is the one whose args a program step writes as code."""
    return tool == PROGRAM_TOOL


def is_whole_goal_program(step: Step, goal: str) -> bool:
    """Whether `step` is a program step that does the whole goal (the short path's, or its
    retry): code checks on the goal's outputs are its to meet."""
    return is_program_step(step.tool) and step.description == whole_goal(goal)


def programs_apply(goal: str, context: Context) -> bool:
    """Whether the short path does the goal with one program: programs are on, run_python can
    run, the run has no tool beyond planloop's own (a program cannot call it), and the goal is
    about workspace files or pages it gives the address of: it names a file, it needs no search
    (no web, search or news word beyond the addresses), and fetch_url can get each page first
    (`pages_of`: at most `MAX_PAGES`)."""
    spec = spec_of(PROGRAM_TOOL, context)
    if not context.programs or spec is None or spec.why_unavailable():
        return False
    own = {spec.name for spec in BUILTIN_TOOLS}
    if any(name not in own for name in tool_specs(context)):
        return False  # an MCP server's tool, or one offered through the Python API
    pages = pages_of(goal)
    rest = _URL.sub(" ", goal)
    if not named_files(goal) or _NEEDS_MORE_THAN_FILES.search(rest):
        return False
    if not pages:
        return not _ASKS_FOR_PAGES.search(rest)
    fetch = spec_of(FETCH_TOOL, context)
    return len(pages) <= MAX_PAGES and fetch is not None and not fetch.why_unavailable()


def program_in(text: str) -> str | None:
    """The program a reply holds: its last fenced block that parses (an unclosed fence, cut
    off, counts up to the end), else the whole reply when it parses as Python that does
    something; None when there is none."""
    blocks: list[str] = [block.strip() for block in _FENCE.findall(text)]
    for block in reversed(blocks):
        if block and _parses(block):
            return block
    if blocks:
        return blocks[-1] or None  # it does not parse: running it shows the model why
    bare = text.strip()
    if bare and _parses(bare) and _acts(bare):
        return bare
    return None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _acts(code: str) -> bool:
    """Whether parsed code calls, assigns or imports something (a word of prose parses too)."""
    acting = (ast.Call, ast.Assign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.With)
    return any(isinstance(node, acting) for node in ast.walk(ast.parse(code)))


def program_messages(
    step_prompt: str, interpreter: str, pages: Sequence[str] = ()
) -> list[BaseMessage]:
    """The first prompt of a program step: the executor's step prompt, asked for code; told,
    when the program starts with `pages` defined (the pages earlier steps fetched from these
    addresses; it has no network), what that variable holds, with the expression that reads
    each page (live, told of the dict alone, a 1.5B model's web_team program read office.txt
    and never the page)."""
    system = PROGRAM_SYSTEM.format(interpreter=interpreter or "Python 3, standard library.")
    lines = "\n".join(PROGRAM_PAGE_LINE.format(address=address) for address in pages)
    prompt = f"{step_prompt}\n\n{PROGRAM_PAGES_NOTE.format(pages=lines)}" if pages else step_prompt
    return [SystemMessage(system), HumanMessage(prompt)]


def retry_note(
    program: str | None, error: str, cut_off: bool, libraries: Sequence[str] = ()
) -> str:
    """What the model is told after a reply whose program did not do the step: it was cut off,
    it held none, or it failed with `error` (inside `libraries`: `nodes.program_errors`)."""
    if cut_off:
        return PROGRAM_CUT_OFF_NOTE
    if program is None:
        return PROGRAM_MISSING_NOTE
    library = f"{library_note(libraries)}\n" if libraries else ""
    return PROGRAM_FAILED_NOTE.format(error=error[-FAILURE_CHARS:], library=library)


def library_note(libraries: Sequence[str]) -> str:
    """That a failure came from third-party `libraries`, and the standard library's way out."""
    return PROGRAM_LIBRARY_NOTE.format(libraries=" and ".join(libraries))


def repeated_note(ran: bool, libraries: Sequence[str]) -> str:
    """What the model is told when it writes a program it already wrote: one that failed (inside
    `libraries`), or one that `ran` and left a check failing."""
    outcome = "ran but left the checks failing" if ran else "failed"
    without = f" that does not import {' or '.join(libraries)}" if libraries else ""
    return PROGRAM_REPEATED_NOTE.format(outcome=outcome, without=without)


def checks_note(failures: list[str], written: str = "") -> str:
    """What the model is told when its program ran but code checks still fail, with what the
    failing files hold now (`written`, see `written_files`)."""
    return PROGRAM_CHECKS_NOTE.format(failures="; ".join(failures), written=written)


WRITTEN_LINES = 30
WRITTEN_CHARS = 1500
"""Most lines and characters of a file that failed its check shown back with line numbers."""


def written_files(failed: Sequence[Criterion], guard: Confinement) -> str:
    """What each file of the `failed` criteria's checks holds now, numbered line by line:
    "limerick.md has 4 non-empty lines, not 5" alone sent a 1.5B model's same four-line program
    back three times; the lines it wrote, counted, are what it has to change. A missing file is
    left out (its check already says so), and so is a script a `program_output` check ran (its
    source is not what it printed)."""
    paths = dict.fromkeys(
        c.check.path
        for c in failed
        if c.check is not None and c.check.path and c.check.kind != "program_output"
    )
    shown = []
    for path in paths:
        try:
            content = read_text(str(guard.root), path, WRITTEN_CHARS, guard=guard)
        except (OSError, WorkspaceError):
            continue
        lines = as_data(content).splitlines()
        numbered = [f"{n}| {line}" for n, line in enumerate(lines[:WRITTEN_LINES], 1)]
        if len(lines) > WRITTEN_LINES:
            numbered.append(f"[... {len(lines) - WRITTEN_LINES} more lines]")
        body = "\n".join(numbered) or "(empty)"
        shown.append(PROGRAM_WRITTEN_FILE.format(path=path, lines=body))
    return "".join(shown)
