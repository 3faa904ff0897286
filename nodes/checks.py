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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import pairwise

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
MAX_UNCHECKED = 2
"""Criteria only a model can judge, kept per goal: the rest are dropped with a note."""

_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
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
        content = _checked_text(check, guard)
    except (OSError, WorkspaceError) as exc:
        return Outcome(False, f"{check.path}: {exc}")
    return _judge(check, content)


def _checked_text(check: Check, guard: Confinement) -> str:
    """What the check reads: the file, or for `program_output` what the script prints (run
    only when it exists: a missing script fails as a missing file does)."""
    text = read_text(str(guard.root), check.path, READ_LIMIT_CHARS, guard=guard)
    return printed_by(check.path, guard) if check.kind == "program_output" else text


def _judge(check: Check, content: str) -> Outcome:
    return JUDGES[check.kind](check, content)


def _exists(check: Check, content: str) -> Outcome:
    if content.strip():
        return Outcome(True, f"{check.path} exists ({len(content)} characters)")
    return Outcome(False, f"{check.path} is empty")


def _number(check: Check, content: str) -> Outcome:
    found = _NUMBER.findall(content)
    if len(found) == 1:
        return Outcome(True, f"{check.path} holds the number {found[0]}")
    return Outcome(False, f"{check.path} holds {len(found)} numbers, not exactly one")


def _json(check: Check, content: str) -> Outcome:
    try:
        json.loads(content)
    except ValueError as exc:
        return Outcome(False, f"{check.path} is not valid JSON ({exc})")
    return Outcome(True, f"{check.path} is valid JSON")


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


def _lines(check: Check, content: str) -> Outcome:
    """Properties of the file's non-empty lines, each read in its most lenient sense (this
    check is derived from the goal's words and can only fail a criterion): `sorted` passes
    in case-insensitive or in plain character order, `unique` on exact duplicates only,
    `lines=N` counts the non-empty lines."""
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if not lines:
        return Outcome(False, f"{check.path} is empty")
    wanted = check.text.split()
    if "sorted" in wanted and lines not in (sorted(lines, key=str.casefold), sorted(lines)):
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
    return Outcome(True, f"{check.path}'s {len(lines)} lines are as asked ({check.text})")


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


_LOOKS_LIKE_PATTERN = re.compile(r"^\^|(?<!\\)\$$|\\[dwsDWS]|\[[^\]]+\][+*?{]")
_NUMBER_PATTERN = re.compile(r"^\^?[\[\]0-9dD\\+*?.,()|\-]*\$?$")
_FILE_NAME = re.compile(r"[\w-]+\.[A-Za-z]\w{0,4}\b")


def _gives_a_value(text: str, goal: str) -> bool:
    """Whether `text` is a value the goal's own words give: the goal contains it, and it holds
    exactly one number (and names no file). Goals give values as numbers ("port = 9090",
    "part3.txt holds 9"); their other words describe the output ("my cat", "one '- [ ] task'
    line per task") or give an example ("0, 1, 1, 2, 3"), which the output need not contain
    verbatim, and a check that cannot pass would block a correct run."""
    grounded = bool(text) and normalised(text) in normalised(goal)
    return grounded and not _FILE_NAME.search(text) and len(_NUMBER.findall(text)) == 1


def grounded_check(check: Check, goal: str) -> Check:
    """The check as far as the goal backs it (`_content_check`), and a partial check of a kind
    the goal asks for: "holds one number" only when the goal asks for a number, "is JSON" only
    when it speaks of JSON (a 1.5B analyst gave a limerick a `file_number` check, which failed
    every limerick); otherwise the check only asks that the file exists."""
    grounded = _content_check(check, goal)
    wanted = {"file_number": _NUMBER_WORDS, "file_json": _JSON_WORDS}.get(grounded.kind)
    if wanted is not None and not wanted.search(f"{goal} {check.path}"):
        return replace(grounded, kind="file_exists")
    return grounded


_NUMBER_WORDS = re.compile(
    r"\b(numbers?|count|how many|sum|total|average|mean|median|price|max(imum)?|min(imum)?|"
    r"largest|smallest|highest|lowest|compute|calculate)\b",
    re.IGNORECASE,
)
_JSON_WORDS = re.compile(r"json", re.IGNORECASE)


