"""A local stand-in for the Tavily API (POST /search, POST /extract) behind TAVILY_API_BASE_URL.

with TavilyStandIn(results=[...], by_query={"otters": [...]}, pages={url: text}) as tavily:
    monkeypatch.setenv("TAVILY_API_BASE_URL", tavily.base_url)
    tavily.fail(500, times=2)   # the next two requests answer HTTP 500
    ...
    tavily.requests             # every request: path, JSON body, the API key it carried
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Request:
    """One request the stand-in received."""

    path: str
    body: dict[str, Any]
    api_key: str
    """The bearer token of the Authorization header ("" without one)."""


class TavilyStandIn:
    """Serves Tavily-shaped JSON from scripted data at `base_url` while the `with` block runs."""

    def __init__(
        self,
        results: list[dict[str, Any]] | None = None,
        *,
        by_query: dict[str, list[dict[str, Any]]] | None = None,
        pages: dict[str, str] | None = None,
    ) -> None:
        self.results = results or []
        """Search results for any query not in `by_query`."""
        self.by_query = by_query or {}
        self.pages = pages or {}
        """Extracted text by URL; other URLs come back as failed results."""
        self.requests: list[Request] = []
        self.failures: list[int] = []
        """HTTP statuses to answer the next requests with, in order, before succeeding."""
        self.hang = 0
        """Next requests that get no answer until the stand-in stops (the client times out)."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next `times` requests with HTTP `status`."""
        with self._lock:
            self.failures += [status] * times

    def count(self, path: str) -> int:
        """How many requests went to `path`."""
        return sum(1 for r in self.requests if r.path == path)

    def __enter__(self) -> TavilyStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()  # releases hanging requests
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, path: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request (recorded first)."""
        with self._lock:
            self.requests.append(Request(path, body, auth.removeprefix("Bearer ").strip()))
            hang = self.hang > 0
            self.hang -= 1 if hang else 0
            status = self.failures.pop(0) if self.failures and not hang else 200
        if hang:
            self._stopping.wait()
            return 503, {"detail": {"error": "stand-in stopped"}}
        if status != 200:
            return status, {"detail": {"error": f"scripted failure {status}"}}
        if path == "/search":
            query = str(body.get("query", ""))
            results = self.by_query.get(query, self.results)
            return 200, {
                "query": query,
                "answer": None,
                "images": [],
                "results": results[: int(body.get("max_results") or 5)],
                "response_time": 0.01,
            }
        if path == "/extract":
            urls = body.get("urls")
            urls = [urls] if isinstance(urls, str) else list(urls or [])
            found = [
                {"url": u, "raw_content": self.pages[u], "images": []}
                for u in urls
                if u in self.pages
            ]
            failed = [{"url": u, "error": "cannot fetch"} for u in urls if u not in self.pages]
            return 200, {"results": found, "failed_results": failed, "response_time": 0.01}
        return 404, {"detail": {"error": "no such endpoint"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read `requests`."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = stand_in.answer(
                    self.path, body, self.headers.get("Authorization", "")
                )
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

        return Handler
