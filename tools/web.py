"""web_search (Tavily) and fetch_url: web content, always delimited as untrusted data."""

from __future__ import annotations

from langchain_core.tools import tool


@tool
async def web_search(query: str) -> str:
    """Search the web; returns titles, URLs and snippets of the best results.

    Args:
        query: What to search for, as a search engine query.
    """
    raise NotImplementedError("web_search is being built")


@tool
async def fetch_url(url: str) -> str:
    """Fetch a web page and return its readable text.

    Args:
        url: The http(s) URL of the page.
    """
    raise NotImplementedError("fetch_url is being built")
