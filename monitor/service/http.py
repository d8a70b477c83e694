"""The daemon's HTTP endpoint: GET /healthz, /metrics, /status and the web dashboard.

- `/healthz`: 200 `{"healthy": true, "problems": [...]}` when healthy, else 503 with the problems;
- `/metrics`: the Prometheus exposition (OpenMetrics when the scraper asks for it);
- `/status`: the JSON status document (see the /status contract), passed through a final scrub
  that masks every registered secret (and its URL-encoded forms) in keys and values and turns
  non-finite numbers into null;
- `/`, `/account/NAME`, `/events`, `/api/history`, `/api/whatif`, `/static/…`: the web
  dashboard (`monitor.web.routes`) of the running daemon, read-only, its JSON through the
  same scrub (without a daemon, as in unit tests, these paths are 404).
The control API (`POST /api/ack|snooze|unsnooze/NAME`, `monitor.service.control`) is the one
exception to what follows: it takes POST, loopback-only or with a bearer token.
Only GET (and HEAD, which is GET without a body) is served: any other method is 405 on every
path, an unknown path is 404. Request bodies are never read. There is no access log (a scraper
would fill the journal). Binding to a non-loopback address is allowed but logged as a warning:
/status shows positions and balances.

Hardened against slow, idle, malformed and too many clients (`HttpLimits`): a connection must
deliver a complete request head within `header_timeout_s` of connecting, keep-alive connections
close after `idle_timeout_s` without a request, an unread request body is drained for at most
`body_timeout_s` before the connection closes, and a response that the client does not read
within `response_timeout_s` is abandoned. At most `max_connections` are open: a new one evicts
the oldest connection that has not sent a request yet (so `/healthz` keeps answering while idle
sockets pile up), or is closed when every connection is busy. The server accepts connections
itself: running out of file descriptors (`accept()` → EMFILE) is retried twice a second and
logged once per `log_every_s` (asyncio logged a traceback per attempt, megabytes per second).
A malformed request is answered 400 and logged in one line, without a traceback, at most once
per `log_every_s` (with a count of the ones in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import ipaddress
import json
import logging
import math
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from monitor.base.secrets import registered_secrets, scrub, secret_forms
from monitor.service.control import ControlApi
from monitor.service.health import Health
from monitor.service.metrics import Metrics
from monitor.web.model import Dashboard
from monitor.web.routes import WebRoutes

log = logging.getLogger(__name__)

StatusDocument = Mapping[str, Any]
StatusSource = Callable[[], StatusDocument | Awaitable[StatusDocument]]

ALLOWED_METHODS = ("GET", "HEAD")
PATHS = ("/healthz", "/metrics", "/status")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: accept() errors that mean "out of descriptors or memory": wait and retry, never spin.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How long and how many: the server's defences against slow, idle and numerous clients."""

    #: From connecting to a complete request head (request line and headers).
    header_timeout_s: float = 5.0
    #: Keep-alive: a connection without a new request this long is closed.
    idle_timeout_s: float = 15.0
    #: An unread request body is drained this long after the response, then the socket closes.
    body_timeout_s: float = 1.0
    #: Writing one response (a client that does not read it is cut off).
    response_timeout_s: float = 10.0
    #: Open connections at most (Prometheus needs one, `watch` one, a browser a few).
    max_connections: int = 64
    #: At most one log line per this many seconds for each kind of trouble.
    log_every_s: float = 60.0
    max_line_size: int = 4096
    max_field_size: int = 4096
    max_headers: int = 64


class _Throttled:
    """One kind of trouble logged at most once per `every_s`; the ones in between are counted
    and the count is reported with the next line."""

    def __init__(
        self, logger: logging.Logger, level: int, every_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger, self._level, self._every_s, self._clock = logger, level, every_s, clock
        self._next = -math.inf
        self.suppressed = 0
        self.total = 0

    def __call__(self, message: str) -> None:
        self.total += 1
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return
        more = f" (and {self.suppressed} more like it since the last report)" if (
            self.suppressed
        ) else ""
        self.suppressed = 0
        self._next = now + self._every_s
        self._logger.log(self._level, "%s%s", message, more)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


_ExcInfo = (
    bool
    | BaseException
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None]
    | None
)


class _RequestLog(logging.Logger):
    """aiohttp's per-connection logger: a bad request is the client's problem, so one line
    without a traceback (its exception summarised), throttled; debug lines are dropped."""

    def __init__(self, parent: logging.Logger, every_s: float) -> None:
        super().__init__(f"{parent.name}.requests")
        self.parent = parent
        self._throttled = _Throttled(self, logging.WARNING, every_s)
        self._emitting = False

    def _log(
        self,
        level: int,
        msg: object,
        args: Any,
        exc_info: _ExcInfo = None,
        extra: Mapping[str, object] | None = None,
        stack_info: bool = False,
        stacklevel: int = 1,
    ) -> None:
        if self._emitting:
            super()._log(level, msg, args, None, extra, False, stacklevel)
            return
        if level < logging.INFO:
            return
        exc: BaseException | None = None
        if exc_info is True:
            exc = sys.exc_info()[1]
        elif isinstance(exc_info, BaseException):
            exc = exc_info
        elif isinstance(exc_info, tuple):
            exc = exc_info[1]
        text = str(msg) % args if args else str(msg)
        if exc is not None:
            text = f"{text}: {_one_line(exc)}"
        self._emitting = True
        try:
            self._throttled(f"HTTP: {text}")
        finally:
            self._emitting = False


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


