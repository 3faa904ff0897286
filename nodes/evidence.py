"""Whether a reviewer's evidence for a criterion shows anything: code's check on the model's
"met", where code cannot judge the criterion itself.

A 1.5B reviewer marked criteria met with the criterion's own words as evidence ("inventory.md
holds the Markdown table of inventory.csv", for a file holding the 13 characters
"inventory.csv"), or with a step's word that it wrote some bytes, for a file with the wrong
names in it. Evidence that only restates its criterion shows nothing; evidence for a criterion
about a file must quote that file (one of its lines, as it is on disk now). Either way the
criterion stays unmet, whatever the model says: a false "done" is worse than another replan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePosixPath

from nodes.checks import normalised
from nodes.state import Criterion
from tools.confinement import Confinement
from tools.workspace import WorkspaceError, read_text

QUOTE_READ_CHARS = 200_000
_WORD = re.compile(r"[a-z0-9]+")


def founded(criteria: list[Criterion], contents: Mapping[str, str | None]) -> list[Criterion]:
    """The criteria with every "met" that code did not decide and whose evidence shows
    nothing (`unfounded`) unset, the reason in its evidence; `contents` are the files their
    checks name (`checked_files`)."""
    return [_founded(criterion, contents) for criterion in criteria]


def checked_files(criteria: list[Criterion], guard: Confinement) -> dict[str, str | None]:
    """The content of each file the criteria's checks name (None: it cannot be read); run in
    a worker thread."""
    contents: dict[str, str | None] = {}
    for path in {c.check.path for c in criteria if c.check is not None}:
        try:
            contents[path] = read_text(str(guard.root), path, QUOTE_READ_CHARS, guard=guard)
        except (OSError, WorkspaceError):
            contents[path] = None
    return contents


def _founded(criterion: Criterion, contents: Mapping[str, str | None]) -> Criterion:
    why = unfounded(criterion, contents) if needs_evidence(criterion) else ""
    if not why:
        return criterion
    said = criterion.evidence.strip()[:200]
    return replace(criterion, met=False, evidence=f"not met: {why} (the review said: {said!r})")


def needs_evidence(criterion: Criterion) -> bool:
    """Whether the criterion is met on the model's word alone (no deciding check)."""
    return criterion.met and not (criterion.check is not None and criterion.check.decides)


_CITED = re.compile(r"\blines?\s*#?\s*\d+(?:\s*(?:-|\u2013|to|through|and|,|&)\s*\d+)*", re.I)
"""A reference to lines by number ("line 2", "lines 1-5"): it shows nothing of what they say."""


def unfounded(criterion: Criterion, contents: Mapping[str, str | None]) -> str:
    """Why `criterion`'s evidence does not show it met ("" when it may), given `contents`, the
    files the criteria's checks name (`checked_files`)."""
    evidence = criterion.evidence.strip()
    path = criterion.check.path if criterion.check is not None else ""
    content = contents.get(path) if path else None
    whole_line = content is not None and is_a_line(evidence, content, criterion.text)
    if not whole_line and restates(_CITED.sub(" ", evidence), criterion.text):
        # A line number alone shows nothing (a 1.5B reviewer answered "line 2" for two
        # criteria of an unchanged config.ini).
        return "the evidence only restates the criterion"
    if not path:
        return ""
    if content is None:
        return f"{path} cannot be read"
    if not quotes(evidence, content, criterion.text, path):
        return f"the evidence quotes nothing of {path}"
    return ""


def is_a_line(evidence: str, content: str, criterion: str) -> bool:
    """Whether `evidence` is one whole line of `content`, and not a sentence of the criterion's
    the file repeats: a value the criterion names too is a quote of the file all the same (a
    1.5B reviewer quoted part1.txt's "1" for "part1.txt holds the square of 1", and the run
    replanned on a "restated" criterion with all six files right)."""
    said = normalised(evidence)
    if not said or (said in normalised(criterion) and len(said.split()) > VALUE_WORDS):
        return False
    return any(normalised(line) == said for line in content.splitlines())


def restates(evidence: str, criterion: str) -> bool:
    """Whether `evidence` adds no word to `criterion` (empty evidence adds none)."""
    return not set(_WORD.findall(evidence.casefold())) - set(_WORD.findall(criterion.casefold()))


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_SIZE = re.compile(r"\b\d[\d,]*\s*(?:bytes?|characters?|chars?)\b", re.IGNORECASE)
"""A size, as the file tools and checks report it ("wrote 10 bytes to n.txt", "68 characters"):
what a tool said about a file, never its content (a file holding "10" is not quoted by it)."""
VALUE_WORDS = 3
"""A line of at most this many words the criterion also says is a value, not a copy."""
QUOTE_CHARS = 12
"""A run of the file this long in the evidence is a quote (a part of one long JSON line)."""


def quotes(evidence: str, content: str, criterion: str = "", path: str = "") -> bool:
    """Whether `evidence` quotes `content`, ignoring case and runs of spaces: one of its
    non-empty lines as a whole word or phrase, or any run of `QUOTE_CHARS` characters. What
    the `criterion` itself says in prose is no quote (a 1.5B executor wrote the goal's
    sentence into the file, and the reviewer's evidence repeated that sentence); what it
    quotes ("contains 'hello world'") is content the file should have, and quoting it counts.
    A size the evidence gives (`_SIZE`) is not read as a quote, nor a line of the file that
    names the file itself (`path`): it tells what was done to the file, not what was asked
    for ("The sum of all prime numbers below 5000 is written to prime_sum.txt", the whole of a
    prime_sum.txt a 1.5B reviewer quoted as the sum)."""
    said, claim = normalised(_SIZE.sub(" | ", evidence)), normalised(_QUOTED.sub(" | ", criterion))
    own_name = normalised(PurePosixPath(path.replace("\\", "/")).name) if path else ""
    lines = [
        line for line in content.splitlines() if not (own_name and own_name in normalised(line))
    ]
    text = normalised("\n".join(lines))
    for line in lines:
        wanted = normalised(line)
        # A value the criterion names ("says hello") is quoted when it is said; a sentence
        # of the criterion's in the file is the criterion copied, not an output.
        copied = wanted in claim and len(wanted.split()) > VALUE_WORDS
        if wanted and not copied and _says(said, wanted):
            return True
    runs = (said[n : n + QUOTE_CHARS] for n in range(len(said) - QUOTE_CHARS + 1))
    return any(run in text and run not in claim for run in runs)


def _says(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None
