"""The daemon's HTTP endpoint: GET /healthz, /metrics and /status, nothing else.

- `/healthz`: 200 `{"healthy": true, "problems": [...]}` when healthy, else 503 with the problems;
- `/metrics`: the Prometheus exposition (OpenMetrics when the scraper asks for it);
- `/status`: the JSON status document (see the /status contract), passed through a final scrub
  that masks every registered secret (and its URL-encoded forms) in keys and values and turns
  non-finite numbers into null.
Only GET (and HEAD, which is GET without a body) is served: any other method is 405 on every
path, an unknown path is 404. Request bodies are never read. There is no access log (a scraper
would fill the journal). Binding to a non-loopback address is allowed but logged as a warning:
/status shows positions and balances.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from aiohttp import web

from monitor.alerts.redact import scrub
from monitor.service.health import Health
from monitor.service.logs import registered_secrets, secret_forms
from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)

StatusDocument = Mapping[str, Any]
StatusSource = Callable[[], StatusDocument | Awaitable[StatusDocument]]

ALLOWED_METHODS = ("GET", "HEAD")
PATHS = ("/healthz", "/metrics", "/status")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def scrub_document(value: Any, secrets: Collection[str]) -> Any:
    """A JSON-safe copy of `value`: secrets masked in every string, non-finite floats → None."""
    if isinstance(value, str):
        return scrub(value, secrets) if secrets else value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {
            scrub_document(str(k), secrets): scrub_document(v, secrets) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_document(v, secrets) for v in value]
    return scrub_document(str(value), secrets)


def _json(body: Any, status: int = 200) -> web.Response:
    text = json.dumps(body, allow_nan=False, ensure_ascii=False)
    return web.Response(text=text, status=status, content_type="application/json", headers=_HEADERS)


class HttpServer:
    """aiohttp server for the three read-only endpoints; `start()` binds, `stop()` closes."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        health: Callable[[], Health],
        status: StatusSource,
        metrics: Metrics,
        secrets: Callable[[], Iterable[str]] = registered_secrets,
    ) -> None:
        self.host, self.port = host, port
        self._health, self._status, self._metrics = health, status, metrics
        self._secrets = secrets
        self._runner: web.AppRunner | None = None
        self._routes: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
            "/healthz": self._healthz,
            "/metrics": self._metrics_page,
            "/status": self._status_page,
        }

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0); raises before `start()`."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the HTTP server is not started")
        port: int = self._runner.addresses[0][1]
        return port

    async def start(self) -> None:
        app = web.Application(client_max_size=1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        where = f"{self.host}:{self.bound_port}"
        if is_loopback(self.host):
            log.info("HTTP on %s: /healthz /metrics /status", where)
        else:
            log.warning(
                "HTTP on %s is reachable from other hosts: /status and /metrics show positions"
                " and balances; restrict access with a firewall or bind to 127.0.0.1",
                where,
            )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _secret_forms(self) -> set[str]:
        return {form for secret in self._secrets() for form in secret_forms(secret)}

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ALLOWED_METHODS:
            return web.Response(
                status=405,
                text="405 method not allowed: this endpoint is read-only (GET)\n",
                headers={**_HEADERS, "Allow": ", ".join(ALLOWED_METHODS)},
            )
        handler = self._routes.get(request.path)
        if handler is None:
            return _json({"error": "not found", "paths": list(PATHS)}, status=404)
        try:
            return await handler(request)
        except Exception as exc:  # a bug behind one page must not take the server down
            log.exception("HTTP %s failed", request.path)
            return _json({"error": f"internal error: {exc.__class__.__name__}"}, status=500)

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            health = self._health()
        except Exception as exc:
            log.exception("health evaluation failed")
            health = Health(False, [f"health evaluation failed: {exc.__class__.__name__}"])
        body = scrub_document(health.as_dict(), self._secret_forms())
        return _json(body, status=200 if health.healthy else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body, content_type = self._metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={**_HEADERS, "Content-Type": content_type})

    async def _status_page(self, request: web.Request) -> web.Response:
        document = self._status()
        if inspect.isawaitable(document):
            document = await document
        return _json(scrub_document(document, self._secret_forms()))
