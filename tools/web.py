"""web_search (Tavily) and fetch_url: web content, always delimited as untrusted data.

Failures of the Tavily API are translated for `run_tool`: timeouts, connection errors, HTTP 5xx
and 429 (rate limit) raise `TransientToolError` and are retried with backoff; a rejected key
(401), a bad request (400), a forbidden or over-plan request (403, 432, 433) and other 4xx fail
at once with a message the model can act on. `fetch_url` follows the same rule for plain HTTP.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from langchain_core.tools import tool

from tools.fetch import checked_address, fetch_readable, parse_web_url, points_inward
from tools.runner import TransientToolError
from tools.runtime import current_context
from tools.sanitize import sanitize, wrap_untrusted

SNIPPET_CHARS = 300
TITLE_CHARS = 150
MAX_PAGE_CHARS = 200_000
"""Most characters fetch_url returns (run_tool clips further and keeps the rest as an artifact)."""
TAVILY_MAX_RESULTS = 20


def _tavily_client() -> Any:
    """A Tavily client for this call: key and base URL are read from the environment now."""
    from tavily import AsyncTavilyClient

    key = os.environ.get("TAVILY_API_KEY")
    if not key:
        raise ValueError("web search needs TAVILY_API_KEY, which is not set")
    base = os.environ.get("TAVILY_API_BASE_URL") or None
    return AsyncTavilyClient(api_key=key, api_base_url=base)


def translate_tavily_error(exc: Exception) -> Exception:
    """The exception `run_tool` should see: `TransientToolError` when a retry may help."""
    import tavily.errors as tavily_errors

    if isinstance(exc, tavily_errors.TimeoutError | httpx.TimeoutException):
        return TransientToolError("the search service timed out")
    if isinstance(exc, httpx.TransportError):
        return TransientToolError(f"cannot reach the search service ({type(exc).__name__})")
    if isinstance(exc, tavily_errors.UsageLimitExceededError):
        return TransientToolError(f"the search service is rate limiting (HTTP 429): {exc}")
    if isinstance(exc, tavily_errors.InvalidAPIKeyError):
        return ValueError("the search service rejected TAVILY_API_KEY (HTTP 401)")
    if isinstance(exc, tavily_errors.BadRequestError):
        return ValueError(f"the search service refused the request (HTTP 400): {exc}")
    if isinstance(exc, tavily_errors.ForbiddenError):
        return ValueError(f"the search service refused access (HTTP 403/432/433): {exc}")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status >= 500:
            return TransientToolError(f"the search service failed (HTTP {status})")
        return ValueError(f"the search service refused the request (HTTP {status})")
    return exc


def _one_line(value: object, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_results(query: str, results: list[dict[str, Any]]) -> str:
    """Compact, source-tagged results: `[n] title`, URL, snippet; never raw JSON."""
    lines = []
    for number, item in enumerate(results, 1):
        lines.append(f"[{number}] {_one_line(item.get('title'), TITLE_CHARS) or '(untitled)'}")
        lines.append(f"    {_one_line(item.get('url'), 500)}")
        lines.append(f"    {_one_line(item.get('content'), SNIPPET_CHARS)}")
    body = "\n".join(lines) if lines else "(no results)"
    return wrap_untrusted(f"web_search: {_one_line(query, 200)}", sanitize(body))


@tool
async def web_search(query: str) -> str:
    """Search the web; returns the title, URL and a snippet of each of the best results.

    Args:
        query: What to search for, as a search engine query, e.g. `sea otter tool use`.
    """
    context = current_context()
    if not query.strip():
        raise ValueError("the query is empty")
    max_results = max(1, min(context.search_max_results, TAVILY_MAX_RESULTS))
    async with _tavily_client() as client:
        try:
            response: dict[str, Any] = await client.search(
                query, max_results=max_results, timeout=context.web_timeout_seconds
            )
        except Exception as exc:
            raise translate_tavily_error(exc) from exc
    results = [r for r in response.get("results") or [] if isinstance(r, dict)]
    return format_results(query, results[:max_results])


async def _tavily_extract(url: str, timeout: float) -> str | None:
    """The page text Tavily extracted, or None when Tavily could not read the page."""
    async with _tavily_client() as client:
        try:
            response: dict[str, Any] = await client.extract(url, timeout=timeout)
        except Exception as exc:
            raise translate_tavily_error(exc) from exc
    found = [r for r in response.get("results") or [] if isinstance(r, dict)]
    text = str(found[0].get("raw_content") or "") if found else ""
    return text if text.strip() else None


@tool
async def fetch_url(url: str) -> str:
    """Fetch a web page and return its readable text (long pages are saved in full as a file).

    Args:
        url: The http:// or https:// URL of the page, e.g. one a web_search result listed.
    """
    context = current_context()
    inward = await points_inward(parse_web_url(url))
    if inward and not context.allow_private_urls:
        await checked_address(parse_web_url(url))  # raises: refusing a private or local address
    text = None
    if os.environ.get("TAVILY_API_KEY") and not inward:  # internal URLs never go to Tavily
        text = await _tavily_extract(url, context.web_timeout_seconds)
    if text is None:  # no key, or Tavily could not read it: plain HTTP (with the SSRF guard)
        text = await fetch_readable(
            url,
            timeout=context.web_timeout_seconds,
            max_bytes=context.fetch_max_bytes,
            allow_private=context.allow_private_urls,
        )
    text = sanitize(text)
    if len(text) > MAX_PAGE_CHARS:
        text = text[:MAX_PAGE_CHARS] + f"\n[... page text cut at {MAX_PAGE_CHARS} characters]"
    return wrap_untrusted(url, text if text.strip() else "(the page has no readable text)")
