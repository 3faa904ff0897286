"""Checking a tool call's arguments against its tool's schema, before the call is made.

planloop's own tools declare pydantic models; an MCP tool brings a JSON schema, which is outside
content: it is checked once when the server connects (`schema_problem`), and checking args
against it can never raise, fetch anything, or run for ever (`PATTERN_SECONDS`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any, cast

import jsonschema
import referencing
import referencing.jsonschema
import regex  # type: ignore[import-untyped]
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from tools.sanitize import sanitize

PATTERN_SECONDS = 1.0
"""Longest a schema's regular expression may take on one value (a server's pattern such as
`^(a+)+$` could otherwise backtrack for ever)."""
_NO_REMOTE_SCHEMAS: referencing.Registry[Any] = referencing.Registry()
"""References resolve inside the schema only: nothing is fetched (no retrieval function)."""
PROBLEM_CHARS = 200
"""Longest a schema's or validator's own words may run in a problem line (they can quote the
server at length)."""


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "args"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _one_line(text: str) -> str:
    """Outside text (a server's schema, what a validator said of it) as one short, clean line."""
    return sanitize(" ".join(text.split()))[:PROBLEM_CHARS]


def input_model(tool: BaseTool) -> type[BaseModel]:
    """The pydantic model of a tool's arguments (planloop's own tools are all pydantic v2)."""
    return cast(type[BaseModel], tool.get_input_schema())


def args_json_schema(tool: BaseTool) -> Mapping[str, Any]:
    """The JSON schema of a tool's arguments: an MCP tool's own, or its pydantic model's (read
    only: it is shared)."""
    if isinstance(tool.args_schema, dict):
        return tool.args_schema
    return _model_json_schema(input_model(tool))


@functools.lru_cache(maxsize=256)
def _model_json_schema(model: type[BaseModel]) -> Mapping[str, Any]:
    # pydantic builds a model's JSON schema anew on every call: about 2 ms for each of the
    # seven built-in tools, on every planning prompt (the tool list shows their args).
    return model.model_json_schema()


def _search(pattern: str, text: str) -> bool:
    """`re.search` for a schema's pattern, given up (TimeoutError) after `PATTERN_SECONDS`."""
    return regex.search(pattern, text, timeout=PATTERN_SECONDS) is not None


def _pattern(
    validator: Any, pattern: str, instance: object, _schema: object
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, cast(str, instance)):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: object, _schema: object
) -> Iterator[jsonschema.ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in cast(dict[str, Any], instance).items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: object, instance: object, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    extras = [
        key
        for key in cast(dict[str, Any], instance)
        if key not in known and not any(_search(p, key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(cast(dict[str, Any], instance)[key], additional, path=key)
    elif additional is False and extras:
        yield jsonschema.ValidationError(f"unexpected argument(s) {', '.join(map(repr, extras))}")


_ArgsValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)
"""Draft 2020-12 with time-bounded patterns (see `PATTERN_SECONDS`)."""


def _walk(node: object) -> Iterator[dict[str, Any]]:
    """Every object in a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def schema_problem(schema: object) -> str:
    """Why a tool's JSON schema (an MCP server's) cannot be used to check its args, in one
    line, or '': not a valid Draft 2020-12 object schema (bad patterns included), or a
    reference that leaves the schema or leads nowhere."""
    if not isinstance(schema, dict):
        return "it is not a JSON object"
    try:
        jsonschema.Draft202012Validator.check_schema(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        resolver = _NO_REMOTE_SCHEMAS.with_resource(
            "", referencing.jsonschema.DRAFT202012.create_resource(schema)
        ).resolver()
        for node in _walk(schema):
            for keyword in ("$ref", "$dynamicRef"):
                ref = node.get(keyword)
                if isinstance(ref, str) and not ref.startswith("#"):
                    return f"{keyword} {ref[:80]!r} refers to a schema outside it"
                if isinstance(ref, str):
                    resolver.lookup(ref)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the schema"
        return _one_line(f"{where}: {exc.message}")
    except Exception as exc:  # an unresolvable reference, or anything else it trips on
        return _one_line(f"{type(exc).__name__}: {exc}")
    return ""


def _validate_json_args(tool: BaseTool, schema: dict[str, Any], args: Mapping[str, object]) -> str:
    """Problems of args checked against a JSON schema (an MCP tool's), in one line, or ''.

    The schema is outside content: whatever it trips on is a problem of the call, never an
    exception, and its references never reach outside it."""
    try:
        validator = _ArgsValidator(schema, registry=_NO_REMOTE_SCHEMAS)
        errors = sorted(validator.iter_errors(dict(args)), key=lambda e: list(map(str, e.path)))
        parts = [
            f"{'.'.join(str(p) for p in error.path) or 'args'}: {error.message}" for error in errors
        ]
        properties = schema.get("properties", {})
        unknown = sorted(set(args) - set(properties if isinstance(properties, dict) else ()))
    except TimeoutError:
        return f"invalid args for {tool.name}: a pattern of its schema took too long on them"
    except Exception as exc:  # a broken schema, a reference leading nowhere
        why = _one_line(str(exc)) or type(exc).__name__
        return f"invalid args for {tool.name}: its schema cannot check them ({why})"
    if unknown:
        parts.append(f"unknown argument(s) {', '.join(unknown)}")
    return f"invalid args for {tool.name}: {'; '.join(parts)}" if parts else ""


def validate_args(tool: BaseTool, args: Mapping[str, object]) -> str | None:
    """Check args against the tool's schema; return the problem in one line, or None."""
    if isinstance(tool.args_schema, dict):
        return _validate_json_args(tool, tool.args_schema, args) or None
    schema = input_model(tool)
    try:
        schema.model_validate(dict(args))
    except ValidationError as exc:
        return f"invalid args for {tool.name}: {_describe_validation(exc)}"
    known = set(schema.model_fields)
    unknown = sorted(set(args) - known)
    if unknown:
        return f"invalid args for {tool.name}: unknown argument(s) {', '.join(unknown)}"
    return None
