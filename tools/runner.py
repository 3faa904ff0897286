"""Running tools so that every failure becomes an observation, never a crash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import jsonschema
import referencing
import referencing.jsonschema
import regex  # type: ignore[import-untyped]
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from checkpoints.journal import Journal, JournalEntry, active_journal, idempotency_key
from tools.artifacts import clip
from tools.failpoints import ACTION_COMPLETED, ACTION_DONE, ACTION_STARTED, failpoint
from tools.receipts import action_receipt, has_outcome, recovered, save_outcome
from tools.sanitize import sanitize
from tools.workspace import (
    WorkspaceError,
    file_digest,
    planned_digest,
    relative_name,
    resolve_in_workspace,
)

ALREADY_RAN = "\n[from the journal: this action already ran]"
UNKNOWN_EFFECT = (
    "ERROR: an earlier attempt of this call was interrupted by a crash and {tool} cannot be "
    "safely repeated (not idempotent); whether it took effect is unknown, so it was not made "
    "again: check its effect, then plan it again if it is still needed"
)

_target_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class ToolOutcome:
    """The observation a tool call produced."""

    ok: bool
    """False when the tool raised, or the call was invalid."""
    text: str
    """The tool's output (sanitised, clipped), or an `ERROR: ...` line."""
    artifacts: list[str] = field(default_factory=list)
    """Workspace-relative files holding full outputs that were clipped."""


