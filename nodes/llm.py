"""The one seam through which planloop talks to chat models.

`chat_model()` builds a `ChatOpenAI` for any OpenAI-compatible server; tests swap the factory with
`use_model_factory()`. `invoke()` and `invoke_structured()` turn model failures into planloop
errors with one-line messages and report the call's cost as a `Budget` delta.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from nodes.context import Context
from nodes.errors import (
    ModelConfigError,
    ModelRequestRejectedError,
    ModelUnavailableError,
    StructuredOutputError,
)
from nodes.jsonout import extract_json
from nodes.prompts import REPAIR_PROMPT, SCHEMA_INSTRUCTIONS
from nodes.state import Budget

SchemaT = TypeVar("SchemaT", bound=BaseModel)
ModelFactory = Callable[[Context], BaseChatModel]

PLACEHOLDER_KEY = "not-needed"


def _openai_model(context: Context) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    check_model_config(context)
    api_key = os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
    return ChatOpenAI(
        model=context.model,
        base_url=context.base_url,
        api_key=api_key,  # type: ignore[arg-type]
        temperature=context.temperature,
        timeout=context.request_timeout,
        max_retries=2,
    )


_factory: ModelFactory = _openai_model


def check_model_config(context: Context) -> None:
    """Fail before the run starts when no model can possibly be reached."""
    if _factory is not _openai_model:
        return
    if not context.base_url and not os.environ.get("OPENAI_API_KEY"):
        raise ModelConfigError(
            "OPENAI_API_KEY is not set; export it, or point OPENAI_BASE_URL/--base-url "
            "at an OpenAI-compatible server"
        )


def current_model_factory() -> ModelFactory:
    """The factory the seam uses now (so a wrapper, e.g. `nodes.replay.recording`, can wrap it)."""
    return _factory


@contextmanager
def use_model_factory(factory: ModelFactory) -> Iterator[None]:
    """Route every model call through `factory` inside the block (tests, custom providers)."""
    global _factory  # noqa: PLW0603 - the seam is deliberately process-wide
    previous, _factory = _factory, factory
    try:
        yield
    finally:
        _factory = previous


def embedding_index(context: Context) -> dict[str, object] | None:
    """The store's vector index settings when an embedding model is configured, else None."""
    if not context.memory or not context.embedding_model:
        return None
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=context.embedding_model,
        base_url=context.base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY,  # type: ignore[arg-type]
        dimensions=context.embedding_dims,
        check_embedding_ctx_length=False,
    )
    return {"dims": context.embedding_dims, "embed": embeddings, "fields": ["text"]}


def chat_model(context: Context) -> BaseChatModel:
    """The chat model for this run."""
    return _factory(context)


def usage_budget(message: AIMessage, context: Context) -> Budget:
    """Budget delta of one model call, from its usage metadata."""
    usage = message.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    prompt_price, completion_price = context.prices()
    cost = (prompt * prompt_price + completion * completion_price) / 1_000_000
    return Budget(llm_calls=1, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)


def _translate(exc: Exception, context: Context) -> Exception:
    """Map provider exceptions to planloop errors with a one-line message."""
    import openai

    where = context.base_url or "the OpenAI API"
    if isinstance(exc, ValidationError):  # e.g. a tool call whose args are not an object
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ModelUnavailableError(
            f"the model at {where} sent a reply planloop cannot read ({first})"
        )
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailableError(f"model server at {where} timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailableError(f"cannot reach the model server at {where}")
    if isinstance(exc, openai.AuthenticationError):
        return ModelConfigError(f"the model server at {where} rejected the API key")
    if isinstance(exc, openai.NotFoundError):
        return ModelConfigError(f"model {context.model!r} not found at {where}")
    if isinstance(exc, openai.BadRequestError):
        return ModelRequestRejectedError(
            f"model server at {where} rejected the request (HTTP 400): {str(exc)[:200]}"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelUnavailableError(f"model server at {where} answered HTTP {exc.status_code}")
    return exc


async def invoke(
    context: Context,
    messages: Sequence[BaseMessage],
    *,
    tools: Sequence[BaseTool] = (),
    tool_choice: str | None = None,
) -> tuple[AIMessage, Budget]:
    """One model call, optionally offering tools (`tool_choice` forces one by name); returns
    the reply and its budget delta."""
    model = chat_model(context)
    forced = {"tool_choice": tool_choice} if tool_choice else {}
    runnable = model.bind_tools(list(tools), **forced) if tools else model
    try:
        reply = await runnable.ainvoke(list(messages))
    except Exception as exc:
        translated = _translate(exc, context)
        if translated is exc:
            raise
        raise translated from exc
    if not isinstance(reply, AIMessage):
        reply = AIMessage(content=str(reply.content))
    return reply, usage_budget(reply, context)


@functools.cache
def _schema_prompt(schema: type[BaseModel]) -> str:
    """The JSON-schema instructions for `schema` (built once: schemas are fixed classes)."""
    return SCHEMA_INSTRUCTIONS.format(schema=json.dumps(schema.model_json_schema()))


async def invoke_structured(
    context: Context,
    messages: Sequence[BaseMessage],
    schema: type[SchemaT],
    *,
    check: Callable[[SchemaT], str | None] | None = None,
) -> tuple[SchemaT, Budget]:
    """Ask for JSON matching `schema`; feed validation errors back for repair, then give up.

    `check` adds rules the schema cannot express; its message is fed back like a schema error.
    """
    conversation = [*messages, HumanMessage(_schema_prompt(schema))]
    spent = Budget()
    problem = ""
    for _ in range(context.structured_retries + 1):
        reply, cost = await invoke(context, conversation)
        spent += cost
        text = reply.text
        try:
            answer = schema.model_validate(extract_json(text))
        except (ValueError, ValidationError) as exc:
            problem = _summarise_error(exc)
        else:
            problem = (check(answer) if check else None) or ""
            if not problem:
                return answer, spent
        conversation = [*conversation, reply, HumanMessage(REPAIR_PROMPT.format(error=problem))]
    raise StructuredOutputError(
        f"model gave no valid {schema.__name__} after {context.structured_retries + 1} "
        f"attempts (last problem: {problem})",
        spent=spent,
    )


def _summarise_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'root'}: {e['msg']}" for e in exc.errors()
        )[:800]
    return str(exc)[:800]
