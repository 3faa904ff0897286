"""`ChatOpenAI` as planloop sends it to any OpenAI-compatible server (imported only when a real
model is built: langchain-openai is heavy).

Two things differ from ChatOpenAI's own request body:

- The completion cap. ChatOpenAI always renames `max_tokens` to `max_completion_tokens`, the
  name OpenAI's own API wants; llama.cpp's llama-server (and other compatible servers) read only
  `max_tokens` and would generate without a cap. Off OpenAI's API the cap goes as `max_tokens`.
- `response_format`. ChatOpenAI sends any request carrying it through the SDK's beta `parse`
  endpoints (a streamed one among them), which raise on a reply cut off by the cap before
  planloop can see it. planloop's plain dict goes in the request body as it is, through the
  ordinary (streaming) path, so usage, `finish_reason` and the text arrive as for any reply.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from langchain_core.language_models import LanguageModelInput
from langchain_openai import ChatOpenAI

OPENAI_HOSTS = ("api.openai.com",)


def is_openai_api(base_url: str | None) -> bool:
    """True for OpenAI's own API (no base URL, or one on its host)."""
    return not base_url or (urlparse(base_url).hostname or "") in OPENAI_HOSTS


class CompatChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose request body every OpenAI-compatible server reads as planloop means it."""

    def _get_request_payload(
        self,
        input_: LanguageModelInput,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload and not is_openai_api(self.openai_api_base):
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        if "response_format" in payload:
            extra = dict(payload.get("extra_body") or {})
            extra["response_format"] = payload.pop("response_format")
            payload["extra_body"] = extra
        return payload