def action_fingerprint(tool_name: str, args: Mapping[str, object]) -> str:
    """A stable key for 'the same action': tool name plus canonical JSON of its args."""
    canonical = json.dumps(args, sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.sha256(f"{tool_name}\x00{canonical}".encode()).hexdigest()[:16]
    return f"{tool_name}:{digest}"


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "args"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def input_model(tool: BaseTool) -> type[BaseModel]:
    """The pydantic model of a tool's arguments (planloop's own tools are all pydantic v2)."""
    return cast(type[BaseModel], tool.get_input_schema())


def args_json_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of a tool's arguments: an MCP tool's own, or its pydantic model's."""
    if isinstance(tool.args_schema, dict):
        return tool.args_schema
    return input_model(tool).model_json_schema()


PATTERN_SECONDS = 1.0
"""Longest a schema's regular expression may take on one value (a server's pattern such as
`^(a+)+$` could otherwise backtrack for ever)."""
_NO_REMOTE_SCHEMAS: referencing.Registry[Any] = referencing.Registry()
"""References resolve inside the schema only: nothing is fetched (no retrieval function)."""


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
        return sanitize(" ".join(f"{where}: {exc.message}".split()))[:200]
    except Exception as exc:  # an unresolvable reference, or anything else it trips on
        return sanitize(" ".join(f"{type(exc).__name__}: {exc}".split()))[:200]
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
        why = sanitize(" ".join(str(exc).split()))[:200] or type(exc).__name__
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


class TransientToolError(Exception):
    """A failure worth retrying (HTTP 5xx, timeouts); anything else fails at once."""


async def _invoke(
    tool: BaseTool, args: Mapping[str, object], retries: int, backoff: float
) -> tuple[bool, str]:
    """Call the tool, retrying transient failures; any failure becomes an ERROR text."""
    raw = ""
    for attempt in range(retries + 1):
        try:
            return True, str(await tool.ainvoke(dict(args)))
        except TransientToolError as exc:
            raw = f"ERROR: {exc} (after {attempt + 1} attempts)"
            if attempt < retries:
                await asyncio.sleep(backoff * 2**attempt)
        except Exception as exc:  # a tool failure is an observation for the model
            return False, f"ERROR: {type(exc).__name__}: {exc}"
    return False, raw


def _target_of(workspace: str, args: Mapping[str, object]) -> str | None:
    """The workspace file a call acts on (its `path` argument), relative, or None."""
    path = args.get("path")
    if not isinstance(path, str):
        return None
    try:
        return relative_name(workspace, resolve_in_workspace(workspace, path))
    except (OSError, WorkspaceError):
        return None


def _one_at_a_time(target: str | None) -> AbstractAsyncContextManager[object]:
    """The lock of one workspace file for this event loop (no lock for calls without one).

    Held from the journal's `started` entry to its completion, so a file has at most one
    unfinished action at any moment, and that action made the file's last change: after a
    crash, the expected digest tells for sure whether the effect happened.
    """
    if target is None:
        return nullcontext()
    locks = _target_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(target, asyncio.Lock())


def evidence(
    journal: Journal, entry: JournalEntry, workspace: str, target: str | None = None
) -> tuple[bool, str] | None:
    """(ok, observation) of a started action that had in fact finished before a crash: the
    file is at the digest it was to have, or the code run left a receipt. None: it had not."""
    path = entry.target or target
    digest = entry.expected_digest
    if digest and path is not None and file_digest(workspace, path) == digest:
        return True, f"{entry.tool} on {path} had completed before an interruption"
    return recovered(journal.receipt_dir(entry.key))


def settle_unfinished(journal: Journal, thread_id: str, workspace: str) -> int:
    """Before a thread continues, record as completed every action of it that had finished
    before a crash (while nothing else can have changed its file yet); return how many."""
    settled = 0
    for entry in journal.unfinished(thread_id):
        found = evidence(journal, entry, workspace)
        if found is not None:
            journal.complete(entry.key, sanitize(found[1]))
            settled += 1
        journal.discard_receipt(entry.key)
    return settled


async def _journaled(
    journal: Journal,
    key: str,
    *,
    tool: BaseTool,
    args: Mapping[str, object],
    workspace: str,
    thread_id: str,
    step_id: str,
    retries: int,
    backoff: float,
    rerun_after_crash: bool,
) -> tuple[bool, str]:
    """Run a side-effecting call at most once per idempotency key, across crashes.

    A call whose outcome is saved (its receipt) before the journal records it is not made again
    after a crash in between; a call interrupted mid-way is made again only when its tool may
    be repeated (`rerun_after_crash`), and otherwise becomes an error observation."""
    target = await asyncio.to_thread(_target_of, workspace, args)
    async with _one_at_a_time(target):
        entry = await asyncio.to_thread(journal.get, key)
        known = await _known_outcome(
            journal, key, entry, tool.name, workspace, target, rerun_after_crash
        )
        if known is not None:
            return known
        return await _act(
            journal,
            key,
            tool=tool,
            args=args,
            target=target,
            workspace=workspace,
            thread_id=thread_id,
            step_id=step_id,
            retries=retries,
            backoff=backoff,
        )


async def _known_outcome(
    journal: Journal,
    key: str,
    entry: JournalEntry | None,
    tool_name: str,
    workspace: str,
    target: str | None,
    rerun_after_crash: bool,
) -> tuple[bool, str] | None:
    """The outcome of an action the journal has seen: recorded, or found after a crash (the
    file's digest, a receipt); for an interrupted call that may not be repeated, an error
    observation. None: the action is to be made."""
    if entry is None:
        return None
    if entry.status == "completed" and entry.observation is not None:
        return not entry.observation.startswith("ERROR"), entry.observation + ALREADY_RAN
    found = await asyncio.to_thread(evidence, journal, entry, workspace, target)
    if found is not None:
        await asyncio.to_thread(journal.complete, key, sanitize(found[1]))
        await asyncio.to_thread(journal.discard_receipt, key)
        return found[0], found[1] + ALREADY_RAN
    if not rerun_after_crash:
        unknown = UNKNOWN_EFFECT.format(tool=tool_name)
        await asyncio.to_thread(journal.complete, key, unknown)
        return False, unknown
    return None


async def _act(
    journal: Journal,
    key: str,
    *,
    tool: BaseTool,
    args: Mapping[str, object],
    target: str | None,
    workspace: str,
    thread_id: str,
    step_id: str,
    retries: int,
    backoff: float,
) -> tuple[bool, str]:
    """Journal the call as started, make it, keep its outcome, journal it as completed."""
    expected = await asyncio.to_thread(planned_digest, workspace, tool.name, args)
    await asyncio.to_thread(journal.discard_receipt, key)  # a killed attempt's leftovers
    await asyncio.to_thread(
        journal.start,
        key,
        thread_id=thread_id,
        step_id=step_id,
        tool=tool.name,
        expected_digest=expected,
        target=target,
    )
    failpoint(ACTION_STARTED, tool.name)
    receipt_dir = journal.receipt_dir(key)
    receipt = action_receipt.set(receipt_dir)
    try:
        ok, raw = await _invoke(tool, args, retries, backoff)
    finally:
        action_receipt.reset(receipt)
    # The outcome outlives a crash before the journal has it (file tools leave a digest
    # instead, and run_python saves its own).
    if expected is None and not await asyncio.to_thread(has_outcome, receipt_dir):
        await asyncio.to_thread(save_outcome, receipt_dir, ok, sanitize(raw), exact=True)
    failpoint(ACTION_DONE, tool.name)
    await asyncio.to_thread(journal.complete, key, sanitize(raw))
    failpoint(ACTION_COMPLETED, tool.name)
    await asyncio.to_thread(journal.discard_receipt, key)
    return ok, raw


async def run_tool(
    tools: Mapping[str, BaseTool],
    name: str,
    args: Mapping[str, object],
    *,
    limit: int,
    workspace: str,
    thread_id: str,
    step_id: str = "",
    side_effect: bool = False,
    rerun_after_crash: bool = True,
    retries: int = 2,
    backoff_seconds: float = 0.5,
) -> ToolOutcome:
    """Run one tool call; unknown tools, bad args and tool exceptions become error outcomes.

    Output is sanitised and clipped to `limit` characters (the full text becomes an artifact);
    transient failures are retried with exponential backoff. Side-effecting calls go through
    the run's journal (when one is active), so a replayed step never acts twice; a call
    interrupted by a crash is repeated only when `rerun_after_crash` allows it.
    """
    tool = tools.get(name)
    if tool is None:
        return ToolOutcome(False, f"ERROR: unknown tool {name!r}; available: {', '.join(tools)}")
    problem = await asyncio.to_thread(validate_args, tool, args)  # a schema is outside content
    if problem:
        return ToolOutcome(False, f"ERROR: {problem}")
    journal = active_journal.get()
    if side_effect and journal is not None:
        key = idempotency_key(thread_id, step_id, name, args)
        ok, raw = await _journaled(
            journal,
            key,
            tool=tool,
            args=args,
            workspace=workspace,
            thread_id=thread_id,
            step_id=step_id,
            retries=retries,
            backoff=backoff_seconds,
            rerun_after_crash=rerun_after_crash,
        )
    else:
        ok, raw = await _invoke(tool, args, retries, backoff_seconds)
    observation = await asyncio.to_thread(
        clip, sanitize(raw), limit, workspace=workspace, thread_id=thread_id, label=name
    )
    return ToolOutcome(ok, observation.text, observation.artifacts)
