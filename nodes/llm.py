"""The one seam through which planloop talks to chat models.

`chat_model()` builds the run's model (`nodes.model_factory`: a `ChatOpenAI` for any
OpenAI-compatible server; tests swap the factory with `use_model_factory()`). Every call names
its `Stage`, whose completion cap is sent with it.
`invoke()` streams the reply (progress events: `nodes.streaming`), retries only what is safe
to resend, turns model failures into planloop errors with one-line messages and reports the
call's cost as a `Budget` delta; `was_truncated()` tells a reply the cap cut off.
`invoke_structured()` asks for JSON of a schema (`nodes.structured`: json_schema mode, lenient
reading) and repairs a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.tools import BaseTool
from pydantic import BaseModel

from nodes.context import Context
from nodes.deadline import OutOfTimeError, current_deadline
from nodes.errors import ModelRequestRejectedError, StructuredOutputError
from nodes.model_errors import resendable, translate
from nodes.model_factory import (
    ModelFactory,
    chat_model,
    check_model_config,
    current_model_factory,
    embedding_index,
    use_model_factory,
)
from nodes.prompts import REPAIR_PROMPT, REPEATING_PROMPT, TRUNCATED_PROMPT
from nodes.state import Budget
from nodes.streaming import CallProgress, ReplyObserver, progress_writer, stream_reply
from nodes.structured import (
    Check,
    has_root_choice,
    is_plain_json,
    note_json_schema,
    read_answer,
    response_format,
    schema_prompt,
    wants_json_schema,
)

__all__ = [  # the model factory's names are still imported from the seam
    "EXECUTE",
    "FILL",
    "FINISH",
    "GOAL_PLAN",
    "PARSE_GOAL",
    "PLAN",
    "REFLECT",
    "STAGES",
    "ModelFactory",
    "Stage",
    "chat_model",
    "check_model_config",
    "completion_cap",
    "current_model_factory",
    "embedding_index",
    "invoke",
    "invoke_structured",
    "usage_budget",
    "usage_metadata",
    "use_model_factory",
    "was_truncated",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """A kind of model call, and the most tokens its reply may have (its completion cap)."""

    name: str
    max_tokens: int


PARSE_GOAL = Stage("parse_goal", 600)
"""Objective, criteria and constraints of the goal."""
GOAL_PLAN = Stage("goal_plan", 2100)
"""The goal's analysis and its first plan in one answer."""
PLAN = Stage("plan", 1500)
"""A whole plan (step args may hold a file's content or code)."""
FILL = Stage("fill", 800)
"""The args of one planned tool call."""
EXECUTE = Stage("execute", 1200)
"""One executor turn (it may write code or a file's content)."""
REFLECT = Stage("reflect", 1300)
"""Verdicts and criteria evidence, and the final answer once every criterion is met."""
FINISH = Stage("finish", 600)
"""The final answer."""
STAGES = (PARSE_GOAL, GOAL_PLAN, PLAN, FILL, EXECUTE, REFLECT, FINISH)

REASONING_MODEL = re.compile(r"(o\d|gpt-5)(\b|[-.])")
"""Model names of OpenAI's reasoning models (o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, ...)."""

RETRY_DELAYS = (1.0, 3.0)
"""Seconds before each resend of a request that is safe to resend (`nodes.model_errors`)."""

SchemaT = TypeVar("SchemaT", bound=BaseModel)


