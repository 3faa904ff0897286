"""Whether two programs wrote the same output, up to layout (the cross-check's comparison,
`nodes.cross_check`): a program may space a table or a JSON object otherwise and still agree."""

from __future__ import annotations

import json
import math
import re


def same_output(first: str, second: str) -> bool:
    """Whether two programs wrote the same content, up to layout: the same non-empty lines
    (runs of spaces, and spaces around a table's `|`, aside), the same JSON value, or the same
    number. Empty content matches nothing: two empty files show no work."""
    if not first.strip() or not second.strip():
        return False
    if _lines(first) == _lines(second):
        return True
    for parse in (_json, _number):
        one, other = parse(first), parse(second)
        if one is not None and other is not None:
            return _equal(one, other)
    return False


def _lines(text: str) -> list[str]:
    squeezed = (" ".join(line.split()) for line in text.splitlines())
    return [re.sub(r" ?\| ?", "|", line) for line in squeezed if line]


def _json(text: str) -> object | None:
    try:
        return json.loads(text)  # type: ignore[no-any-return]
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


def _equal(one: object, other: object) -> bool:
    if isinstance(one, bool) or isinstance(other, bool):
        return one is other  # true is not 1
    if isinstance(one, int | float) and isinstance(other, int | float):
        return math.isclose(one, other, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(map(_equal, one, other))
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(_equal(one[k], other[k]) for k in one)
    return one == other