def _content_check(check: Check, goal: str) -> Check:
    """The check as far as the goal backs it. A model writes content checks that sound right and
    cannot pass ("^[a-zA-Z ]{5,}$" for a limerick, a JSON key the output never has), and a
    check that cannot pass blocks a correct run; so only a text the goal itself gives decides
    its criterion. Anything else tests a part of it (a pattern of digits: the file holds one
    number; a JSON key: the file is JSON; otherwise: the file exists) and leaves the rest to
    the model."""
    text = check.text.strip()
    if check.kind in ("file_contains", "file_matches") and (
        check.kind == "file_matches" or _LOOKS_LIKE_PATTERN.search(text)
    ):
        numeric = bool(text) and _NUMBER_PATTERN.match(text) is not None
        kind: CheckKind = "file_number" if numeric else "file_exists"
        return replace(check, kind=kind, text="", decides=False)
    if check.kind == "file_contains" and _gives_a_value(text, goal):
        return replace(check, decides=True)
    if check.kind == "json_has_key":
        return replace(check, kind="file_json", text="", decides=False)
    if check.kind == "file_contains":
        return replace(check, kind="file_exists", text="", decides=False)
    return replace(check, text="", decides=False)


def usable_check(check: Check, guard: Confinement) -> tuple[Check | None, str]:
    """The check as it can be run, or None and why it was dropped.

    A check on a file that exists before the run is a precondition, not an outcome, when it
    already passes; `file_changed` gets the file's digest as its baseline."""
    try:
        read = _checked_text(check, guard)
    except WorkspaceError as exc:
        if "no such file" in str(exc):
            return (check, "") if check.kind != "file_changed" else (None, f"{exc}")
        return None, f"{check.path}: {exc}"
    except OSError as exc:
        return None, f"{check.path}: {exc}"
    if check.kind == "file_changed":
        return replace(check, baseline=digest(read)), ""
    before = _judge(check, read)
    if before.passed:
        return None, f"already true before the run ({before.detail})"
    return check, ""


_EXISTENCE = re.compile(
    r"(?:the\s+)?(?:file\s+)?(?:is|was|has\s+been|gets)?\s*"
    r"(?:written|created|saved|present|there|exists?|produced)?",
    re.IGNORECASE,
)


def _only_existence(text: str, path: str) -> bool:
    """Whether a criterion says only that `path` exists ("report.md is written")."""
    rest = re.sub(r"[\s.`'\"]+", " ", text.replace(path, " ")).strip()
    return bool(_EXISTENCE.fullmatch(rest))


def merge_checks(
    criteria: list[Criterion], outputs: Iterable[Check]
) -> tuple[list[Criterion], list[str]]:
    """Attach each output-file check to the criterion that names its file, or add a criterion
    for it; then keep at most `MAX_UNCHECKED` criteria that only a model can judge."""
    merged = list(criteria)
    notes = []
    for check in outputs:
        if any(c.check is not None and c.check.path == check.path for c in merged):
            merged = [_sharpened(c, check) for c in merged]
            continue
        index = next(
            (i for i, c in enumerate(merged) if c.check is None and check.path in c.text), None
        )
        if index is None:
            merged.append(Criterion(id="", text=_written(check), check=check))
        else:  # it decides only a criterion that says no more than that the file is written
            # (or, for a script's output, that gives the value it prints)
            says_more = not _only_existence(merged[index].text, check.path) and not (
                check.kind == "program_output"
                and normalised(check.text) in normalised(merged[index].text)
            )
            merged[index] = replace(merged[index], check=replace(check, decides=not says_more))
    unchecked = [c for c in merged if c.check is None]
    for dropped in unchecked[MAX_UNCHECKED:]:
        notes.append(f"dropped criterion {dropped.text!r}: only a model could judge it")
        merged.remove(dropped)
    return [replace(c, id=f"c{n}") for n, c in enumerate(merged, 1)], notes


_LINE_PROPERTIES = {"sorted": "in alphabetical order", "unique": "without duplicates"}


def _written(check: Check) -> str:
    """The criterion an output check decides: the file is written (with the line properties
    the goal asks for)."""
    if check.kind == "program_output":
        return f"running {check.path} prints {check.text!r}"
    if check.kind != "file_lines":
        return f"{check.path} is written"
    wanted = " and ".join(
        _LINE_PROPERTIES.get(p) or f"{p.removeprefix('lines=')} of them" for p in check.text.split()
    )
    return f"{check.path} is written, its lines {wanted}"


def _sharpened(criterion: Criterion, output: Check) -> Criterion:
    """The criterion with `output`'s line properties or program output in place of a partial
    check that only asks that the same file exists: still partial, it can fail the criterion,
    never pass it."""
    check = criterion.check
    sharper = output.kind in ("file_lines", "program_output")
    if not sharper or check is None or check.path != output.path:
        return criterion
    if check.kind != "file_exists" or check.decides:
        return criterion
    return replace(criterion, check=replace(output, decides=False))
