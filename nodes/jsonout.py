"""Pull one JSON object out of a model reply that may wrap it in prose or code fences, strictly
(`extract_json`) or, for a reply that is almost JSON, leniently (`repair_json`)."""

from __future__ import annotations

import json
import re

import json_repair

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(text: str) -> object:
    """Return the first JSON object in `text`; raise ValueError saying what was wrong."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply was empty; answer with a JSON object")
    candidates = [m.group(1).strip() for m in _FENCE.finditer(stripped)] + [stripped]
    decoder = json.JSONDecoder()
    last_error = "no JSON object found in the reply"
    for candidate in candidates:
        start = candidate.find("{")
        if start == -1:
            continue
        try:
            value, _ = decoder.raw_decode(candidate, start)
        except json.JSONDecodeError as exc:
            # Only the outermost object counts: an inner object of a truncated reply
            # would validate against the wrong shape and hide the real problem.
            last_error = f"invalid or truncated JSON: {exc.msg} at character {exc.pos}"
            continue
        if isinstance(value, dict):
            return value
    raise ValueError(last_error)


def repair_json(text: str) -> dict[str, object] | None:
    """The object a near-JSON reply means (an unescaped backslash or quote in a string, a
    missing comma, a trailing comma, ...), or None when the repair gives no object.

    Only for a complete reply: an object that never closes was cut off (whether or not the
    server said so), and completing it would invent its end, e.g. a plan without its last
    steps, which may still validate.
    """
    if not object_closes(text):
        return None
    try:
        value = json_repair.loads(text)
    except Exception:  # a repair that fails is no repair
        return None
    return value if isinstance(value, dict) and value else None


def object_closes(text: str) -> bool:
    """Whether the first `{` in `text` is closed again (brackets counted outside strings)."""
    start = text.find("{")
    depth, in_string, escaped = 0, False, False
    for char in text[start:] if start >= 0 else "":
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return True
    return False
