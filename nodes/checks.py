"""Criteria that code can decide: typed checks run against the workspace, with no model call.

The goal analysis attaches a `Check` to each criterion that names a file, its content or a
JSON key, and code adds one for every output file the goal names that does not exist yet (and
for every script whose printed value it gives, `tools.program_output`). A
check's result overrides the model's opinion of its criterion in both directions, so the
verdict of a run agrees with what is on disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TypedDict, cast

import regex  # type: ignore[import-untyped]

from nodes.state import Check, CheckKind, Criterion
from tools.confinement import Confinement
from tools.program_output import printed_by
from tools.workspace import WorkspaceError, digest, read_text

READ_LIMIT_CHARS = 2_000_000
PATTERN_TIMEOUT_SECONDS = 1.0
"""A model-written pattern that backtracks forever is cut off, and the check fails."""
CHECKED = "checked: "
"""How a criterion's evidence starts when code decided it."""

NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
"""A number, with commas only as thousands separators: "2,3,5" is three numbers."""


@dataclass(frozen=True)
class Outcome:
    """What running one check found."""

    passed: bool
    detail: str


def run_check(check: Check, guard: Confinement) -> Outcome:
    """Run one check against the workspace `guard` confines (planloop's own files stay hidden);
    in a worker thread."""
    try:
        content = checked_text(check, guard)
    except (OSError, WorkspaceError) as exc:
        return Outcome(False, f"{check.path}: {exc}")
    return judge(check, content)


def checked_text(check: Check, guard: Confinement) -> str:
    """What the check reads: the file, or for `program_output` what the script prints (run
    only when it exists: a missing script fails as a missing file does)."""
    text = read_text(str(guard.root), check.path, READ_LIMIT_CHARS, guard=guard)
    return printed_by(check.path, guard) if check.kind == "program_output" else text


def judge(check: Check, content: str) -> Outcome:
    """The outcome of `check` on what it read (`checked_text`)."""
    return JUDGES[check.kind](check, content)


def _exists(check: Check, content: str) -> Outcome:
    if content.strip():
        return Outcome(True, f"{check.path} exists ({len(content)} characters)")
    return Outcome(False, f"{check.path} is empty")


def _number(check: Check, content: str) -> Outcome:
    found = NUMBER.findall(content)
    if len(found) == 1:
        return Outcome(True, f"{check.path} holds the number {found[0]}")
    return Outcome(False, f"{check.path} holds {len(found)} numbers, not exactly one")


JSON_SHAPES: dict[str, type] = {"object": dict, "array": list}
"""The shapes a `file_json` check's `text` may ask of the whole document."""


def _json(check: Check, content: str) -> Outcome:
    try:
        value = json.loads(content)
    except ValueError as exc:
        return Outcome(False, f"{check.path} is not valid JSON ({exc})")
    wanted = JSON_SHAPES.get(check.text)
    if wanted is not None and not isinstance(value, wanted):
        shapes = (
            f"a JSON {shape}" for shape, kind in JSON_SHAPES.items() if isinstance(value, kind)
        )
        found = next(shapes, "a single value")
        asked = f"the JSON {check.text} the goal asks for"
        return Outcome(False, f"{check.path} holds {found}, not {asked}")
    return Outcome(True, f"{check.path} is valid JSON" + (f" ({check.text})" if wanted else ""))


def _contains(check: Check, content: str) -> Outcome:
    found = normalised(check.text) in normalised(content)
    return Outcome(found, f"{check.path} {'contains' if found else 'lacks'} {check.text!r}")


def _changed(check: Check, content: str) -> Outcome:
    changed = digest(content) != check.baseline
    return Outcome(changed, f"{check.path} {'was changed' if changed else 'is unchanged'}")


def normalised(text: str) -> str:
    """`text` with case and runs of whitespace ignored (how checks and evidence compare)."""
    return " ".join(text.split()).casefold()


def _matches(check: Check, content: str) -> Outcome:
    try:
        # The whole file, not each line: "^[0-9]+$" means the file holds one number, and must
        # not pass on a list of numbers.
        found = regex.search(check.text, content.strip(), timeout=PATTERN_TIMEOUT_SECONDS)
    except (regex.error, TimeoutError) as exc:
        return Outcome(False, f"pattern {check.text!r} cannot be used: {exc}")
    verb = "matches" if found else "does not match"
    return Outcome(found is not None, f"{check.path} {verb} {check.text!r}")


def _has_key(check: Check, content: str) -> Outcome:
    try:
        value: object = json.loads(content)
    except ValueError as exc:
        return Outcome(False, f"{check.path} is not valid JSON ({exc})")
    for part in check.text.split("."):
        if not isinstance(value, dict) or part not in value:
            return Outcome(False, f"{check.path} has no key {check.text!r}")
        value = value[part]
    return Outcome(True, f"{check.path} has the key {check.text!r}")


LineSource = TypedDict("LineSource", {"from": str, "lines": list[str]})
"""The input a `file_lines` check's output lines must each be a line of."""


SORTED_IGNORING_CASE = "sorted-ignoring-case"
"""The `file_lines` property of a list the goal sorts "ignoring case": case-insensitive order
only (plain `sorted` also passes plain character order, its most lenient sense)."""


