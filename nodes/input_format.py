"""What code can tell about a delimited input file that a default reader gets wrong.

A table file shown to an executor is data the model reads by eye, and a 1.5B model reads a
`.csv` as comma-separated whatever it holds: on a lab export with a comment line, `;` between
fields and decimal commas, every program it wrote in live passes 17 to 22 began with a bare
`pd.read_csv(...)` and failed, then split its lines on `,`. The facts are cheap to establish
by code and are stated next to the file, only when they differ from the extension's default
(a plain comma CSV gets no note: there is nothing to get wrong).
"""

from __future__ import annotations

import csv
import re

DEFAULT_DELIMITERS = {"csv": ",", "tsv": "\t"}
"""The delimiter a reader assumes for each table extension."""
CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tabs", "|": "'|'"}
COMMENT_PREFIX = "#"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
HEADER_CHARS = 200
"""Most characters of the header's column names a note quotes."""


def is_table(name: str) -> bool:
    """Whether `name` is a file `format_note` describes."""
    return name.rsplit(".", 1)[-1].lower() in DEFAULT_DELIMITERS


def format_note(name: str, content: str, *, complete: bool = True) -> str:
    """One line on how `name` (a `.csv` or `.tsv` file holding `content`; only its start when
    not `complete`) must be read, when that differs from its extension's default: comment lines
    before the header, another delimiter, decimal commas. Empty when the file reads as its
    extension says, or when no delimiter splits every row into the same number of fields (no
    guess is better than a wrong one)."""
    default = DEFAULT_DELIMITERS.get(name.rsplit(".", 1)[-1].lower())
    if default is None:
        return ""
    lines = content.splitlines() if complete else content.splitlines()[:-1]  # a cut last line
    comments = _leading_comments(lines)
    rows = [line for line in lines[comments:] if line.strip()]
    delimiter = _delimiter(rows, default)
    if delimiter is None:
        return ""
    facts = []
    if comments:
        facts.append(f"{_comment_lines(comments)} ('{COMMENT_PREFIX}') before the header, not data")
    if delimiter != default:
        facts.append(
            f"fields are separated by {DELIMITER_NAMES[delimiter]}, not {DELIMITER_NAMES[default]}"
        )
    if delimiter != "," and any(_DECIMAL_COMMA.match(cell) for cell in _cells(rows[1:], delimiter)):
        facts.append("numbers use a decimal comma (12,5 means 12.5)")
    if not facts:
        return ""
    header = ", ".join(field.strip() for field in _fields(rows[0], delimiter))
    rows_known = len(rows) - 1
    count = f"; {rows_known} data row{'s' * (rows_known != 1)}" if complete else ""
    facts.append(f"header: {header[:HEADER_CHARS]}{count}")
    return f"How {name} reads (found by code): " + "; ".join(facts) + "."


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
