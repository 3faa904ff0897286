"""Recording model calls at the seam: `recording(tape)` wraps whatever model the seam would
build, and every request and its reply (or the error it raised) is appended to the tape in the
order the requests were made; a streamed call is streamed from the inner model and recorded
whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, message_to_dict
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict

from nodes.context import Context
from nodes.model_factory import current_model_factory, use_model_factory
from nodes.streaming import chunk_text, finished_message, repeated_unit, stopped_message
from nodes.tape import Exchange, Tape, describe_request, error_record


def _bound_kwargs(binding: Runnable[Any, Any]) -> dict[str, Any]:
    kwargs = getattr(binding, "kwargs", {})
    return dict(kwargs) if isinstance(kwargs, dict) else {}


class RecordingChatModel(BaseChatModel):
    """Passes every call to `inner` and appends the exchange to `tape`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    inner: BaseChatModel
    tape: Tape

    @property
    def _llm_type(self) -> str:
        return f"recording-{self.inner._llm_type}"

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind exactly what the inner model would bind (its tool format, its tool choice)."""
        return self.bind(**_bound_kwargs(self.inner.bind_tools(tools, **kwargs)))

    @contextmanager
    def _recorded(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Iterator[Exchange]:
        """The exchange of the call made in the block, appended to the tape; an error the call
        raises is written into it on its way out."""
        exchange = Exchange(request=describe_request(messages, kwargs, self.tape.workspace))
        self.tape.exchanges.append(exchange)
        try:
            yield exchange
        except BaseException as exc:
            exchange.error = error_record(exc)
            raise

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._recorded(messages, kwargs) as exchange:
            reply = self.inner.bind(**kwargs).invoke(messages, stop=stop)
        exchange.reply = message_to_dict(reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._recorded(messages, kwargs) as exchange:
            reply = await self.inner.bind(**kwargs).ainvoke(messages, stop=stop)
        exchange.reply = message_to_dict(reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Stream from the inner model (one piece when it cannot stream); record the whole.

        A reader that stops early (a reply repeating itself, `nodes.streaming`) leaves the part
        it read as the reply, cut off, so a replay serves what the run saw."""
        gathered: AIMessageChunk | None = None
        exchange = Exchange(request=describe_request(messages, kwargs, self.tape.workspace))
        self.tape.exchanges.append(exchange)
        pieces = 0
        try:
            async for piece in self.inner.bind(**kwargs).astream(messages, stop=stop):
                chunk = piece if isinstance(piece, AIMessageChunk) else _as_chunk(piece)
                gathered, pieces = chunk if gathered is None else gathered + chunk, pieces + 1
                yield ChatGenerationChunk(message=chunk)
        except GeneratorExit:
            if gathered is not None:
                unit = repeated_unit(chunk_text(gathered))
                part = stopped_message(finished_message(gathered), unit, messages, pieces)
                exchange.reply = message_to_dict(part)
            raise
        except BaseException as exc:
            exchange.error = error_record(exc)
            raise
        if gathered is not None:
            exchange.reply = message_to_dict(finished_message(gathered))


def _as_chunk(message: BaseMessage) -> AIMessageChunk:
    """A whole reply as one chunk (from a model that does not stream)."""
    if not isinstance(message, AIMessage):
        return AIMessageChunk(content=message.content)
    return AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        tool_calls=message.tool_calls,
        invalid_tool_calls=message.invalid_tool_calls,
        usage_metadata=message.usage_metadata,
        id=message.id,
    )


@contextmanager
def recording(tape: Tape) -> Iterator[Tape]:
    """Record every model call made through the seam inside the block into `tape`."""
    inner_factory = current_model_factory()

    def factory(context: Context) -> BaseChatModel:
        return RecordingChatModel(inner=inner_factory(context), tape=tape)

    with use_model_factory(factory):
        yield tape
