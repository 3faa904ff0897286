"""Pull one JSON object out of a model reply that may wrap it in prose or code fences."""

from __future__ import annotations

import json
import re

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