def usage_metadata(prompt_tokens: int, completion_tokens: int) -> UsageMetadata:
    """Usage metadata of a reply, as a model reports it (fakes, replays and the benchmark's
    simulated model build theirs here)."""
    return {
        "input_tokens": prompt_tokens,
        "output_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def usage_budget(message: AIMessage, context: Context) -> Budget:
    """Budget delta of one model call, from its usage metadata."""
    usage = message.usage_metadata or usage_metadata(0, 0)
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    prompt_price, completion_price = context.prices()
    cost = (prompt * prompt_price + completion * completion_price) / 1_000_000
    return Budget(llm_calls=1, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)


def completion_cap(context: Context, stage: Stage) -> int | None:
    """The most tokens a reply of `stage` may have: `Context.max_completion_tokens` when set,
    else the stage's cap; None (no cap) for a reasoning model, whose hidden reasoning counts
    against the cap and would use up a stage's cap before its answer begins."""
    if context.max_completion_tokens:
        return context.max_completion_tokens
    return None if REASONING_MODEL.match(context.model) else stage.max_tokens


def was_truncated(message: BaseMessage) -> bool:
    """True when the completion cap cut the reply off (`finish_reason` "length"): its text is
    incomplete, and a tool call it was writing is among `invalid_tool_calls`, never run."""
    return message.response_metadata.get("finish_reason") == "length"


async def _call(
    context: Context,
    messages: Sequence[BaseMessage],
    stage: Stage,
    *,
    tools: Sequence[BaseTool] = (),
    tool_choice: str | None = None,
    options: dict[str, Any] | None = None,
    observer: ReplyObserver | None = None,
) -> AIMessage:
    """One streamed model call with the stage's cap, resent only when that is safe."""
    model = chat_model(context)
    forced = {"tool_choice": tool_choice} if tool_choice else {}
    runnable = model.bind_tools(list(tools), **forced) if tools else model
    cap = completion_cap(context, stage)
    bound = runnable.bind(**({"max_tokens": cap} if cap else {}), **(options or {}))
    progress = CallProgress(stage.name, progress_writer())
    deadline = current_deadline()
    for delay in (*RETRY_DELAYS, None):
        if deadline is not None and deadline.seconds_left() <= 0:
            raise deadline.passed()
        progress.start()
        try:
            async with asyncio.timeout(deadline.seconds_left() if deadline else None) as cut:
                reply = await stream_reply(bound, messages, progress, observer)
        except asyncio.CancelledError as exc:
            progress.failed(exc)
            raise
        except Exception as exc:
            # However the client surfaces a stream cut at the deadline, the deadline stopped it.
            if deadline is not None and cut.expired():
                progress.failed(exc)
                raise deadline.passed() from exc
            if delay is None or not resendable(exc):
                progress.failed(exc)
                translated = translate(exc, context)
                if translated is exc:
                    raise
                raise translated from exc
            logger.info("%s: model call failed (%s); sending it again", stage.name, exc)
            await asyncio.sleep(delay)
            continue
        truncated = was_truncated(reply)
        progress.done(reply, truncated)
        if truncated:
            logger.info("%s: the reply was cut off at the %s-token cap", stage.name, cap)
        return reply
    raise AssertionError("unreachable: the last attempt returns or raises")


async def invoke(
    context: Context,
    messages: Sequence[BaseMessage],
    *,
    stage: Stage,
    tools: Sequence[BaseTool] = (),
    tool_choice: str | None = None,
    resample: bool = False,
) -> tuple[AIMessage, Budget]:
    """One model call of `stage`, optionally offering tools (`tool_choice` forces one by name);
    `resample`: at `Context.retry_temperature` (the run's temperature when higher), for a
    question asked again because the model's answer at the run's repeated an earlier one.
    Returns the reply and its budget delta. A reply cut off by the stage's cap is returned as
    it is: `was_truncated(reply)` says so."""
    temperature = max(context.temperature, context.retry_temperature)
    options = {"temperature": temperature} if resample else None
    reply = await _call(
        context, messages, stage, tools=tools, tool_choice=tool_choice, options=options
    )
    return reply, usage_budget(reply, context)


async def _structured_call(
    context: Context,
    conversation: Sequence[BaseMessage],
    schema: type[BaseModel],
    stage: Stage,
    observer: ReplyObserver | None,
) -> AIMessage:
    """One call for a structured answer: in json_schema mode while the server honours it."""
    if not wants_json_schema(context):
        return await _call(context, conversation, stage, observer=observer)
    try:
        reply = await _schema_call(context, conversation, schema, stage, observer)
    except ModelRequestRejectedError as exc:
        if context.structured_output == "json_schema":
            raise
        note_json_schema(context, works=False, why=str(exc))
        return await _call(context, conversation, stage, observer=observer)
    if not was_truncated(reply):
        plain = is_plain_json(reply.text)
        note_json_schema(context, works=plain, why="" if plain else "the reply was not JSON")
    return reply


async def _schema_call(
    context: Context,
    conversation: Sequence[BaseMessage],
    schema: type[BaseModel],
    stage: Stage,
    observer: ReplyObserver | None,
) -> AIMessage:
    """A call in json_schema mode; a schema whose root is a choice, refused, is sent again as
    one object (OpenAI's API refuses a choice at the root, llama.cpp's server enforces it)."""
    try:
        options = {"response_format": response_format(schema)}
        return await _call(context, conversation, stage, options=options, observer=observer)
    except ModelRequestRejectedError:
        if not has_root_choice(schema):
            raise
    options = {"response_format": response_format(schema, flat=True)}
    return await _call(context, conversation, stage, options=options, observer=observer)


async def invoke_structured(
    context: Context,
    messages: Sequence[BaseMessage],
    schema: type[SchemaT],
    *,
    stage: Stage,
    check: Check[SchemaT] | None = None,
    advice: Check[SchemaT] | None = None,
    observer: ReplyObserver | None = None,
) -> tuple[SchemaT, Budget]:
    """Ask for JSON matching `schema`; feed validation errors back for repair, then give up.

    `check` adds rules the schema cannot express; its message is fed back like a schema error.
    `advice` is a rule worth asking about once, in the same conversation (a server's prompt
    cache serves all of it but the question): the next valid answer is taken as it is, and
    if none comes, the answer advised about stands. A reply cut off by the stage's cap gets
    one request for a shorter answer; cut off again, the call fails. `observer` reads each
    reply as it streams.
    """
    conversation = [*messages, HumanMessage(schema_prompt(schema))]
    spent = Budget()
    problem, cut_off, advised = "", False, None
    for _ in range(context.structured_retries + 1):
        try:
            reply = await _structured_call(context, conversation, schema, stage, observer)
        except OutOfTimeError as exc:
            if advised is not None:  # the question was worth asking, not worth the answer
                return advised, spent
            exc.spent += spent
            raise
        spent += usage_budget(reply, context)
        truncated = was_truncated(reply)
        answer, problem = read_answer(reply.text, schema, check, truncated=truncated)
        if answer is not None:
            question = advice(answer) if advice and advised is None else None
            if not question:
                return answer, spent
            advised = answer
            conversation = [*conversation, reply, HumanMessage(question)]
            continue
        cap = _cap_reached(reply, context, stage) if truncated else None
        if cap is not None and cut_off:
            if advised is not None:
                return advised, spent
            raise StructuredOutputError(_cut_off_twice(reply, schema, cap), spent=spent)
        cut_off = cut_off or cap is not None
        conversation, problem = _asked_again(conversation, reply, problem, cap)
    if advised is not None:
        return advised, spent
    raise StructuredOutputError(
        f"model gave no valid {schema.__name__} after {context.structured_retries + 1} "
        f"attempts (last problem: {problem})",
        spent=spent,
    )


def _cap_reached(reply: AIMessage, context: Context, stage: Stage) -> int:
    """The cap that cut `reply` off: the stage's, else (none was sent) the tokens it has."""
    return completion_cap(context, stage) or usage_budget(reply, context).completion_tokens


def _asked_again(
    conversation: list[BaseMessage], reply: AIMessage, problem: str, cap: int | None
) -> tuple[list[BaseMessage], str]:
    """The conversation that asks again after an answer that will not do, and the problem to
    report if no answer does: an invalid answer goes back with what is wrong with it; for an
    answer cut off at `cap` (None: it was not cut off) a shorter one is asked for."""
    if cap is None:
        return [*conversation, reply, HumanMessage(REPAIR_PROMPT.format(error=problem))], problem
    # The cut-off text is left out: it would only lengthen the prompt.
    unit = repeated(reply)
    if unit is not None:
        again = HumanMessage(REPEATING_PROMPT.format(unit=unit))
        return [*conversation, again], f"the answer kept repeating {unit!r}"
    truncated = HumanMessage(TRUNCATED_PROMPT.format(tokens=cap))
    return [*conversation, truncated], f"the answer was cut off at the {cap}-token cap"


def repeated(reply: BaseMessage) -> str | None:
    """The text a reply kept repeating when it was stopped for that (`nodes.streaming`)."""
    unit = reply.response_metadata.get("repeated")
    return unit if isinstance(unit, str) else None


def _cut_off_twice(reply: AIMessage, schema: type[BaseModel], cap: int) -> str:
    unit = repeated(reply)
    if unit is not None:
        return f"model's {schema.__name__} was stopped twice for repeating itself ({unit!r})"
    return (
        f"model's {schema.__name__} was cut off at the {cap}-token cap twice "
        "(raise --max-completion-tokens for longer answers)"
    )
