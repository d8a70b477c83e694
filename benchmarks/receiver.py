"""A loopback HTTP receiver for Apprise `json://` notifications, in its own thread.

It answers every POST with 200 and records the `time.perf_counter()` of each request's arrival
(when its headers were parsed), so a benchmark can time the way to a real notification endpoint
without sharing the event loop it measures.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class JsonReceiver:
    """`with JsonReceiver() as rx:` … `rx.url` is the `json://` URL to notify."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with receiver._lock:
                    receiver.arrivals.append(arrived)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: a benchmark prints its own table

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="json-receiver", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def count(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def __enter__(self) -> JsonReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
