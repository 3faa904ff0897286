"""Finding placeholders in a planned step's args: text that stands for another step's result
(`{{s1}}`, `{s1.output}`, `$s1`, `<output of s1>`, `result of step s1`, a bare `{{count}}`)
instead of a value, and the step ids it names. `nodes.plan_repair` leaves such args to be
filled in from those results when the step runs."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

TEMPLATE = re.compile(r"\{\{[^{}\n]{0,200}\}\}")
"""Any `{{...}}` template placeholder."""
ID_CHARS = r"A-Za-z0-9_\-"
"""The characters of a step id, as the body of a regex character class."""


def _bounded(step_id: str) -> str:
    """A regex matching `step_id` as a whole word (a following `.attr` is allowed)."""
    return rf"(?<![{ID_CHARS}]){re.escape(step_id)}(?![{ID_CHARS}])"


def _reference_patterns(step_id: str) -> list[re.Pattern[str]]:
    """Placeholder forms other than `{{...}}` that name `step_id`."""
    word = _bounded(step_id)
    return [
        re.compile(r"(?<!\{)\{\s*" + word + r"(?:\.[\w.\[\]'\"]*)?\s*\}"),
        re.compile(r"\$\{?" + word),
        re.compile(r"<[^<>\"'=\n]{0,40}?" + word + r"[^<>\"'=\n]{0,40}>"),
        re.compile(
            r"\b(?:results?|outputs?|values?)\s+(?:of|from)\s+(?:the\s+)?(?:step\s+)?" + word,
            re.IGNORECASE,
        ),
    ]


def _strings(value: object) -> Iterator[str]:
    """Every string inside an arg value (nested lists and objects included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@dataclass
class Placeholders:
    """What the placeholders in one step's args refer to."""

    found: list[str] = field(default_factory=list)
    """The placeholder texts, as written."""
    names: list[str] = field(default_factory=list)
    """The step ids they name (as the plan wrote them)."""


def find_placeholders(args: Mapping[str, object], known_ids: list[str]) -> Placeholders:
    """The placeholders in `args` that stand for an earlier result: a `{{...}}` that names a
    known step or is a bare name (`{{count}}`; a spaced `{{ title }}` is a template the user
    may want written as it is), and other forms (`{id}`, `$id`, `<output of id>`, `result of
    step id`) that name a known step. In a `code` arg only a `{{...}}` naming a step counts:
    braces and `$` are code there. The short forms are only looked for with ids that hold a
    letter (`$1` is rarely a step)."""
    seen = Placeholders()
    worded = [i for i in known_ids if any(c.isalpha() for c in i)]
    patterns = {i: _reference_patterns(i) for i in worded}
    for key, value in args.items():
        in_code = key == "code"
        for text in _strings(value):
            _templates(text, known_ids, seen, named_only=in_code)
            if in_code:
                continue
            for step_id, forms in patterns.items():
                hits = [m.group() for form in forms for m in form.finditer(text)]
                seen.found += hits
                seen.names += [step_id] if hits else []
    found = list(dict.fromkeys(seen.found))
    seen.found = [f for f in found if not any(f != other and f in other for other in found)]
    seen.names = list(dict.fromkeys(seen.names))
    return seen


def _templates(text: str, known_ids: list[str], seen: Placeholders, *, named_only: bool) -> None:
    """Add the `{{...}}` placeholders of `text` to `seen`."""
    for match in TEMPLATE.finditer(text):
        inner = match.group()[2:-2]
        names = [i for i in known_ids if re.search(_bounded(i), inner)]
        bare = inner == inner.strip() and " " not in inner
        if names or (bare and not named_only):
            seen.found.append(match.group())
            seen.names += names


def echoed_placeholders(args: Mapping[str, object], step_description: str) -> list[str]:
    """The placeholders of the plan that a fill call's `args` still hold: the step's
    description carries its planned args (`nodes.plan_repair`), and a fill call that copies
    `{{cat_name}}` from there instead of putting in the value has filled nothing (a 1.5B
    model overwrote a finished limerick with those 12 characters)."""
    found = find_placeholders(args, []).found
    return [placeholder for placeholder in found if placeholder in step_description]
