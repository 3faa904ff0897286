"""What code can tell about an input file's layout that a model reading it by eye gets wrong.

A table file shown to an executor is data the model reads by eye, and a 1.5B model reads a
`.csv` as comma-separated whatever it holds: on a lab export with a comment line, `;` between
fields and decimal commas, every program it wrote in live passes 17 to 22 began with a bare
`pd.read_csv(...)` and failed, then split its lines on `,`. The facts are cheap to establish
by code and are stated next to the file, only when they differ from the extension's default
(a plain comma CSV gets no note: there is nothing to get wrong). A `.log` whose every line
has its level in the same field gets that field named: a 1.5B model counted "lines with the
level ERROR" as lines containing "ERROR" anywhere, a DEBUG line's message included.
"""

from __future__ import annotations

import csv
import re

from tools.confinement import Confinement
from tools.sanitize import sanitize
from tools.workspace import WorkspaceError, read_text

DEFAULT_DELIMITERS = {"csv": ",", "tsv": "\t"}
"""The delimiter a reader assumes for each table extension."""
CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tabs", "|": "'|'"}
COMMENT_PREFIX = "#"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


LOG_LEVELS = frozenset(
    {"TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"}
)
LEVEL_FIELDS = 6
"""How far into a log line (space-separated fields) its level is looked for."""
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


LAYOUT_CHARS = 100_000
"""Most characters of a table or log file read to say how it reads."""


def is_described(name: str) -> bool:
    """Whether `name` is a file `format_note` may describe (a table or a log)."""
    return _extension(name) in (*DEFAULT_DELIMITERS, "log")


def layout_note(name: str, guard: Confinement) -> list[str]:
    """How the workspace file `name` (a table or a log) reads, as the one line to show beside
    it, when a default reader would not read it right; nothing otherwise."""
    if not is_described(name):
        return []
    try:
        content = read_text(str(guard.root), name, LAYOUT_CHARS, guard=guard)
    except (OSError, WorkspaceError):
        return []
    whole = len(content) <= LAYOUT_CHARS  # read_text marks a clipped read past the cap
    note = format_note(name, content[:LAYOUT_CHARS], complete=whole)
    return [sanitize(note)] if note else []


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower()


def format_note(name: str, content: str, *, complete: bool = True) -> str:
    """One line on how `name` (a `.csv`, `.tsv` or `.log` file holding `content`; only its start
    when not `complete`) must be read, when that differs from what its extension suggests:
    comment lines before the header, another delimiter, decimal commas; a log's level field.
    Empty when the file reads as its extension says, or when no delimiter splits every row
    into the same number of fields (no guess is better than a wrong one)."""
    lines = content.splitlines() if complete else content.splitlines()[:-1]  # a cut last line
    if _extension(name) == "log":
        return _log_note(name, lines)
    default = DEFAULT_DELIMITERS.get(_extension(name))
    if default is None:
        return ""
    comments = _leading_comments(lines)
    rows = [line for line in lines[comments:] if line.strip()]
    delimiter = _delimiter(rows, default)
    if delimiter is None:
        return ""
    facts: list[str] = []
    pandas: list[str] = []  # the read_csv arguments that read it right
    if comments:
        facts.append(f"{_comment_lines(comments)} ('{COMMENT_PREFIX}') before the header, not data")
        pandas.append(f"skiprows={comments}")
    if delimiter != default:
        facts.append(
            f"fields are separated by {DELIMITER_NAMES[delimiter]}, not {DELIMITER_NAMES[default]}"
        )
        pandas.append(f"sep={delimiter!r}")
    if delimiter != "," and any(_DECIMAL_COMMA.match(cell) for cell in _cells(rows[1:], delimiter)):
        facts.append("numbers use a decimal comma (12,5 means 12.5)")
        pandas.append("decimal=','")
    if not facts:
        return ""
    # The header is left to the file's block: the note stands outside it, and nothing of the
    # file's own text that could read as an instruction is copied here.
    if complete:
        data_rows = len(rows) - 1
        facts.append(f"{data_rows} data row{'s' * (data_rows != 1)} after the header")
    # A small model reaches for pandas first: the call that reads the file right is worth more
    # than the facts (live, told the facts, it split on ';' and still parsed "12,5" and the
    # header as numbers).
    reader = f"pd.read_csv({name!r}, {', '.join(pandas)})"
    return f"How {name} reads (found by code): " + "; ".join(facts) + f". In pandas: {reader}."


def _leading_comments(lines: list[str]) -> int:
    """How many lines before the first data line are comments (blank lines between count)."""
    count = 0
    for index, line in enumerate(lines):
        if line.lstrip().startswith(COMMENT_PREFIX):
            count = index + 1
        elif line.strip():
            break
    return count


def _delimiter(rows: list[str], default: str) -> str | None:
    """The delimiter that splits every row into the same number (two or more) of fields: the
    extension's own when it does, else the first candidate that does."""
    if len(rows) < 2:
        return None
    consistent = [
        candidate
        for candidate in CANDIDATE_DELIMITERS
        if len(widths := {len(_fields(row, candidate)) for row in rows}) == 1 and widths.pop() > 1
    ]
    if default in consistent:
        return default
    return consistent[0] if consistent else None


def _fields(row: str, delimiter: str) -> list[str]:
    return next(csv.reader([row], delimiter=delimiter), [])


def _cells(rows: list[str], delimiter: str) -> list[str]:
    return [cell.strip() for row in rows for cell in _fields(row, delimiter)]


def _comment_lines(count: int) -> str:
    return "line 1 is a comment" if count == 1 else f"lines 1-{count} are comments"


def _log_note(name: str, lines: list[str]) -> str:
    """The field that holds every line's level, when one field does for every line."""
    rows = [line.split() for line in lines if line.strip()]
    if len(rows) < 2:
        return ""
    for index in range(LEVEL_FIELDS):
        levels = [row[index] if len(row) > index else "" for row in rows]
        if all(level in LOG_LEVELS for level in levels):
            found = ", ".join(dict.fromkeys(levels))
            # As with the pandas call: the expression that reads it right is worth more than
            # the fact (live, told the field alone, both programs still tested `"ERROR" in line`).
            return (
                f"How {name} reads (found by code): the {_ORDINALS[index]} space-separated field "
                f"of every line is its level ({found}); a level word elsewhere in a line is "
                "part of its message. In Python: a non-blank line's level is "
                f"line.split()[{index}]."
            )
    return ""
