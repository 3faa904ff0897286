"""Plain-HTTP page fetching with an SSRF guard, a size cap and HTML-to-text extraction."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from tools.registry import TransientToolError

MAX_REDIRECTS = 5
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")


async def check_public(url: str) -> None:
    """Refuse URLs whose host resolves to loopback, private, link-local or reserved addresses."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host in URL {url!r}")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise ValueError(
                f"refusing to fetch {url}: {host} is a private or local address ({address})"
            )


def html_to_text(html: str) -> str:
    """Readable main text of an HTML page (scripts, navigation and boilerplate removed)."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    return text or ""


async def _download(
    client: httpx.AsyncClient, url: str, max_bytes: int
) -> tuple[httpx.Response, bytes, bool]:
    async with client.stream("GET", url) as response:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                return response, bytes(body[:max_bytes]), True
        return response, bytes(body), False


async def fetch_readable(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> str:
    """Fetch `url` (following up to 5 redirects, each re-checked) and return readable text."""
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if not allow_private:
                await check_public(url)
            try:
                response, body, cut = await _download(client, url, max_bytes)
            except httpx.TransportError as exc:
                raise TransientToolError(f"cannot fetch {url} ({type(exc).__name__})") from exc
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            break
        else:
            raise ValueError(f"more than {MAX_REDIRECTS} redirects")
    if response.status_code >= 500:
        raise TransientToolError(f"{url} answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise ValueError(f"{url} answered HTTP {response.status_code}")
    kind = response.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if not kind.startswith(TEXT_TYPES):
        raise ValueError(f"{url} is {kind}, not a text page")
    text = body.decode(response.encoding or "utf-8", errors="replace")
    readable = html_to_text(text) if "html" in kind else text
    note = f"\n[... page cut at {max_bytes} bytes]" if cut else ""
    return readable + note
