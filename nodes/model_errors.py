"""How the model seam reads a failed model call: the planloop error it becomes (one line, see
`nodes.errors`), and whether the request may simply be sent again."""

from __future__ import annotations

from pydantic import ValidationError

from nodes.context import Context
from nodes.errors import ModelConfigError, ModelRequestRejectedError, ModelUnavailableError

RESENDABLE_STATUS = frozenset({429, 502, 503})
"""HTTP statuses that say "try again shortly" without the request having been worked on."""


def translate(exc: Exception, context: Context) -> Exception:
    """Map provider exceptions to planloop errors with a one-line message."""
    import openai

    where = context.base_url or "the OpenAI API"
    if isinstance(exc, ValidationError):  # e.g. a tool call whose args are not an object
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ModelUnavailableError(
            f"the model at {where} sent a reply planloop cannot read ({first})"
        )
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return ModelUnavailableError(
            f"model server at {where} timed out (no reply within {context.request_timeout:g} s)"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailableError(f"cannot reach the model server at {where}")
    if isinstance(exc, openai.AuthenticationError):
        return ModelConfigError(f"the model server at {where} rejected the API key")
    if isinstance(exc, openai.NotFoundError):
        return ModelConfigError(f"model {context.model!r} not found at {where}")
    if isinstance(exc, openai.BadRequestError):
        return ModelRequestRejectedError(
            f"model server at {where} rejected the request (HTTP 400): {one_line(exc)[:200]}"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelUnavailableError(f"model server at {where} answered HTTP {exc.status_code}")
    if isinstance(exc, openai.APIError):  # an error event in the middle of a streamed reply
        return ModelUnavailableError(f"model server at {where} failed: {one_line(exc)[:200]}")
    return exc


def one_line(exc: Exception) -> str:
    """An exception's message with its whitespace (newlines too) collapsed."""
    return " ".join(str(exc).split())


def resendable(exc: Exception) -> bool:
    """Whether a failed request may simply be sent again: the connection was refused or
    reset, or the server said it is overloaded or restarting (HTTP 429, 502, 503). Never a
    timeout: the server is busy generating, and a resend would start that over."""
    import openai

    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in RESENDABLE_STATUS
