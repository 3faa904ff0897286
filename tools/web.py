"""web_search (Tavily) and fetch_url: web content, always delimited as untrusted data."""

from __future__ import annotations

import os

import httpx
from langchain_core.tools import tool

from tools.fetch import fetch_readable
from tools.registry import TransientToolError
from tools.runtime import current_context
from tools.sanitize import sanitize, wrap_untrusted

SNIPPET_CHARS = 300
MAX_PAGE_CHARS = 200_000


def _tavily_client() -> object:
    from tavily import AsyncTavilyClient

    key = os.environ.get("TAVILY_API_KEY")
    if not key:
        raise ValueError("web_search needs TAVILY_API_KEY")
    base = os.environ.get("TAVILY_API_BASE_URL") or None
    return AsyncTavilyClient(api_key=key, api_base_url=base)


def translate_tavily_error(exc: Exception) -> Exception:
    """Transient failures (timeouts, 5xx, rate limits, connection errors) are retried."""
    import tavily.errors as tavily_errors

    if isinstance(exc, tavily_errors.TimeoutError | httpx.TransportError):
        return TransientToolError(f"search service unavailable ({type(exc).__name__})")
    if isinstance(exc, tavily_errors.UsageLimitExceededError):
        return TransientToolError("search service rate limit (HTTP 429)")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status >= 500:
            return TransientToolError(f"search service failed (HTTP {status})")
        return ValueError(f"search service refused the request (HTTP {status})")
    if isinstance(exc, tavily_errors.InvalidAPIKeyError):
        return ValueError("search service rejected TAVILY_API_KEY (HTTP 401)")
    if isinstance(exc, tavily_errors.BadRequestError | tavily_errors.ForbiddenError):
        return ValueError(f"search service refused the request: {exc}")
    return exc


def format_results(query: str, results: list[dict[str, object]]) -> str:
    """Compact, source-tagged results: title, URL, snippet."""
    if not results:
        return wrap_untrusted(f"web_search: {query}", "(no results)")
    lines = []
    for number, item in enumerate(results, 1):
        snippet = " ".join(str(item.get("content") or "").split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1] + "…"
        lines += [f"[{number}] {item.get('title') or '(untitled)'}", f"    {item.get('url')}"]
        lines.append(f"    {snippet}")
    return wrap_untrusted(f"web_search: {query}", sanitize("\n".join(lines)))


@tool
async def web_search(query: str) -> str:
    """Search the web; returns titles, URLs and snippets of the best results.

    Args:
        query: What to search for, as a search engine query.
    """
    context = current_context()
    client = _tavily_client()
    try:
        response = await client.search(  # type: ignore[attr-defined]
            query, max_results=context.search_max_results, timeout=context.web_timeout_seconds
        )
    except Exception as exc:
        raise translate_tavily_error(exc) from exc
    return format_results(query, list(response.get("results") or []))


async def _tavily_extract(url: str, timeout: float) -> str | None:
    client = _tavily_client()
    try:
        response = await client.extract(url, timeout=timeout)  # type: ignore[attr-defined]
    except Exception as exc:
        raise translate_tavily_error(exc) from exc
    found = response.get("results") or []
    return str(found[0].get("raw_content") or "") if found else None


@tool
async def fetch_url(url: str) -> str:
    """Fetch a web page and return its readable text.

    Args:
        url: The http(s) URL of the page.
    """
    context = current_context()
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("only http:// and https:// URLs can be fetched")
    text = None
    if os.environ.get("TAVILY_API_KEY"):
        text = await _tavily_extract(url, context.web_timeout_seconds)
    if text is None:
        text = await fetch_readable(
            url,
            timeout=context.web_timeout_seconds,
            max_bytes=context.fetch_max_bytes,
            allow_private=context.allow_private_urls,
        )
    text = sanitize(text)[:MAX_PAGE_CHARS]
    return wrap_untrusted(url, text or "(the page has no readable text)")
