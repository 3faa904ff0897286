"""One-line programs that Python cannot parse, laid out as the lines they mean.

Small models write whole programs on one line: `import re; with open('a.txt') as f: n =
len(f.read().split()); print(n)`. Python allows a compound statement (`with`, `for`, `if`,
...) only at the start of a line, so the program fails with a SyntaxError before it runs; in
a live run of a 1.5B model, programs of three of its 17 goals failed this way, each failure
costing a replan. Python's own rule for such a line says what it means: everything after a
compound statement's colon is its body, `;`-separated statements included. `laid_out` writes exactly
that as indented lines, and only for code that does not parse as it is and does parse laid
out, so a program that runs is never changed. A program that `return`s its result at the top
level (written as a function body) runs as that function, its result printed.
"""

from __future__ import annotations

import io
import tokenize

COMPOUND = frozenset({"with", "for", "while", "if", "def", "class", "try", "async"})
"""Keywords that start a compound statement, which may not follow a `;`."""
INDENT = "    "


def laid_out(code: str) -> str:
    """`code` with each one-line program that cannot parse laid out as indented lines; `code`
    itself when it parses, or when no layout parses either.

    A one-line program with a `'\\n'` in a string reaches the tool with a real line break
    there (the JSON of the tool call decoded it), which ends the string too early: when the
    lines do not parse, the program is also read as one line with those breaks escaped back."""
    if _parses(code):
        return code
    one_line = code.strip("\n").replace("\n", "\\n")
    candidates = (code, one_line) if one_line != code.strip("\n") else (code,)
    for candidate in candidates:
        lines = "\n".join(_line_laid_out(line) for line in candidate.split("\n"))
        for program in (lines, _returning(lines)):
            if program and _parses(program):
                return program
    return code


def _returning(code: str) -> str:
    """`code` as the body of a function whose result is printed, when it `return`s a value at
    its top level (a small model writes a step's program as a function body: `... ; return
    max(numbers)`, a SyntaxError as it is); "" when it has no `return`."""
    if "return" not in code:
        return ""
    body = "\n".join(INDENT + line if line.strip() else line for line in code.split("\n"))
    return (
        f"def {_PROGRAM}():\n{body}\n\n"
        f"{_PROGRAM}_result = {_PROGRAM}()\n"
        f"if {_PROGRAM}_result is not None:\n{INDENT}print({_PROGRAM}_result)\n"
    )


_PROGRAM = "_planloop_program"


def _parses(code: str) -> bool:
    try:
        compile(code, "<program>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _line_laid_out(line: str) -> str:
    """One physical line: its `;` and compound-statement colons at bracket depth 0 become
    line breaks and indentation (the line unchanged when it cannot be split safely)."""
    indent = line[: len(line) - len(line.lstrip())]
    body = line.strip()
    if not body or _parses(body):
        return line
    segments = _segments(body)
    if segments is None or len(segments) < 2:
        return line
    return "\n".join(_nest(segments, indent))


def _segments(text: str) -> list[tuple[str, bool]] | None:
    """`text` cut at every `;` and every colon that ends a compound header, at bracket depth
    0 (a lambda's colon excepted), each piece with whether it is such a header; None when
    `text` is not one line of whole tokens."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    if any(t.start[0] != 1 for t in tokens if t.type not in _LINE_END):
        return None
    scanner = _Scanner()
    for token in tokens:
        scanner.take(token)
    segments, start = [], 0
    for begin, end, is_header in scanner.cuts:
        segments.append((text[start:end] if is_header else text[start:begin], is_header))
        start = end
    segments.append((text[start:], False))
    return [(piece.strip(), is_header) for piece, is_header in segments if piece.strip()]


_LINE_END = (tokenize.NEWLINE, tokenize.ENDMARKER)


class _Scanner:
    """Where one line's statements end: its `;`s and compound headers' colons at depth 0."""

    def __init__(self) -> None:
        self.cuts: list[tuple[int, int, bool]] = []
        """(start column, end column, whether it is a header's colon) of each cut."""
        self.depth = 0
        self.lambdas: list[int] = []
        """The bracket depth of each lambda whose colon is still to come."""
        self.in_header = False
        self.at_start = True

    def take(self, token: tokenize.TokenInfo) -> None:
        """Read the next token."""
        kind, value = token.type, token.string
        starts_compound = self.at_start and kind == tokenize.NAME and value in COMPOUND
        self.in_header = self.in_header or starts_compound
        self.at_start = False
        if kind == tokenize.NAME and value == "lambda":
            self.lambdas.append(self.depth)
        elif kind != tokenize.OP:
            return
        elif value in "([{":
            self.depth += 1
        elif value in ")]}":
            self.depth -= 1
        elif value == ":" and self.lambdas and self.lambdas[-1] == self.depth:
            self.lambdas.pop()
        elif self.depth == 0 and value in (":", ";") and (value == ";" or self.in_header):
            self.cuts.append((token.start[1], token.end[1], value == ":"))
            self.in_header, self.at_start = False, True


def _nest(segments: list[tuple[str, bool]], indent: str) -> list[str]:
    """Each segment on its own line; everything after a header (`...:`) is its body, one level
    deeper, as Python reads a one-line suite."""
    lines: list[str] = []
    for segment, is_header in segments:
        lines.append(indent + segment)
        if is_header:
            indent += INDENT
    return lines
