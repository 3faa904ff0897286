"""A local stand-in for the Tavily API (POST /search, POST /extract) behind TAVILY_API_BASE_URL."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class TavilyStandIn:
    """`with TavilyStandIn(results=..., pages=...) as tavily:` serves at `tavily.base_url`."""

    def __init__(
        self,
        results: list[dict[str, Any]] | None = None,
        pages: dict[str, str] | None = None,
    ) -> None:
        self.results = results or []
        self.pages = pages or {}
        self.requests: list[tuple[str, dict[str, Any], str]] = []
        """(path, body, Authorization header) of every request."""
        self.failures: list[int] = []
        """HTTP statuses to answer the next requests with, in order, before succeeding."""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> TavilyStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, path: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((path, body, auth))
            if self.failures:
                status = self.failures.pop(0)
                return status, {"detail": {"error": f"scripted failure {status}"}}
        if path == "/search":
            return 200, {
                "query": body.get("query"),
                "results": self.results[: body.get("max_results") or 5],
            }
        if path == "/extract":
            urls = body.get("urls")
            urls = [urls] if isinstance(urls, str) else list(urls or [])
            found = [{"url": u, "raw_content": self.pages[u]} for u in urls if u in self.pages]
            return 200, {"results": found, "failed_results": []}
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
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
