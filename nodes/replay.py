"""Record and replay model calls at planloop's model seam (`nodes.model_factory`, whose
`use_model_factory` swaps the model every call is made with).

`recording(tape)` (`nodes.recording`; the tape and how requests and errors are written down:
`nodes.tape`) wraps whatever model the seam would build: every request (messages, offered
tools, tool choice, completion cap, response format) and its reply (or the error it raised) is
appended to `tape`, in the order the requests were made; a streamed call is streamed from the
inner model and recorded whole. `replaying(tape)` serves a tape's replies without any server, so
a recorded real-model run replays offline and deterministically.

Matching rule of a replay: a request is answered by the first unserved recorded exchange whose
request is the same (messages and tools, with the workspace path normalised; the completion cap
and response format are recorded for reading but not compared, so tapes recorded before
planloop sent them still match); when none is the
same, the first unserved exchange is served anyway (in recorded order) and a `Divergence` is
noted. Parallel steps may send their requests in a different order than when recorded; the
first rule keeps each reply with its request. A request after the tape is used up raises
`ReplayExhaustedError`: a run that asks for more model calls than the recorded one (a new loop)
fails loudly instead of hanging.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, messages_from_dict
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from nodes.model_factory import use_model_factory
from nodes.recording import RecordingChatModel, recording
from nodes.tape import Exchange, Tape, describe_request, rebuild_error, request_key

__all__ = [  # the tape and recording live in nodes.tape and nodes.recording
    "Divergence",
    "Exchange",
    "Player",
    "RecordingChatModel",
    "ReplayChatModel",
    "ReplayExhaustedError",
    "Tape",
    "recording",
    "replaying",
]


class ReplayExhaustedError(RuntimeError):
    """The replayed run asked for more model calls than were recorded."""


@dataclass
class Divergence:
    """A replayed request that differs from the recorded one it was answered with."""

    position: int
    """Index of the recorded exchange that was served."""
    detail: str


@dataclass
class Player:
    """Serves a tape's replies (see the module docstring for the matching rule)."""

    tape: Tape
    workspace: str = ""
    served: set[int] = field(default_factory=set)
    divergences: list[Divergence] = field(default_factory=list)

    def next_for(self, request: dict[str, Any]) -> Exchange:
        """The recorded exchange that answers `request`."""
        unserved = [i for i in range(len(self.tape.exchanges)) if i not in self.served]
        if not unserved:
            raise ReplayExhaustedError(
                f"the replay asked for model call {len(self.served) + 1}, but only "
                f"{len(self.tape.exchanges)} were recorded"
            )
        key = request_key(request)
        same = [i for i in unserved if request_key(self.tape.exchanges[i].request) == key]
        position = same[0] if same else unserved[0]
        if not same:
            self.divergences.append(
                Divergence(position, _first_difference(request, position, self))
            )
        self.served.add(position)
        return self.tape.exchanges[position]

    @property
    def remaining(self) -> int:
        """Recorded exchanges not served (a replay that ends early leaves some)."""
        return len(self.tape.exchanges) - len(self.served)


def _first_difference(request: dict[str, Any], position: int, player: Player) -> str:
    recorded = player.tape.exchanges[position].request
    new, old = request.get("messages", []), recorded.get("messages", [])
    for index, (a, b) in enumerate(zip(new, old, strict=False)):
        if request_key({"messages": [a]}) != request_key({"messages": [b]}):
            text = str(a.get("data", {}).get("content", ""))[:120]
            return f"message {index} differs (now: {text!r})"
    if len(new) != len(old):
        return f"{len(new)} messages now, {len(old)} recorded"
    return "offered tools or tool choice differ"


class ReplayChatModel(BaseChatModel):
    """Answers from a `Player` instead of a server."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    player: Player

    @property
    def _llm_type(self) -> str:
        return "planloop-replay"

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in the OpenAI format, as ChatOpenAI does, so requests compare equal."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = describe_request(messages, kwargs, self.player.workspace)
        exchange = self.player.next_for(request)
        if exchange.reply is None:
            raise rebuild_error(exchange.error or {"type": "Unfinished", "message": "no reply"})
        reply = messages_from_dict([exchange.reply])[0]
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """On the event loop (not a worker thread), so parallel steps take turns in order."""
        return self._generate(messages, stop, None, **kwargs)


@contextmanager
def replaying(tape: Tape, workspace: str = "") -> Iterator[Player]:
    """Serve `tape`'s replies to every model call made through the seam inside the block."""
    player = Player(tape=tape, workspace=workspace)
    with use_model_factory(lambda _context: ReplayChatModel(player=player)):
        yield player
