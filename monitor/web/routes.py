"""The dashboard's routes on the daemon's HTTP server (read-only, GET/HEAD like the rest).

- `/`: the overview page; `/account/NAME`: one account's page (404 for an unknown account);
- `/static/FILE`: the pages' CSS and JavaScript, from the package (no CDN, no build step);
- `/events`: Server-Sent Events, one update a second at most `MAX_RATE_HZ` per client (every
  account's `/status` entry and latest alerts); a client that does not read is cut off after
  the server's response timeout, one that reads slowly gets only the newest update;
- `/api/history?account=NAME`: the risk history (downsampled), the level lines and alerts;
- `/api/whatif?account=NAME&move=BTC:-0.10&move=all:-0.05&rate=BTC:0.9`: the `calc --json`
  figures after the shock (a 400 with one line for bad input; at most `WHATIF_PER_S` a second).

Pages carry a strict Content-Security-Policy (scripts and styles from this server only) and
every JSON answer goes through the same secret scrub as `/status`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from monitor.web import model
from monitor.web.whatif import ShockError, shock_from_query, whatif_report

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Live updates per second per client, at most.
MAX_RATE_HZ = 4.0
#: A comment line keeps an idle event stream (and proxies) alive this often.
KEEPALIVE_S = 15.0
#: What-if evaluations per second, at most (each is a full evaluation of the account).
WHATIF_PER_S = 10
#: Points of the risk history sent to a chart.
HISTORY_POINTS = 720
PATHS = ("/", "/account/NAME", "/events", "/api/history", "/api/whatif")
_WHATIF_PARAMS = frozenset({"account", "move", "rate"})
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_BASE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _load_static() -> dict[str, tuple[bytes, str]]:
    """Every file of monitor/web/static by name, with its content type."""
    out: dict[str, tuple[bytes, str]] = {}
    folder = resources.files("monitor.web") / "static"
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            out[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return out


def _json(body: Any, status: int = 200) -> web.Response:
    text = json.dumps(body, allow_nan=False, ensure_ascii=False)
    return web.Response(
        text=text, status=status, content_type="application/json", headers=_BASE_HEADERS
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


class WebRoutes:
    """The dashboard's handlers; `handler(path)` picks one (None: not a dashboard path)."""

    def __init__(
        self,
        *,
        response_timeout_s: float = 10.0,
        dashboard: Callable[[], model.Dashboard | None] = lambda: None,
    ) -> None:
        self._timeout = response_timeout_s
        self._dashboard = dashboard
        self._static = _load_static()
        self._whatif_window = (0.0, 0)
        self._exact: dict[str, Handler] = {
            "/": self._overview,
            "/events": self._events,
            "/api/history": self._history,
            "/api/whatif": self._whatif,
        }

    def paths(self) -> tuple[str, ...]:
        """The dashboard's paths, while a daemon runs (none without one)."""
        return PATHS if self._dashboard() is not None else ()

    def handler(self, path: str) -> Handler | None:
        """The handler of `path`; None when it is not a dashboard path or no daemon runs."""
        if self._dashboard() is None:
            return None
        found = self._exact.get(path)
        if found is not None:
            return found
        if path.startswith("/account/"):
            return self._account_page
        if path.startswith("/static/"):
            return self._static_file
        return None

    # ------------------------------------------------------------------ pages
    def _page(self, name: str) -> web.Response:
        body, content_type = self._static[name]
        headers = {**_BASE_HEADERS, "Content-Security-Policy": _CSP, "Content-Type": content_type}
        return web.Response(body=body, headers=headers)

    async def _overview(self, request: web.Request) -> web.StreamResponse:
        return self._page("index.html")

    async def _account_page(self, request: web.Request) -> web.StreamResponse:
        name = request.path[len("/account/") :]
        dash = self._dashboard()
        if dash is None or name not in dash.accounts:
            return _error(404, "no such account")
        return self._page("account.html")

    async def _static_file(self, request: web.Request) -> web.StreamResponse:
        name = request.path[len("/static/") :]
        if name not in self._static or name.endswith(".html"):
            return _error(404, "not found")
        return self._page(name)

    # ------------------------------------------------------------------ APIs
    def _account(self, request: web.Request) -> tuple[model.Dashboard, str] | web.Response:
        dash = self._dashboard()
        if dash is None:
            return _error(503, "the daemon is not running")
        names = request.query.getall("account", [])
        if len(names) != 1:
            return _error(400, "give exactly one account=NAME")
        if names[0] not in dash.accounts:
            return _error(400, f"unknown account {names[0]!r} (known: {', '.join(dash.accounts)})")
        return dash, names[0]

    async def _history(self, request: web.Request) -> web.StreamResponse:
        found = self._account(request)
        if isinstance(found, web.Response):
            return found
        dash, name = found
        return _json(dash.history(name, HISTORY_POINTS))

    def _whatif_allowed(self) -> bool:
        now = time.monotonic()
        start, count = self._whatif_window
        if now - start >= 1.0:
            start, count = now, 0
        if count >= WHATIF_PER_S:
            return False
        self._whatif_window = (start, count + 1)
        return True

    async def _whatif(self, request: web.Request) -> web.StreamResponse:
        unknown = sorted(set(request.query) - _WHATIF_PARAMS)
        if unknown:
            return _error(400, f"unknown parameter {unknown[0]!r} (use account, move, rate)")
        found = self._account(request)
        if isinstance(found, web.Response):
            return found
        dash, name = found
        query = {key: request.query.getall(key, []) for key in ("move", "rate")}
        book = dash.book(name)
        if book is None:
            return _error(503, f"account {name} has no figures yet")
        if not self._whatif_allowed():
            return _error(429, f"at most {WHATIF_PER_S} what-if requests a second")
        try:
            shock = shock_from_query(query)
            report = whatif_report(book.state, shock)
        except ShockError as exc:
            return _error(400, str(exc))
        report["account"] = name
        return _json(dash.scrubbed(report))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        dash = self._dashboard()
        if dash is None:
            return _error(503, "the daemon is not running")
        headers = {
            **_BASE_HEADERS,
            "Content-Type": "text/event-stream",
            "X-Accel-Buffering": "no",
        }
        if request.method == "HEAD":
            return web.Response(headers=headers)
        sub = dash.subscribe()
        if sub is None:
            return _error(503, f"at most {dash.max_subscribers} live clients at once")
        response = web.StreamResponse(headers=headers)
        try:
            async with asyncio.timeout(self._timeout):
                await response.prepare(request)
            payload: bytes | None = dash.update_payload()
            last = 0.0
            while not sub.closed:
                wait = 1.0 / MAX_RATE_HZ - (time.monotonic() - last)
                if wait > 0:
                    await asyncio.sleep(wait)
                    payload = sub.take() or payload
                chunk = b": keepalive\n\n" if payload is None else b"data: " + payload + b"\n\n"
                async with asyncio.timeout(self._timeout):
                    await response.write(chunk)
                last = time.monotonic()
                payload = await sub.wait(KEEPALIVE_S)
        except (ConnectionError, TimeoutError):
            request.protocol.force_close()
        finally:
            dash.unsubscribe(sub)
        return response
