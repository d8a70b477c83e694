"""`FakeExchange`: a local fake Binance (REST + websockets on one port) playing a recording.

One aiohttp application serves every product: REST paths (`/fapi`, `/dapi`, `/papi`, `/sapi`,
`/api`; `rest.py`), market and user websockets (`wspaths.py`), and the `/__sim` control API
(`control.py`). Playback (`playback.py`) starts when the first websocket client connects (or at
`start()` without `start_on_connect`) and pushes the recording's `ws` lines at their recorded
pace × `speed` to the connections whose subscriptions match (`routing.py`); REST answers follow
the same clock, and GET answers come from the ledger (`ledger.py`), which applies every frame
played or pushed to the REST bodies (marks, positions, balances, account totals), so a client
that resyncs from REST gets the state a stream-following client has. Faults (`faults.py`)
disturb all of it on demand (a silenced or dropped stream still moves the ledger: the
exchange's state changes whether or not anyone hears about it).

Websocket behaviour worth knowing: an unknown or expired listenKey is accepted at the HTTP level
and then closed with code 1008 ("unknown listenKey"); a websocket upgrade to a path this server
does not serve gets HTTP 404. On `/private/...` with `events=`, only the listed events are
delivered (plus `listenKeyExpired`, always). Explicit pushes and malformed frames obey the
`silence`/`legacy_silent` switches like recorded data; control replies (SUBSCRIBE acks) do not.
The access log is off: URLs carry listenKeys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSMsgType, web

from monitor.feed.recording import Line, Meta, RestLine, WsLine, read_recording
from monitor.sim.conns import CLOSE_TIMEOUT_S, GOING_AWAY, POLICY_VIOLATION, Binding, Conn
from monitor.sim.control import handle_control
from monitor.sim.errors import dumps
from monitor.sim.faults import ConnKind, Faults
from monitor.sim.ledger import Ledger, RestSchedule
from monitor.sim.limits import AttemptLimiter, RestLimiter
from monitor.sim.listenkeys import ListenKey, ListenKeys, Product, expired_event
from monitor.sim.malformed import malformed_frames
from monitor.sim.playback import PlaybackClock, Source, Timeline
from monitor.sim.rest import RestApi
from monitor.sim.routing import combined_text, route_market, unwrap, with_extra_fields
from monitor.sim.stats import Stats
from monitor.sim.subscriptions import handle_request
from monitor.sim.wspaths import MarketTarget, Rejected, UserTarget, parse_ws_path

log = logging.getLogger("monitor.sim")

#: Lines dispatched before playback yields to the writers (matters at very high speeds).
_BATCH_YIELD = 200
#: Largest text frame accepted from a client.
_MAX_CLIENT_MSG = 1 << 20


class FakeExchange:
    """A fake Binance exchange replaying one recording; see the module docstring.

    `speed` multiplies the recorded pace (>0; `inf` sends everything at once); `loop` restarts
    from the first ws line after the last (then `finished` is never set). With
    `weight_limit` makes it enforce Binance's REST weight limit per `weight_window_s` (429, then
    a 418 ban of `ban_s` for a client that does not back off; `limits.py`); `ws_attempt_limit`
    = (attempts, seconds) refuses websocket connection attempts beyond it with HTTP 429. With
    `start_on_connect` playback starts once `start_after_clients` websocket clients have
    connected (1: the first), else at `start()`; `start_playback()` starts it by hand.
    `api_key`/`api_secret` are what signed requests must use. Timings (`listen_key_ttl_s`,
    `max_connection_age_s`, `ping_interval_s`, `pong_timeout_s`) default to Binance's and can
    be compressed for tests. `margin_leverage` is the PM margin leverage the ledger's account
    totals assume (as the daemon's). One instance serves once: `start()`, then `stop()`.
    """

    def __init__(
        self,
        meta: Meta,
        lines: Iterable[Line],
        *,
        speed: float = 1.0,
        loop: bool = False,
        api_key: str = "sim-api-key",
        api_secret: str = "sim-api-secret",
        start_on_connect: bool = True,
        listen_key_ttl_s: float = 3600.0,
        max_connection_age_s: float = 86400.0,
        ping_interval_s: float = 180.0,
        pong_timeout_s: float = 600.0,
        recv_window_max_ms: int = 60000,
        start_after_clients: int = 1,
        margin_leverage: int = 3,
        weight_limit: int | None = None,
        weight_window_s: float = 60.0,
        ban_s: float = 120.0,
        ws_attempt_limit: tuple[int, float] | None = None,
    ) -> None:
        recorded = list(lines)
        self.timeline = Timeline(meta, recorded)
        self.ledger = Ledger(meta, margin_leverage=margin_leverage)
        self.schedule = RestSchedule(line for line in recorded if isinstance(line, RestLine))
        for line in self.schedule.initial:
            self.ledger.feed(line)
        #: Recording time of the next ws line playback will send (REST answers never get ahead
        #: of it); -inf before playback, inf once it finished.
        self._next_ws_t = -math.inf
        self.clock = PlaybackClock(self.timeline, speed=speed, loop=loop)
        self.start_on_connect = start_on_connect
        #: With `start_on_connect`, playback starts once this many websocket clients connected.
        self.start_after_clients = max(1, start_after_clients)
        self.max_connection_age_s = max_connection_age_s
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.counters = Stats()
        self.faults = Faults(self)
        self.keys = ListenKeys(listen_key_ttl_s, self._on_key_expired)
        self.rest = RestApi(
            timeline=self.timeline,
            clock=self.clock,
            ledger=self.ledger,
            sync=self._sync_ledger,
            faults=self.faults,
            keys=self.keys,
            stats=self.counters,
            api_key=api_key,
            api_secret=api_secret,
            recv_window_max_ms=recv_window_max_ms,
            server_ms=self.server_ms,
            on_key_deleted=self._on_key_deleted,
            limiter=None if weight_limit is None else RestLimiter(
                weight_limit, window_s=weight_window_s, ban_s=ban_s
            ),
        )
        #: Websocket connection attempts per sliding window (None: unlimited).
        self.ws_attempts = None if ws_attempt_limit is None else AttemptLimiter(*ws_attempt_limit)
        self.finished = asyncio.Event()
        self._play_go = asyncio.Event()
        self._lines_sent = 0
        self._conns: dict[int, Conn] = {}
        self._frames_sent: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.app.on_startup.append(self._on_startup)
        self.app.on_shutdown.append(self._on_shutdown)
        self.app.on_cleanup.append(self._on_cleanup)

    @classmethod
    def from_file(cls, path: Source, **kw: Any) -> FakeExchange:
        """From a recording file (plain or gzip) or an already-loaded `(meta, lines)`."""
        if isinstance(path, tuple):
            meta, lines = path
            return cls(meta, lines, **kw)
        meta, line_iter = read_recording(Path(path))
        return cls(meta, list(line_iter), **kw)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on `host`:`port` (0 = an ephemeral port; see `rest_url`/`ws_url`)."""
        if self._runner is not None:
            raise RuntimeError("the fake exchange is already started")
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=CLOSE_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every socket and task (within about a second); idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake exchange is not started")
        return self._port

    @property
    def _url_host(self) -> str:
        host = self._host
        if host in ("", "0.0.0.0", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def rest_url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}"

    def server_ms(self) -> int:
        """The server clock: wall time in ms plus the `skew_time` fault."""
        return int(time.time() * 1000) + self.faults.skew_ms

    def start_playback(self) -> bool:
        """Start the playback clock now (False if it already runs)."""
        started = self.clock.start()
        if started:
            log.info("sim: playback started (speed ×%g)", self.clock.speed)
            self._play_go.set()
        return started

    async def _on_startup(self, app: web.Application) -> None:
        self._spawn(self._playback(), "sim-playback")
        if not self.start_on_connect:
            self.start_playback()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._stopping = True
        conns = list(self._conns.values())
        await asyncio.gather(
            *(conn.close(GOING_AWAY, "going away") for conn in conns), return_exceptions=True
        )

    async def _on_cleanup(self, app: web.Application) -> None:
        self.keys.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in list(self._conns.values()):
            conn.abort()
            await conn.stop_tasks()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- scripted injection -------------------------------------------------------------------

    def push_user(self, event: dict[str, Any]) -> int:
        """Send `event` now to every live user connection (the ledger applies it too);
        returns how many got it."""
        self._sync_ledger()
        self.ledger.apply_user(event)
        return self._deliver_user(event)

    def push_market(self, payload: dict[str, Any] | list[Any]) -> int:
        """Route a market frame now (like a recorded one; the ledger applies it too);
        returns frames queued."""
        self._sync_ledger()
        self.ledger.apply_market(payload)
        return self._deliver_market(payload)

    def set_rest(self, path: str, data: object, status: int = 200) -> None:
        """Answer GET `path` with `data` (and `status`) verbatim from now on, until the
        recording's next answer of that path becomes current."""
        self._sync_ledger()
        self.ledger.override(path, data, status)

    def _sync_ledger(self) -> None:
        """Make the recorded REST answers due by now current (never ahead of playback)."""
        now_t = self.clock.now_t()
        if now_t is None:
            return
        for line in self.schedule.due(min(now_t, self._next_ws_t)):
            self.ledger.feed(line)

    # ---- state --------------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        """The same as `state()`."""
        return self.state()

    def state(self) -> dict[str, Any]:
        """Counters and status as plain JSON (never a key or a listenKey)."""
        sent = Counter(self._frames_sent)
        open_conns: Counter[str] = Counter()
        for conn in self._conns.values():
            sent[conn.kind] += conn.sent
            open_conns[conn.kind] += 1
        now_t = self.clock.now_t()
        return {
            "playback": {
                "started": self.clock.started,
                "finished": self.finished.is_set(),
                "speed": self.clock.speed,
                "loop": self.clock.loop,
                "t": None if now_t is None else int(now_t),
                "t0": self.timeline.t0,
                "t_end": self.timeline.t_end,
                "ws_lines": len(self.timeline.ws),
                "ws_lines_sent": self._lines_sent,
                "rest_paths": self.timeline.paths,
            },
            "connections_open": dict(open_conns),
            "frames_sent": dict(sent),
            "used_weight_1m": self.rest.meter.used,
            "rate_limit": None if self.rest.limiter is None else self.rest.limiter.state(),
            "server_time": self.server_ms(),
            "listen_keys": self.keys.state(),
            "faults": self.faults.state(),
            "ledger": self.ledger.state(),
            **self.counters.as_dict(),
        }

    # ---- HTTP entry ---------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.counters.peers[request.remote or "unknown"] += 1
        if request.path.startswith("/__sim/"):
            self.counters.control_requests += 1
            return await handle_control(self, request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self.rest.handle(request)

    # ---- websockets ---------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self.ws_attempts is not None and not self.ws_attempts.allow():
            self.counters.ws_rejected["attempt_limit"] += 1
            return web.Response(
                status=429,
                text=dumps({"code": -1003, "msg": "Too many connection attempts"}),
                content_type="application/json",
            )
        target = parse_ws_path(request.path, request.query, self.keys.is_live)
        if target is None:
            self.counters.ws_rejected["no_such_path"] += 1
            return web.Response(
                status=404,
                text=dumps({"code": -5000, "msg": "no such stream path"}),
                content_type="application/json",
            )
        ws: web.WebSocketResponse = web.WebSocketResponse(
            autoping=False, timeout=CLOSE_TIMEOUT_S, max_msg_size=_MAX_CLIENT_MSG, compress=False
        )
        await ws.prepare(request)
        if isinstance(target, Rejected) or self._stopping:
            reason: str
            if isinstance(target, Rejected):
                reason, code = target.reason, POLICY_VIOLATION
            else:
                reason, code = "going away", GOING_AWAY
            self.counters.ws_rejected[reason] += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=code, message=reason.encode()), 1.0)
            return ws
        conn = self._new_conn(ws, request, target)
        self._conns[conn.id] = conn
        self.counters.ws_opened[conn.kind] += 1
        conn.start(
            ping_interval_s=self.ping_interval_s,
            pong_timeout_s=self.pong_timeout_s,
            max_age_s=self.max_connection_age_s,
        )
        opened = sum(self.counters.ws_opened.values())
        if self.start_on_connect and opened >= self.start_after_clients:
            self.start_playback()
        try:
            await self._read_loop(conn)
        finally:
            self._conns.pop(conn.id, None)
            self.counters.ws_closed[conn.kind] += 1
            await conn.stop_tasks()
            self._frames_sent[conn.kind] += conn.sent
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await conn.close(1000, "")
        return ws

    def _new_conn(
        self, ws: web.WebSocketResponse, request: web.Request, target: MarketTarget | UserTarget
    ) -> Conn:
        if isinstance(target, MarketTarget):
            return Conn(
                ws,
                request,
                "market",
                route=target.route,
                combined=target.combined,
                streams=target.streams,
            )
        bindings = []
        for spec in target.bindings:
            lk = self.keys.lookup(spec.key)
            product = lk.product if lk is not None else "um"
            bindings.append(Binding(spec.key, product, spec.events))
        return Conn(
            ws,
            request,
            "user",
            route=target.route,
            combined=target.combined,
            bindings=tuple(bindings),
        )

    async def _read_loop(self, conn: Conn) -> None:
        while True:
            msg = await conn.ws.receive()
            try:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.PING:
                    await conn.ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    conn.on_pong()
                elif msg.type == WSMsgType.BINARY:
                    self.counters.control_messages["binary_ignored"] += 1
                else:  # CLOSE, CLOSING, CLOSED, ERROR
                    return
            except Exception as exc:
                self.counters.errors["ws_message"] += 1
                log.warning("sim: could not handle a message from %r: %s", conn, exc)
                if conn.closed:
                    return

    def _on_text(self, conn: Conn, text: str) -> None:
        if conn.kind != "market":
            self.counters.control_messages["user_ignored"] += 1
            return
        reply = handle_request(text, conn.subs)
        self.counters.control_messages["error" if "code" in reply else "ok"] += 1
        conn.send(dumps(reply))

    def _conns_of(self, kind: ConnKind | str) -> list[Conn]:
        return [c for c in self._conns.values() if kind in ("all", c.kind) and not c.closed]

    # ---- delivery -----------------------------------------------------------------------------

    def _deliver_market(self, frame: Any) -> int:
        return self._deliver_routes(route_market(frame))

    def _deliver_routes(self, routes: dict[str, Any]) -> int:
        if not routes:
            return 0
        texts: dict[str, str] = {}
        sent = suppressed = 0
        silent = self.faults.is_silent("market")
        for conn in self._conns_of("market"):
            wanted = [(norm, name) for norm, name in conn.streams.items() if norm in routes]
            if not wanted:
                continue
            if silent or self.faults.market_muted(conn.route):
                suppressed += len(wanted)
                continue
            for norm, name in wanted:
                text = texts.get(norm)
                if text is None:
                    payload = routes[norm]
                    if self.faults.extra:
                        payload = with_extra_fields(payload, market=True)
                    text = texts[norm] = dumps(payload)
                if conn.send(combined_text(name, text) if conn.combined else text):
                    sent += 1
        self.counters.frames_queued["market"] += sent
        self.counters.frames_suppressed["market"] += suppressed
        return sent

    def _deliver_user(self, event: Any) -> int:
        _, payload = unwrap(event)
        text: str | None = None
        sent = suppressed = 0
        silent = self.faults.is_silent("user")
        for conn in self._conns_of("user"):
            binding = next((b for b in conn.bindings if b.live and b.accepts(payload)), None)
            if binding is None:
                continue
            if silent:
                suppressed += 1
                continue
            if text is None:
                shaped = with_extra_fields(payload, market=False) if self.faults.extra else payload
                text = dumps(shaped)
            if conn.send(combined_text(binding.key, text) if conn.combined else text):
                sent += 1
        self.counters.frames_queued["user"] += sent
        self.counters.frames_suppressed["user"] += suppressed
        return sent

    # ---- listenKeys ---------------------------------------------------------------------------

    def _on_key_expired(self, lk: ListenKey) -> None:
        event = dumps(expired_event(lk.product, lk.key, self.server_ms()))
        silent = self.faults.is_silent("user")
        for conn in self._conns_of("user"):
            for binding in conn.bindings:
                if binding.key != lk.key or not binding.live:
                    continue
                binding.live = False
                if silent:
                    self.counters.frames_suppressed["user"] += 1
                elif conn.send(combined_text(lk.key, event) if conn.combined else event):
                    self.counters.frames_queued["user"] += 1
        log.info("sim: %s listenKey expired", lk.product)

    def _on_key_deleted(self, lk: ListenKey) -> None:
        for conn in self._conns_of("user"):
            hit = False
            for binding in conn.bindings:
                if binding.key == lk.key:
                    binding.live = False
                    hit = True
            if hit and not any(binding.live for binding in conn.bindings):
                self._spawn(conn.close(1000, "listenKey closed"), f"sim-close-{conn.id}")

    # ---- fault target -------------------------------------------------------------------------

    def drop_connections(self, kind: ConnKind) -> int:
        conns = self._conns_of(kind)
        for conn in conns:
            conn.abort()
        return len(conns)

    def rotate_connections(self, kind: ConnKind) -> int:
        conns = self._conns_of(kind)
        for conn in conns:
            self._spawn(conn.close(GOING_AWAY, "going away"), f"sim-rotate-{conn.id}")
        return len(conns)

    def expire_listen_keys(self, product: Product | None) -> int:
        return len(self.keys.expire(product))

    def inject_malformed(
        self, count: int, kind: Literal["market", "user"], seed: int, varieties: Sequence[str]
    ) -> int:
        frames = malformed_frames(
            count, kind, seed=seed, now_ms=self.server_ms(), varieties=varieties
        )
        sent = 0
        silent = self.faults.is_silent(kind)
        for conn in self._conns_of(kind):
            if (
                not conn.live
                or silent
                or (kind == "market" and self.faults.market_muted(conn.route))
            ):
                continue
            stream: str | None = None
            if conn.combined:
                if kind == "market":
                    stream = next(iter(conn.streams.values()), "!markPrice@arr@1s")
                else:
                    stream = next(b.key for b in conn.bindings if b.live)
            for frame in frames:
                if conn.send(frame.text_for(stream)):
                    sent += 1
        self.counters.frames_queued[kind] += sent
        return sent

    # ---- playback -----------------------------------------------------------------------------

    async def _playback(self) -> None:
        await self._play_go.wait()
        lines = self.timeline.ws
        if not lines:
            self._next_ws_t = math.inf
            if not self.clock.loop:
                self.finished.set()
            return
        cycle = 0
        while True:
            index = 0
            if cycle:
                self.schedule.restart()
            while index < len(lines):
                self._next_ws_t = lines[index].t
                delay = self.clock.due_at(lines[index].t, cycle) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.monotonic()
                burst = 0
                while index < len(lines) and self.clock.due_at(lines[index].t, cycle) <= now:
                    self._play(lines[index])
                    index += 1
                    burst += 1
                    if burst % _BATCH_YIELD == 0:
                        self._next_ws_t = lines[index].t if index < len(lines) else math.inf
                        await asyncio.sleep(0)
                await asyncio.sleep(0)
            self.counters.cycles += 1
            self._next_ws_t = math.inf
            if not self.clock.loop:
                self._sync_ledger()
                self.finished.set()
                log.info("sim: playback finished (%d frames)", len(lines))
                return
            cycle += 1

    def _play(self, line: WsLine) -> None:
        self.counters.lines_played[line.conn] += 1
        self._lines_sent += 1
        for rest_line in self.schedule.due(line.t):
            self.ledger.feed(rest_line)
        self.ledger.feed(line)
        try:
            if line.conn == "market":
                routes = route_market(line.data)
                if not routes:
                    self.counters.lines_unrouted += 1
                    return
                self._deliver_routes(routes)
            else:
                self._deliver_user(line.data)
        except Exception:
            self.counters.errors["playback"] += 1
            log.exception("sim: could not play a recorded %s frame", line.conn)
