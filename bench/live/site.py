"""A local stand-in website for goals that read the web: loopback only, started by the suite.

It listens on a fixed port (default `DEFAULT_PORT`) so that a recorded run, whose model replies
contain the URLs it fetched, replays against the same addresses.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_PORT = 8779

SHOP_ITEMS = {"Red Widget": "12.50", "Blue Widget": "17.25", "Green Gadget": "8.99"}
TEAM = [
    ("Mara Lindqvist", "Berlin"),
    ("Tomás Ortega", "Lisbon"),
    ("Anika Brandt", "Berlin"),
    ("Kofi Mensah", "Accra"),
    ("Jonas Weber", "Berlin"),
]


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a> | <a href='/shop.html'>Shop</a></nav>"
        f"<main><h1>{title}</h1>{body}</main><footer>(c) Example Co</footer></body></html>"
    )


def _shop() -> str:
    rows = "".join(
        f"<tr><td>{name}</td><td>EUR {price}</td></tr>" for name, price in SHOP_ITEMS.items()
    )
    return _page(
        "Example Co shop",
        "<p>Our current prices, including VAT.</p>"
        f"<table><tr><th>Product</th><th>Price</th></tr>{rows}</table>",
    )


def _team() -> str:
    items = "".join(f"<li>{name} ({office} office)</li>" for name, office in TEAM)
    return _page("Our team", f"<p>The people behind Example Co.</p><ul>{items}</ul>")


PAGES = {
    "/": _page("Example Co", "<p>Welcome. See our shop and our team.</p>"),
    "/shop.html": _shop(),
    "/team.html": _team(),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = PAGES.get(self.path.split("?")[0])
        body = (page or _page("Not found", "<p>No such page.</p>")).encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the suite's output is the table."""


@dataclass(frozen=True)
class Site:
    """A running stand-in site."""

    base_url: str


@contextmanager
def serve_site(port: int = DEFAULT_PORT) -> Iterator[Site]:
    """Serve `PAGES` on 127.0.0.1:`port` in a thread for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
