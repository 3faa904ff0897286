"""How the goal analysis' checks become checks code can run: each grounded in the goal's own
words (`grounded_check`), dropped when already true before the run (`usable_check`), and merged
with the output checks code derives (`merge_checks`). Running them: `nodes.checks`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from nodes.checks import (
    NUMBER,
    SORTED_IGNORING_CASE,
    checked_text,
    judge,
    line_rules,
    normalised,
)
from nodes.state import Check, CheckKind, Criterion
from tools.confinement import Confinement
from tools.workspace import WorkspaceError, digest

MAX_UNCHECKED = 2
"""Criteria only a model can judge, kept per goal: the rest are dropped with a note."""

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
    return grounded and not _FILE_NAME.search(text) and len(NUMBER.findall(text)) == 1


def grounded_check(check: Check, goal: str) -> Check:
    """The check as far as the goal backs it (`_content_check`), and a partial check of a kind
    the goal asks for: "holds one number" only when the goal asks for a number, "is JSON" only
    when it speaks of JSON (a 1.5B analyst gave a limerick a `file_number` check, which failed
    every limerick) and not of a value per line; otherwise the check only asks that the file
    exists."""
    grounded = _content_check(check, goal)
    wanted = {"file_number": _NUMBER_WORDS, "file_json": _JSON_WORDS}.get(grounded.kind)
    if wanted is not None and not wanted.search(f"{goal} {check.path}"):
        return replace(grounded, kind="file_exists")
    if grounded.kind == "file_number" and _MANY_VALUES.search(goal):
        # Pass 13's fibonacci: a "file_number" check on 25 numbers, one per line, failed
        # every right file, and a failed check outweighs any review.
        return replace(grounded, kind="file_exists")
    if grounded.kind == "file_json":
        return replace(grounded, text=json_shape(goal, check.path))
    return grounded


def json_shape(goal: str, path: str) -> str:
    """The shape of JSON document the goal's words ask the file `path` to be: "object" ("to
    totals.json as one JSON object", "a JSON object to totals.json"), "array" ("out.json as a
    JSON array" or "list"), or "" when they say none next to its name, or both, or a value per
    line (JSON Lines). Words elsewhere may describe an input ("orders.json is a JSON array")
    or the elements ("a list of users, each a JSON object"). Live, csv_totals' goal said "to
    totals.json as one JSON object" and its programs alternated between that and a list of
    records until its time ran out: the list is no such object, and code can say so."""
    if _MANY_VALUES.search(goal) or not path:
        return ""
    name = re.escape(path.rsplit("/", 1)[-1])
    after = rf"\b{name}\s+as\s+(?:an?\s+|one\s+|a\s+single\s+)?json\s+(object|array|list)\b"
    before = rf"\bjson\s+(object|array|list)\s+(?:to|into|in|as)\s+(?:\S*/)?{name}\b"
    words = [w for pattern in (after, before) for w in re.findall(pattern, goal, re.IGNORECASE)]
    shapes = {_JSON_SHAPE_WORDS[word.lower()] for word in words}
    return shapes.pop() if len(shapes) == 1 else ""


_NUMBER_WORDS = re.compile(
    r"\b(numbers?|count|how many|sum|total|average|mean|median|price|max(imum)?|min(imum)?|"
    r"largest|smallest|highest|lowest|compute|calculate)\b",
    re.IGNORECASE,
)
_JSON_WORDS = re.compile(r"json", re.IGNORECASE)
_JSON_SHAPE_WORDS = {"object": "object", "array": "array", "list": "array"}
_MANY_VALUES = re.compile(r"\bper line\b|\bon its own line\b", re.IGNORECASE)
"""Words of a goal that asks for a value per line: its output holds many, not "one number"."""


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
        read = checked_text(check, guard)
    except WorkspaceError as exc:
        if "no such file" in str(exc):
            return (check, "") if check.kind != "file_changed" else (None, f"{exc}")
        return None, f"{check.path}: {exc}"
    except OSError as exc:
        return None, f"{check.path}: {exc}"
    if check.kind == "file_changed":
        return replace(check, baseline=digest(read)), ""
    before = judge(check, read)
    if before.passed:
        return None, f"already true before the run ({before.detail})"
    return check, ""


def is_input(check: Check, written: set[str], guard: Confinement) -> bool:
    """Whether `check` is about an input: a file there before the run that is none of the
    goal's outputs (`written`: the files it writes or edits) and that the check does not ask to
    be changed."""
    if check.kind == "file_changed" or check.path in written:
        return False
    try:
        checked_text(replace(check, kind="file_exists"), guard)
    except (OSError, WorkspaceError):
        return False  # not there: an output the goal's words did not show
    return True


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
        if check.kind == "file_kept":  # a criterion of its own, whatever else names the file
            merged.append(
                Criterion(id="", text=_written(check), check=replace(check, decides=True))
            )
            continue
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


_LINE_PROPERTIES = {
    "sorted": "in alphabetical order",
    SORTED_IGNORING_CASE: "in alphabetical order ignoring case",
    "unique": "without duplicates",
}


def _written(check: Check) -> str:
    """The criterion an output check decides: the file is written (with the line properties
    the goal asks for)."""
    if check.kind == "program_output":
        return f"running {check.path} prints {check.text!r}"
    if check.kind == "file_changed":
        return f"{check.path} is changed"
    if check.kind == "file_kept":
        return f"{check.path} keeps every line the goal does not change"
    if check.kind != "file_lines":
        return f"{check.path} is written"
    head, source = line_rules(check)
    wanted = " and ".join(
        _LINE_PROPERTIES.get(p) or f"{p.removeprefix('lines=')} of them" for p in head.split()
    )
    taken = f", each a line of {source['from']}" if source else ""
    return f"{check.path} is written, its lines {wanted}{taken}"


def _sharpened(criterion: Criterion, output: Check) -> Criterion:
    """The criterion with `output`'s line properties, program output or JSON shape in place of a
    partial check that only asks that the same file exists (or, for a shape, is JSON): still
    partial, it can fail the criterion, never pass it."""
    check = criterion.check
    sharper = output.kind in ("file_lines", "program_output", "file_json")
    if not sharper or check is None or check.path != output.path or check.decides:
        return criterion
    if check.kind != "file_exists" and not (check.kind == "file_json" == output.kind):
        return criterion
    return replace(criterion, check=replace(output, decides=False))
