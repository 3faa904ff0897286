"""Plain-HTTP page fetching: an SSRF guard, a byte cap, a deadline, and HTML-to-text.

The guard resolves the host once per hop, refuses it unless every address is public, and then
connects to that checked address (Host header and TLS SNI keep the name), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot reach a private address.
Redirects are followed by hand, at most `MAX_REDIRECTS`, each hop checked again. When an
environment proxy applies, the proxy connects for us: the check still runs, but cannot be pinned.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.request
from dataclasses import dataclass

import httpx

from tools.runner import TransientToolError

MAX_REDIRECTS = 5
RETRIED_STATUSES = frozenset({408, 429})
"""Client errors worth a retry (timeouts, rate limits); other 4xx are final, 5xx retried."""
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IPAddress) -> bool:
    """True for globally routable unicast addresses (IPv4 inside IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IP literals resolve to themselves)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def checked_address(url: httpx.URL) -> str:
    """The address to connect to for `url`, if its host resolves only to public addresses."""
    host = url.raw_host.decode("ascii")
    if not host:
        raise ValueError(f"no host in URL {url}")
    addresses = await resolve(host, _port(url))
    for text in addresses:
        if not is_public(ipaddress.ip_address(text)):
            raise ValueError(
                f"refusing to fetch {url}: {host} is a private or local address ({text}); "
                "only public web pages can be fetched"
            )
    if not addresses:
        raise ValueError(f"cannot resolve {host}")
    return addresses[0]


async def points_inward(url: httpx.URL) -> bool:
    """True when the host of `url` resolves to a non-public address (False if it cannot resolve)."""
    try:
        addresses = await resolve(url.raw_host.decode("ascii"), _port(url))
    except ValueError:
        return False
    return any(not is_public(ipaddress.ip_address(text)) for text in addresses)


def _proxied(url: httpx.URL) -> bool:
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.raw_host.decode("ascii"))


def parse_web_url(url: str | httpx.URL) -> httpx.URL:
    """`url` as an absolute http(s) URL, or a ValueError saying why not."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL {url!s}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError(f"only http:// and https:// URLs can be fetched, not {url!s}")
    return parsed


@dataclass
class Page:
    """A downloaded page body (possibly cut at the byte cap) and how to read it."""

    url: httpx.URL
    kind: str
    charset: str | None
    body: bytes
    cut: bool


def _status_error(url: httpx.URL, status: int) -> Exception:
    message = f"{url} answered HTTP {status}"
    if status >= 500 or status in RETRIED_STATUSES:
        return TransientToolError(message)
    return ValueError(message)


async def _hop(
    client: httpx.AsyncClient, url: httpx.URL, *, max_bytes: int, allow_private: bool
) -> Page | httpx.URL:
    """One request: the page, or the URL a redirect points to."""
    target = url
    headers: dict[str, str] = {}
    extensions: dict[str, object] = {}
    if not allow_private:
        address = await checked_address(url)
        if not _proxied(url):
            target = url.copy_with(host=address)
            headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = url.raw_host.decode("ascii")
    async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
        if response.is_redirect and "location" in response.headers:
            return parse_web_url(url.join(response.headers["location"]))
        if response.status_code >= 300:
            raise _status_error(url, response.status_code)
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and not is_text_type(kind):
            raise ValueError(f"{url} is {kind}, not a text page; fetch_url reads text only")
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decompressed, so the cap also bounds bombs
            body += chunk
            if len(body) > max_bytes:
                break
        cut = len(body) > max_bytes
        return Page(url, kind, response.charset_encoding, bytes(body[:max_bytes]), cut)


def is_text_type(kind: str) -> bool:
    """Content types fetch_url reads: HTML, any text/*, JSON and XML."""
    return kind in HTML_TYPES or kind.startswith("text/") or kind.endswith(("json", "xml"))


async def download(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> Page:
    """GET `url` within `timeout` seconds, following up to 5 redirects, each hop checked."""
    current = parse_web_url(url)
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                hop = await _hop(client, current, max_bytes=max_bytes, allow_private=allow_private)
                if isinstance(hop, Page):
                    return hop
                current = hop
    except (TimeoutError, httpx.TimeoutException):
        raise TransientToolError(f"fetching {current} timed out after {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise TransientToolError(f"cannot fetch {current} ({type(exc).__name__})") from exc
    raise ValueError(f"{url} redirects more than {MAX_REDIRECTS} times")


def html_to_text(html: str | bytes) -> str:
    """Readable main text of an HTML page (scripts, navigation and boilerplate removed).

    Bytes are decoded by trafilatura, which honours the page's own `<meta charset>`.
    """
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    if text is None:  # no main content found: fall back to all visible text
        text = trafilatura.html2txt(html)
    return str(text or "")


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def page_text(page: Page) -> str:
    """The readable text of a downloaded page; binary bodies are refused."""
    if b"\x00" in page.body[:1024]:
        raise ValueError(f"{page.url} is binary content, not a text page")
    looks_html = page.body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
    if page.kind in HTML_TYPES or (not page.kind and looks_html):
        text = html_to_text(_decode(page.body, page.charset) if page.charset else page.body)
    else:
        text = _decode(page.body, page.charset)
    note = f"\n[... page cut at {len(page.body)} bytes]" if page.cut else ""
    return text + note


async def fetch_readable(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> str:
    """Fetch `url` over plain HTTP(S) and return its readable text."""
    page = await download(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private)
    return await asyncio.to_thread(page_text, page)
