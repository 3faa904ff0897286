"""Which chat model the seam (`nodes.llm`) talks to: by default a `ChatOpenAI` for any
OpenAI-compatible server, built per call from the run's settings; tests and custom providers
swap the factory with `use_model_factory()`. Also the check, before a run, that a model can be
reached at all, and the embedding model of the memory store's vector index."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from langchain_core.language_models import BaseChatModel

from nodes.context import Context
from nodes.errors import ModelConfigError

ModelFactory = Callable[[Context], BaseChatModel]

PLACEHOLDER_KEY = "not-needed"
"""The API key sent to a server that needs none (the OpenAI client insists on one)."""


def _openai_model(context: Context) -> BaseChatModel:
    from nodes.openai_compat import CompatChatOpenAI

    check_model_config(context)
    api_key = os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
    return CompatChatOpenAI(
        model=context.model,
        base_url=context.base_url,
        api_key=api_key,  # type: ignore[arg-type]
        temperature=context.temperature,
        timeout=context.request_timeout,
        # planloop resends only what is safe to resend (`resendable`): a timed-out request
        # would be generated again from the start, doubling the wait.
        max_retries=0,
        stream_usage=True,  # streamed replies report their token usage too
        stream_chunk_timeout=context.request_timeout,
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
