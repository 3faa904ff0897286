"""The files a goal names: the outputs it asks for (each gets a `file_exists` check) and the
inputs an executor is shown, read from the workspace by code rather than by a model turn."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from nodes.check_grounding import json_shape
from nodes.checks import SORTED_IGNORING_CASE, checked_text, run_check
from nodes.input_format import layout_note
from nodes.state import Check
from tools.confinement import Confinement
from tools.sanitize import sanitize
from tools.workspace import WorkspaceError, digest, read_text

FILE_EXTENSIONS = (
    "txt", "md", "markdown", "json", "jsonl", "csv", "tsv", "ini", "cfg", "conf", "toml", "yaml",
    "yml", "xml", "html", "htm", "log", "py", "js", "ts", "sh", "sql", "rst", "tex", "svg", "png",
    "jpg", "jpeg", "gif", "pdf", "ipynb",
)  # fmt: skip
"""What a word must end with to be taken for a file name."""
BINARY_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "pdf"})
_FILE_TAG = re.compile(r"</?\s*file\b", re.IGNORECASE)
_FILE_NAME = re.compile(
    r"(?<![\w/.:-])((?:[\w-]+/)*[\w-]+\.(?:" + "|".join(FILE_EXTENSIONS) + r"))(?![\w/-])",
    re.IGNORECASE,
)


def named_files(goal: str) -> list[str]:
    """Workspace file names the goal mentions (not parts of URLs), in order of mention."""
    return [name for name, _ in _mentions(goal)]


def _mentions(goal: str) -> list[tuple[str, str]]:
    """Each file name the goal mentions with the few words before it."""
    without_urls = re.sub(r"\b\w+://\S+|\{site\}\S*", " ", goal)
    seen: dict[str, str] = {}
    for match in _FILE_NAME.finditer(without_urls):
        before = " ".join(without_urls[: match.start()].split()[-_LEAD_WORDS:]).casefold()
        seen.setdefault(match.group(1), before)
    return list(seen.items())


_LEAD_WORDS = 4
_WRITES = re.compile(
    r"\b(?:write|save|create|store|put|output|generate|produce|export|turn|convert)"
)
_LEADS_TO_OUTPUT = re.compile(
    r"\b(?:to|into|in|as|named|called|create|creates|write|save|files?)\b[^.;:]*$"
)


FILE_CHARS = 1500
FILES_CHARS = 4000


def named_files_text(text: str, guard: Confinement) -> str:
    """The workspace files `text` names that exist, each in a `<file>` block (clipped): an
    executor sees its inputs at once instead of spending a turn (and a guess) to read them."""
    blocks, room = [], FILES_CHARS
    for name in named_files(text):
        if name.rsplit(".", 1)[-1].lower() in BINARY_EXTENSIONS:
            continue  # its bytes would reach the prompt as replacement characters
        try:
            content = read_text(str(guard.root), name, min(FILE_CHARS, room), guard=guard)
        except (OSError, WorkspaceError):
            continue  # not there (yet): an output, or a name that is no file
        blocks.append(f'<file path="{name}">\n{as_data(content)}\n</file>')
        blocks += layout_note(name, guard)
        room -= len(content)
        if room <= 0:
            break
    return "\n".join(blocks) or "(none)"


def as_data(content: str) -> str:
    """A file's text as a prompt shows it: sanitized, and unable to close its own `<file>`
    block (whatever it says stays data)."""
    return _FILE_TAG.sub("[tag removed]", sanitize(content))


def output_checks(goal: str, runs_code: bool, guard: Confinement) -> list[Check]:
    """The checks of what a goal asks for that code derives from its words. A `file_exists`
    check for each file the goal asks to write: named after "to", "into",
    "as", "create" and the like in a goal that writes something, and missing from the
    workspace (a file that is there is an input, or one to edit). For a goal with one such
    file whose words ask for its lines in alphabetical order or without duplicates, a
    `file_lines` check of those properties instead. When the run may execute code without
    asking (`runs_code`), a `program_output` check for each script the goal says prints a
    given value (`program_checks`), in place of the script's own. A `file_changed` check for
    each file a goal that edits in place names (`_edit_checks`)."""
    programs = {check.path: check for check in program_checks(goal)} if runs_code else {}
    files = [programs.pop(check.path, check) for check in _file_checks(goal, guard)]
    return files + list(programs.values()) + _edit_checks(goal, guard)


_EDITS = re.compile(
    r"\b(?:change|edit|update|modify|replace|fix|correct|rename|bump|increase|decrease)\b",
    re.IGNORECASE,
)


_SOURCE = re.compile(r"\b(?:from|using|per|according to|based on|given in|listed in)\b")


def _edit_checks(goal: str, guard: Confinement) -> list[Check]:
    """A `file_changed` check for each existing file a goal names that edits in place (a verb
    such as "change" or "fix", and nothing to write): the goal is not done while the file is
    as it was (a 1.5B reviewer judged "port = 9090" met in a config.ini no edit had changed)."""
    if _WRITES.search(goal.casefold()) or not _EDITS.search(goal):
        return []
    checks = []
    for name, lead in _mentions(goal):
        if _SOURCE.search(lead):
            continue  # "with the totals from sales.csv": what the edit reads, not what it edits
        check = Check(kind="file_changed", path=name)
        try:
            content = checked_text(check, guard)
        except (OSError, WorkspaceError):
            continue  # not there: nothing to edit
        checks.append(replace(check, baseline=digest(content)))
        checks += _kept_lines_check(goal, name, content)
    return checks


_KEEP_REST = re.compile(
    r"\b(?:leave|keep)\b[^.;]{0,40}\b(?:other|rest|else)\b|\bnothing else\b|\bonly (?:change|edit)",
    re.IGNORECASE,
)
_VALUE = re.compile(r"'[^'\n]+'|\"[^\"\n]+\"|`[^`\n]+`|\b\d+(?:\.\d+)?\b")
KEPT_CHARS = 4000
"""Longest file whose lines a `file_kept` (or `file_lines`) check holds (it is part of the
run's state)."""


def _kept_lines_check(goal: str, path: str, content: str) -> list[Check]:
    """A `file_kept` check when the goal says to leave the rest of `path` as it is ("Leave every
    other line as it is"): only the lines holding a value the goal names (a number, a quoted
    text) may change. A 1.5B executor replaced config.ini's whole `[server]` section with
    `server_port = 9090`, and the run ended "done"."""
    if not _KEEP_REST.search(goal) or len(content) > KEPT_CHARS:
        return []
    values = [match.group().strip("'\"`") for match in _VALUE.finditer(goal)]
    values = [value for value in values if value not in path]
    before = [None if any(v in line for v in values) else line for line in content.splitlines()]
    if not values or None not in before or all(line is None for line in before):
        return []  # no line the goal changes, or no line it keeps: nothing to hold it to
    return [Check(kind="file_kept", path=path, text=json.dumps(before))]


def _file_checks(goal: str, guard: Confinement) -> list[Check]:
    if not _WRITES.search(goal.casefold()):
        return []
    checks = []
    for name, before in _mentions(goal):
        if not _LEADS_TO_OUTPUT.search(before):
            continue
        outcome = run_check(Check(kind="file_exists", path=name), guard)
        if not outcome.passed and "no such file" in outcome.detail:
            checks.append(Check(kind="file_exists", path=name))
    # With several outputs, which one the words describe is unclear.
    shape = json_shape(goal, checks[0].path) if len(checks) == 1 else ""
    if shape:
        return [Check(kind="file_json", path=checks[0].path, text=shape)]
    properties = line_properties(goal, checks[0].path) if len(checks) == 1 else []
    if len(checks) == 1 and not any(p.startswith("lines=") for p in properties):
        properties += _line_per_input_line(goal, checks[0].path, guard)
    if properties:
        source = _source_lines(goal, checks[0].path, guard) if _arranges(properties) else ""
        text = " ".join(properties) + (f"\n{source}" if source else "")
        return [Check(kind="file_lines", path=checks[0].path, text=text)]
    return checks


def _arranges(properties: list[str]) -> bool:
    return bool({"sorted", SORTED_IGNORING_CASE, "unique"} & set(properties))


_TRANSFORMS = re.compile(
    r"\b(?:upper|lower|title)[- ]?case|\b(?:capitali[sz]e|convert|translate|reformat|"
    r"rewrite|replace|prefix|suffix|number(?:ed)?\s+(?:them|each)|uppercase|lowercase|"
    r"abbreviate|shorten|trim|reverse)",
    re.IGNORECASE,
)


def _source_lines(goal: str, output: str, guard: Confinement) -> str:
    """For a goal that sorts or de-duplicates the lines of one plain-text input into `output`
    ("Write the names from names.txt to names_sorted.txt: sorted alphabetically ignoring case,
    without duplicates") and names no change to them: that input's lines as they are now, as
    JSON (`{"from": name, "lines": [...]}`), which every line of `output` must be one of. Two
    1.5B programs, written apart, both lowercased the names ("ignoring case"), and agreed."""
    sources = [name for name, lead in _mentions(goal) if name != output and _FROM.search(lead)]
    if len(sources) != 1 or _TRANSFORMS.search(goal):
        return ""
    name = sources[0]
    if name.rsplit(".", 1)[-1].lower() not in ("txt", "md", "list"):
        return ""
    try:
        content = read_text(str(guard.root), name, KEPT_CHARS + 1, guard=guard)
    except (OSError, WorkspaceError):
        return ""
    lines = sorted({line.strip() for line in content.splitlines() if line.strip()})
    if len(content) > KEPT_CHARS or not lines:
        return ""
    return json.dumps({"from": name, "lines": lines})


_FROM = re.compile(r"\bfrom\b[^.;:]*$", re.IGNORECASE)
"""The words before a file name end in "from ..." ("the names from names.txt")."""


LIST_CHARS = 200_000
"""Longest input whose lines are counted for a line-per-item check."""
_LINE_PER = re.compile(r"\bone\b[^.;:]{0,30}?\blines?\s+(?:per|for each|for every)\b", re.I)


def _line_per_input_line(goal: str, output: str, guard: Confinement) -> list[str]:
    """`lines=N` for a goal that asks for one line of `output` per item of its one input, a
    plain text file of N non-empty lines ("Turn the tasks in tasks.txt into a checklist in
    todo.md: one '- [ ] task' line per task"): a 1.5B reviewer judged a todo.md holding every
    task twice met, quoting its first line."""
    inputs = [name for name in named_files(goal) if name != output]
    if not _LINE_PER.search(goal) or len(inputs) != 1:
        return []
    name = inputs[0]
    if name.rsplit(".", 1)[-1].lower() not in ("txt", "md", "list"):
        return []  # a table or data file: its header or structure is no item
    try:
        content = read_text(str(guard.root), name, LIST_CHARS + 1, guard=guard)
    except (OSError, WorkspaceError):
        return []
    if len(content) > LIST_CHARS:
        return []  # clipped: its lines cannot be counted, and a wrong count blocks a right run
    items = sum(1 for line in content.splitlines() if line.strip())
    return [f"lines={items}"] if items else []


_PRINTS = re.compile(
    r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.py)\b[^.;!?\n]{0,60}?"
    r"\b(?:prints?|outputs?|displays?)\s+(?:(?:the\s+)?(?:text|line|number|value)\s+)?"
    r"('[^'\n]+'|\"[^\"\n]+\"|`[^`\n]+`|-?\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


def program_checks(goal: str) -> list[Check]:
    """A `program_output` check for each Python script the goal says prints a value it gives,
    quoted or a number ("hello.py that prints 'Hello, world'", "fix calc.py so that it prints
    42"); words that describe the output ("prints a greeting") give no check."""
    checks: dict[str, Check] = {}
    for match in _PRINTS.finditer(goal):
        path, value = match.group(1), match.group(2).strip("'\"`")
        checks.setdefault(path, Check(kind="program_output", path=path, text=value))
    return list(checks.values())


_ALPHABETICAL = re.compile(r"\balphabetic(al(ly)?)?\b|\ba-z\b", re.IGNORECASE)
_IGNORING_CASE = re.compile(
    r"\b(ignor(e|es|ing)|regardless of|disregard(ing)?)\s+(the\s+)?(letter\s+)?case\b|"
    r"\bcase[- ]insensitive(ly)?\b",
    re.IGNORECASE,
)
_UNIQUE = re.compile(
    r"\b(without|no|remove|removing|drop|dropping) duplicates?\b|\bunique\b|\bde-?duplicated?\b",
    re.IGNORECASE,
)


_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_LINE_COUNT = re.compile(r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")[- ]lines?\b", re.IGNORECASE)


_OTHER_ORDER = re.compile(r"\balphabetic\w*\s+by\b|\b(reverse|descending|ties|tie)\b", re.I)
_PER_ITEM = re.compile(r"(\s+\w+){0,2}?\s+(per|each|every)\b", re.IGNORECASE)
PLAIN_LISTS = ("txt", "list", "")
"""Outputs whose every line is an item (a CSV or Markdown table has a header line)."""


def line_properties(goal: str, path: str = "out.txt") -> list[str]:
    """Properties of the lines of the output `path` the goal's own words ask for: `sorted`
    ("sorted alphabetically", "in alphabetical order"; not "alphabetically by name", "reverse",
    "ties") and `unique` ("without duplicates") for a plain list, and `lines=N` ("a five-line
    limerick", "3 lines"; not "a one-line summary of each file") for a text."""
    extension = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    wanted = {"sorted": _ALPHABETICAL, "unique": _UNIQUE}
    properties = [name for name, words in wanted.items() if words.search(goal)]
    if extension not in PLAIN_LISTS or _OTHER_ORDER.search(goal):
        properties = [p for p in properties if p != "sorted" and extension in PLAIN_LISTS]
    if _IGNORING_CASE.search(goal):
        properties = [SORTED_IGNORING_CASE if p == "sorted" else p for p in properties]
    counts = {
        _count(match.group(1))
        for match in _LINE_COUNT.finditer(goal)
        if not _PER_ITEM.match(goal, match.end())
    }
    if len(counts) == 1 and counts != {1} and extension not in ("csv", "tsv", "json", "jsonl"):
        properties.append(f"lines={counts.pop()}")
    return properties


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.index(word.casefold()) + 1
