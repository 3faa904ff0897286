"""Finding placeholders in a planned step's args: text that stands for another step's result
(`{{s1}}`, `{s1.output}`, `$s1`, `<output of s1>`, `result of step s1`, a bare `{{count}}`)
instead of a value, and the step ids it names. `nodes.plan_repair` leaves such args to be
filled in from those results when the step runs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from nodes.state import StepResult
from tools.python_tool import program_stdout

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


EMBEDDED_VALUE_CHARS = 200
"""The longest value put in place of a placeholder inside a longer text (one line only): a
longer or multi-line result is only put in where it is the whole arg."""


def result_value(result: StepResult, tool: str | None) -> str | None:
    """The value a placeholder for `result` stands for: what its program printed (run_python)
    or its output; None when it failed or its output was clipped (not the whole value)."""
    if result.status != "done" or result.artifacts:
        return None
    value = program_stdout(result.output) if tool == "run_python" else result.output
    if value is None or not value.strip():
        return None
    return value.strip() if "\n" not in value.strip() else value


def substituted(args: Mapping[str, object], values: Mapping[str, str]) -> dict[str, object] | None:
    """`args` with each `{{id}}` (`{{id.output}}`, ...) naming a step in `values` replaced by
    that step's value; None when a placeholder would be left for a model to fill in (it names
    no such step, is of another form, or its value is too long to put inside a text)."""
    try:
        filled = {key: _filled(value, values) for key, value in args.items()}
    except _UnfillableError:
        return None
    return None if find_placeholders(filled, list(values)).found else filled


class _UnfillableError(Exception):
    """A placeholder code cannot fill in."""


def _filled(value: object, values: Mapping[str, str]) -> object:
    if isinstance(value, str):
        return _filled_text(value, values)
    if isinstance(value, Mapping):
        return {key: _filled(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_filled(item, values) for item in value]
    return value


def _filled_text(text: str, values: Mapping[str, str]) -> str:
    whole = TEMPLATE.fullmatch(text.strip())
    if whole is not None and (step_id := _named_step(whole.group(), values)) is not None:
        return values[step_id]

    def one(match: re.Match[str]) -> str:
        step_id = _named_step(match.group(), values)
        if step_id is None:
            return match.group()  # not a step's: `substituted` decides whether it may stay
        value = values[step_id]
        if "\n" in value or len(value) > EMBEDDED_VALUE_CHARS:
            raise _UnfillableError(match.group())
        return value

    return TEMPLATE.sub(one, text)


def _named_step(template: str, values: Mapping[str, str]) -> str | None:
    """The step a `{{...}}` template stands for: its name, before any `.output`, `[0]`."""
    name = re.split(r"[.\[]", template[2:-2].strip(), maxsplit=1)[0].strip()
    return name if name in values else None


_PRINT_CALL = re.compile(r"\bprint\(")
_WRAPPED = re.compile(r"\{\{(.*)\}\}|\{(.*)\}", re.DOTALL)
NOT_NAMED = frozenset({"code", "path"})
"""Args never read as a printed expression: code is code, and a path is a file's name."""


def printed_names(programs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """What programs print -> id of the (last) step whose program prints it, from (id, code)
    pairs: the expression inside each one-argument `print(...)`, without spaces."""
    return {
        _compact(expression): step_id
        for step_id, code in programs
        for expression in _print_arguments(code)
    }


def _print_arguments(code: str) -> Iterator[str]:
    """The argument text of each `print(...)` call in `code` (balanced parentheses, outside
    strings only as far as a one-line expression needs)."""
    for match in _PRINT_CALL.finditer(code):
        depth, start = 1, match.end()
        for position in range(start, min(len(code), start + 200)):
            depth += {"(": 1, ")": -1}.get(code[position], 0)
            if depth == 0:
                yield code[start:position]
                break


def _compact(text: str) -> str:
    return "".join(text.split())


def named_values(
    args: Mapping[str, object], printed: Mapping[str, str]
) -> tuple[dict[str, object], dict[str, str]]:
    """`args` with each arg that is only what an earlier program prints (`"content": "count"`,
    `"{{count}}"` or `"{count}"` after `print(count)`; `"json.dumps(rows)"` after
    `print(json.dumps(rows))`) replaced by a placeholder for that step's result, and which
    args were (arg -> step id). A small planner writes the variable or expression where it
    means its value."""
    replaced: dict[str, object] = dict(args)
    named: dict[str, str] = {}
    for key, value in args.items():
        if key in NOT_NAMED or not isinstance(value, str) or not value.strip():
            continue
        wrapped = _WRAPPED.fullmatch(value.strip())
        inner = next((g for g in wrapped.groups() if g), "") if wrapped else value
        step_id = printed.get(_compact(inner))
        if step_id is not None:
            replaced[key], named[key] = "{{" + step_id + "}}", step_id
    return replaced, named