def _listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on host:port ("localhost", IPv4 or IPv6 literal)."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.create_server((address, port), family=family, backlog=128)
    sock.setblocking(False)
    return sock


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
        limits: HttpLimits | None = None,
        control: ControlApi | None = None,
        dashboard: Callable[[], Dashboard | None] = lambda: None,
    ) -> None:
        self.host, self.port = host, port
        self._health, self._status, self._metrics = health, status, metrics
        self._secrets = secrets
        self.limits = lim = limits or HttpLimits()
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        #: Open connections → when accepted (loop time); `_served`: those that sent a request.
        self._conns: dict[RequestHandler, float] = {}
        self._served: set[RequestHandler] = set()
        self._request_log = _RequestLog(log, lim.log_every_s)
        self._fd_log = _Throttled(log, logging.ERROR, lim.log_every_s)
        self._accept_log = _Throttled(log, logging.WARNING, lim.log_every_s)
        self._full_log = _Throttled(log, logging.WARNING, lim.log_every_s)
        self._slow_log = _Throttled(log, logging.INFO, lim.log_every_s)
        self._routes: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
            "/healthz": self._healthz,
            "/metrics": self._metrics_page,
            "/status": self._status_page,
        }
        #: The running daemon's web dashboard (None: its paths are 404, as in unit tests).
        self._web = WebRoutes(response_timeout_s=lim.response_timeout_s, dashboard=dashboard)
        #: `POST /api/ack|snooze|unsnooze/NAME` (monitor.service.control); None: not served.
        self.control = control

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0); raises before `start()`."""
        if self._sock is None:
            raise RuntimeError("the HTTP server is not started")
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def open_connections(self) -> int:
        self._prune()
        return len(self._conns)

    async def start(self) -> None:
        lim = self.limits
        app = web.Application(client_max_size=1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            keepalive_timeout=lim.idle_timeout_s,
            lingering_time=lim.body_timeout_s,
            max_line_size=lim.max_line_size,
            max_field_size=lim.max_field_size,
            max_headers=lim.max_headers,
            logger=self._request_log,
        )
        await runner.setup()
        try:
            sock = _listen(self.host, self.port)
        except BaseException:
            await runner.cleanup()
            raise
        server = runner.server
        assert server is not None
        self._runner, self._sock = runner, sock
        self._acceptor = asyncio.create_task(self._accept_loop(sock, server), name="http accept")
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
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acceptor
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._conns.clear()
        self._served.clear()

    # ------------------------------------------------------------------ connections
    async def _accept_loop(self, sock: socket.socket, server: web.Server) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    self._fd_log(
                        f"HTTP: cannot accept connections: {exc.strerror} (out of file"
                        " descriptors or memory); retrying, new clients wait meanwhile"
                    )
                else:
                    self._accept_log(f"HTTP: accept failed: {_one_line(exc)}")
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            try:
                await self._admit(loop, conn, server)
            except OSError as exc:  # the client left before its connection was set up
                conn.close()
                log.debug("HTTP: connection dropped while set up: %s", _one_line(exc))

    async def _admit(
        self, loop: asyncio.AbstractEventLoop, conn: socket.socket, server: web.Server
    ) -> None:
        self._prune()
        if len(self._conns) >= self.limits.max_connections and not self._evict_one():
            conn.close()
            self._full_log(
                f"HTTP: {len(self._conns)} connections open, all busy (the limit is"
                f" {self.limits.max_connections}): refusing new ones"
            )
            return
        conn.setblocking(False)
        _, protocol = await loop.connect_accepted_socket(server, conn)
        assert isinstance(protocol, RequestHandler)
        self._conns[protocol] = loop.time()
        loop.call_later(self.limits.header_timeout_s, self._header_deadline, protocol)

    def _prune(self) -> None:
        gone = [h for h in self._conns if h.transport is None]
        for handler in gone:
            del self._conns[handler]
            self._served.discard(handler)

    def _evict_one(self) -> bool:
        """Close the oldest connection that has not sent a request; False when there is none."""
        waiting = [(t, id(h), h) for h, t in self._conns.items() if h not in self._served]
        if not waiting:
            return False
        _, _, handler = min(waiting)
        self._drop(handler)
        self._full_log(
            f"HTTP: {self.limits.max_connections} connections open: closing the oldest ones"
            " that sent no request to admit new ones"
        )
        return True

    def _header_deadline(self, handler: RequestHandler) -> None:
        if handler in self._conns and handler not in self._served and handler.transport:
            self._slow_log(
                f"HTTP: closed a connection that sent no complete request within"
                f" {self.limits.header_timeout_s:g} s"
            )
            self._drop(handler)

    def _drop(self, handler: RequestHandler) -> None:
        handler.force_close()
        self._conns.pop(handler, None)
        self._served.discard(handler)

    def _secret_forms(self) -> set[str]:
        return {form for secret in self._secrets() for form in secret_forms(secret)}

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self._served.add(request.protocol)
        response = await self._respond(request)
        try:
            async with asyncio.timeout(self.limits.response_timeout_s):
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            self._slow_log(
                f"HTTP: a client did not read its {request.path} response within"
                f" {self.limits.response_timeout_s:g} s; connection closed"
            )
            request.protocol.force_close()
        except ConnectionError:
            pass  # the client left; aiohttp notices too
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        if self.control is not None and self.control.handles(request):
            return await self.control.respond(request)
        if request.method not in ALLOWED_METHODS:
            return web.Response(
                status=405,
                text="405 method not allowed: this endpoint is read-only (GET)\n",
                headers={**_HEADERS, "Allow": ", ".join(ALLOWED_METHODS)},
            )
        handler = self._routes.get(request.path) or self._web.handler(request.path)
        if handler is None:
            return _json({"error": "not found", "paths": [*PATHS, *self._web.paths()]}, status=404)
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
