"""What `nodes.llm.invoke_structured` needs besides the model call: whether to ask the server
for grammar-enforced JSON (`response_format` json_schema), and how a reply becomes an answer.

JSON-schema mode (`Context.structured_output`): "prompt" never sends `response_format`;
"json_schema" always does; "auto" (the default) tries it on the first structured call to each
server and model, and remembers for the rest of the process whether the server honours it. A
server that refuses the request (HTTP 400) or answers with something other than JSON has
ignored it: planloop falls back to the prompt alone (whose schema text it sends in both modes)
and says so in one INFO log line.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nodes.context import Context
from nodes.jsonout import extract_json, repair_json
from nodes.prompts import SCHEMA_INSTRUCTIONS

logger = logging.getLogger(__name__)

SchemaT = TypeVar("SchemaT", bound=BaseModel)
Check = Callable[[SchemaT], "str | None"]

_json_schema_works: dict[tuple[str, str], bool] = {}
"""(base URL, model) -> whether the server honours `response_format` json_schema."""


def _server(context: Context) -> tuple[str, str]:
    return context.base_url or "", context.model


def wants_json_schema(context: Context) -> bool:
    """Whether the next structured call sends `response_format` json_schema."""
    if context.structured_output != "auto":
        return context.structured_output == "json_schema"
    return _json_schema_works.get(_server(context), True)


def note_json_schema(context: Context, works: bool, why: str = "") -> None:
    """Remember (once per server and model, in "auto" mode) whether json_schema mode works."""
    server = _server(context)
    if context.structured_output != "auto" or server in _json_schema_works:
        return
    _json_schema_works[server] = works
    if not works:
        where = context.base_url or "the OpenAI API"
        logger.info(
            "the model server at %s does not honour response_format json_schema (%s); "
            "structured answers are asked for by prompt alone for the rest of the run",
            where,
            why,
        )


def forget_json_schema_support() -> None:
    """Forget what was learned about every server (tests start each from "auto" again)."""
    _json_schema_works.clear()


def is_plain_json(text: str) -> bool:
    """True when the whole reply is one JSON object, as a server enforcing a schema sends."""
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@functools.cache
def _schema_json(schema: type[BaseModel]) -> str:
    return json.dumps(schema.model_json_schema())


@functools.cache
def schema_prompt(schema: type[BaseModel]) -> str:
    """The instructions for an answer of `schema`, with its shape as a compact sketch (sent in
    both modes: the field descriptions help the model; in json_schema mode the server gets
    the full schema too)."""
    full = json.loads(_schema_json(schema))
    defs = full.get("$defs", {})
    return SCHEMA_INSTRUCTIONS.format(schema=sketch(merged_alternatives(full, defs), defs))


def merged_alternatives(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A choice between objects (`anyOf`) as one object, for the prompt only: each key once,
    required when every alternative requires it, its values joined. The server enforces the
    choice itself; spelled out, the prompt would repeat every shared key."""
    options = [_resolved(option, defs) for option in node.get("anyOf", [])]
    if not options or not all("properties" in option for option in options):
        return node
    properties: dict[str, Any] = {}
    for option in options:
        for name, prop in option["properties"].items():
            values = [*properties.get(name, {}).get("enum", []), *_values(prop)]
            properties[name] = {**prop, "enum": list(dict.fromkeys(values))} if values else prop
    required = set.intersection(*(set(option.get("required", [])) for option in options))
    return {"properties": properties, "required": sorted(required)}


def _resolved(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return dict(defs[str(node["$ref"]).rsplit("/", 1)[-1]]) if "$ref" in node else node


def _values(prop: dict[str, Any]) -> list[Any]:
    return [prop["const"]] if "const" in prop else list(prop.get("enum", []))


def sketch(node: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON schema as the shape of a value: `{"id": string, "note"?: string}` (`?` marks an
    optional key, a field's description follows it in parentheses), `[item, ...]`,
    `"a" | "b"`. About half the tokens of the schema itself."""
    if "$ref" in node:
        return sketch(defs[str(node["$ref"]).rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        return " | ".join(sketch(option, defs) for option in node["anyOf"])
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " | ".join(json.dumps(value) for value in node["enum"])
    if node.get("type") == "array":
        return f"[{sketch(node.get('items', {}), defs)}, ...]"
    if "properties" in node:
        required = set(node.get("required", []))
        fields = [
            f'"{name}"{"" if name in required else "?"}: {sketch(prop, defs)}'
            + (f" ({prop['description']})" if prop.get("description") else "")
            for name, prop in node["properties"].items()
        ]
        return "{" + ", ".join(fields) + "}"
    return str(node.get("type", "any"))


def response_format(schema: type[BaseModel], *, flat: bool = False) -> dict[str, Any]:
    """The (non-strict) json_schema `response_format` for `schema`. With `flat`, a choice
    between objects at the root is sent as one object (`merged_alternatives`): OpenAI's API
    wants an object at the root, llama.cpp's server enforces the choice itself."""
    full = json.loads(_schema_json(schema))
    if flat and has_root_choice(schema):
        merged = merged_alternatives(full, full.get("$defs", {}))
        full = {"type": "object", **merged, "$defs": full.get("$defs", {})}
    return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": full}}


def has_root_choice(schema: type[BaseModel]) -> bool:
    """Whether `schema`'s JSON schema is a choice (`anyOf`) at its root, not an object."""
    return "anyOf" in json.loads(_schema_json(schema))


def read_answer(
    text: str, schema: type[SchemaT], check: Check[SchemaT] | None, *, truncated: bool
) -> tuple[SchemaT | None, str]:
    """The answer in a reply, or None and what is wrong with it.

    Strict JSON first. A complete reply that is only almost JSON is repaired (`repair_json`)
    and used if the repaired object passes the schema and `check`; otherwise the strict
    problem is the one reported. A reply cut off by the completion cap is never repaired.
    """
    try:
        value = extract_json(text)
    except ValueError as exc:
        problem = str(exc)[:800]
        repaired = None if truncated else repair_json(text)
        if repaired is not None:
            answer, _ = _validated(repaired, schema, check)
            if answer is not None:
                return answer, ""
        return None, problem
    return _validated(value, schema, check)


def _validated(
    value: object, schema: type[SchemaT], check: Check[SchemaT] | None
) -> tuple[SchemaT | None, str]:
    try:
        answer = schema.model_validate(value)
    except ValidationError as exc:
        return None, summarise_error(exc)
    problem = (check(answer) if check else None) or ""
    return (None, problem) if problem else (answer, "")


def summarise_error(exc: Exception) -> str:
    """A validation error as one short line the model can act on."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'root'}: {e['msg']}" for e in exc.errors()
        )[:800]
    return str(exc)[:800]