def line_rules(check: Check) -> tuple[str, LineSource | None]:
    """A `file_lines` check's text read: its properties (`sorted unique lines=3`), and the
    input whose lines the output's must each be, when it names one (`{"from": name, "lines":
    [...]}`, on the text's second line; `nodes.goal_files`)."""
    head, _, source = check.text.partition("\n")
    return head, cast(LineSource, json.loads(source)) if source else None


def _lines(check: Check, content: str) -> Outcome:
    """Properties of the file's non-empty lines, each read in its most lenient sense (this
    check is derived from the goal's words and can only fail a criterion): `sorted` passes
    in case-insensitive or in plain character order (`sorted-ignoring-case`, of a goal that
    says so, only in the first), `unique` on exact duplicates only,
    `lines=N` counts the non-empty lines; a second line of `text` (JSON: `from`, `lines`) holds
    the lines of the input they must each be one of, exactly (`nodes.goal_files`), checked
    first. The first property that fails is the one reported."""
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if not lines:
        return Outcome(False, f"{check.path} is empty")
    head, source = line_rules(check)
    wanted = head.split()
    # A line that is none of the input's goes first: it is the cause, and it also breaks
    # the order (live sort_names: a pandas header line 'name' was reported as "'name' before
    # 'adam'", and the model sorted again).
    if source:
        allowed = set(source["lines"])
        stray = next((n for n, line in enumerate(lines, 1) if line not in allowed), None)
        if stray is not None:
            return Outcome(
                False,
                f"{check.path} line {stray} is {lines[stray - 1]!r}, which is no line of "
                f"{source['from']}",
            )
    orders = [sorted(lines, key=str.casefold)] + ([sorted(lines)] if "sorted" in wanted else [])
    if {"sorted", SORTED_IGNORING_CASE} & set(wanted) and lines not in orders:
        # Not in case-insensitive order (a stable sort keeps ties), so some pair descends.
        n = next(n for n, (a, b) in enumerate(pairwise(lines)) if a.casefold() > b.casefold())
        return Outcome(
            False,
            f"{check.path}'s lines are not in alphabetical order "
            f"({lines[n]!r} before {lines[n + 1]!r})",
        )
    count = next((int(p.removeprefix("lines=")) for p in wanted if p.startswith("lines=")), None)
    if count is not None and len(lines) != count:
        return Outcome(False, f"{check.path} has {len(lines)} non-empty lines, not {count}")
    repeated = sorted({line for line in lines if lines.count(line) > 1})
    if "unique" in wanted and repeated:
        return Outcome(False, f"{check.path} repeats {', '.join(map(repr, repeated[:3]))}")
    return Outcome(True, f"{check.path}'s {len(lines)} lines are as asked ({head})")


def _kept(check: Check, content: str) -> Outcome:
    """The file's lines are the ones it had, but for those the goal may change (null in
    `text`); trailing spaces and blank lines at the end aside (live config_port: Python's
    configparser wrote the right file plus one blank last line, and the run spent its whole
    time budget rewriting it)."""
    before: list[str | None] = json.loads(check.text)
    while before and before[-1] is not None and not before[-1].strip():
        before.pop()
    lines = content.rstrip().splitlines()
    if len(lines) != len(before):
        return Outcome(False, f"{check.path} has {len(lines)} lines, not {len(before)} as before")
    for number, (old, new) in enumerate(zip(before, lines, strict=True), 1):
        if old is not None and old.rstrip() != new.rstrip():
            return Outcome(False, f"{check.path} line {number} was {old!r}, now {new!r}")
    return Outcome(True, f"{check.path} keeps its other lines")


def _prints(check: Check, printed: str) -> Outcome:
    found = normalised(check.text) in normalised(printed)
    shown = repr(printed.strip()[-200:])
    verb = "prints" if found else f"does not print {check.text!r}; it printed"
    return Outcome(found, f"running {check.path} {verb} {shown if not found else repr(check.text)}")


JUDGES: dict[CheckKind, Callable[[Check, str], Outcome]] = {
    "file_exists": _exists,
    "file_number": _number,
    "file_json": _json,
    "file_contains": _contains,
    "file_matches": _matches,
    "json_has_key": _has_key,
    "file_changed": _changed,
    "file_kept": _kept,
    "file_lines": _lines,
    "program_output": _prints,
}
"""How each kind of check judges what it reads (tests assert every kind has one)."""


def verify(criteria: list[Criterion], guard: Confinement) -> tuple[list[Criterion], list[str]]:
    """Every checked criterion as its check leaves it, and the failures as one line each: a
    deciding check sets the criterion either way; a partial one unsets it when it fails and
    otherwise leaves it to the model."""
    decided, failures = [], []
    for criterion in criteria:
        if criterion.check is None:
            decided.append(criterion)
            continue
        outcome = run_check(criterion.check, guard)
        if not outcome.passed:
            failures.append(f"{criterion.id} ({criterion.text}): {outcome.detail}")
            decided.append(replace(criterion, met=False, evidence="", check_passed=False))
        elif criterion.check.decides:
            evidence = f"{CHECKED}{outcome.detail}"
            decided.append(replace(criterion, met=True, evidence=evidence, check_passed=True))
        else:
            decided.append(replace(criterion, check_passed=True))
    return decided, failures


def decided_by_code(criteria: list[Criterion]) -> bool:
    """Whether code decides every criterion (no model needs to judge any)."""
    return bool(criteria) and all(c.check is not None and c.check.decides for c in criteria)
