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
The access log is off: URLs carry listenKeys. The websocket side (connections, delivery,
their faults) is `ws_hub.py`; this module holds the application, playback and REST wiring.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from monitor.feed.recording import Line, Meta, RestLine, WsLine, read_recording
from monitor.sim.conns import CLOSE_TIMEOUT_S, Conn
from monitor.sim.control import handle_control
from monitor.sim.faults import ConnKind, Faults
from monitor.sim.ledger import Ledger
from monitor.sim.limits import AttemptLimiter, RestLimiter, rate_limit_state
from monitor.sim.listenkeys import ListenKey, ListenKeys, Product
from monitor.sim.playback import PlaybackClock, Source, Timeline
from monitor.sim.rest import RestApi
from monitor.sim.rest_schedule import RestSchedule
from monitor.sim.routing import route_market
from monitor.sim.stats import Stats
from monitor.sim.weights import POOL_LIMITS
from monitor.sim.ws_hub import WsHub

log = logging.getLogger("monitor.sim")

#: Lines dispatched before playback yields to the writers (matters at very high speeds).
_BATCH_YIELD = 200


class FakeExchange:
    """A fake Binance exchange replaying one recording; see the module docstring.

    `speed` multiplies the recorded pace (>0; `inf` sends everything at once); `loop` restarts
    from the first ws line after the last (then `finished` is never set). With
    `weight_limit` makes it enforce Binance's REST weight limits per `weight_window_s` (429, then
    a 418 ban of `ban_s` for a client that does not back off; `limits.py`): `weight_limit` for
    the futures pool, Binance's own for Portfolio Margin and spot/`/sapi` (`weights.py`);
    `ws_attempt_limit` = (attempts, seconds) refuses websocket connection attempts beyond it
    with HTTP 429. With `start_on_connect` playback starts once `start_after_clients` websocket
    clients have connected (1: the first), else at `start()`; `start_playback()` starts it by
    hand.
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
            limiters=None if weight_limit is None else {
                pool: RestLimiter(weight_limit if pool == "futures" else limit,
                                  window_s=weight_window_s, ban_s=ban_s)
                for pool, limit in POOL_LIMITS.items()
            },
            window_s=weight_window_s,
        )
        self.finished = asyncio.Event()
        self._play_go = asyncio.Event()
        self._lines_sent = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ws = WsHub(
            keys=self.keys,
            faults=self.faults,
            counters=self.counters,
            server_ms=self.server_ms,
            spawn=self._spawn,
            on_open=self._on_ws_open,
            ping_interval_s=ping_interval_s,
            pong_timeout_s=pong_timeout_s,
            max_connection_age_s=max_connection_age_s,
            attempts=None if ws_attempt_limit is None else AttemptLimiter(*ws_attempt_limit),
        )
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
        await self.ws.close_all()

    async def _on_cleanup(self, app: web.Application) -> None:
        self.keys.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.ws.abort_all()

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
        return self.ws.deliver_user(event)

    def push_market(self, payload: dict[str, Any] | list[Any]) -> int:
        """Route a market frame now (like a recorded one; the ledger applies it too);
        returns frames queued."""
        self._sync_ledger()
        self.ledger.apply_market(payload)
        return self.ws.deliver_market(payload)

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
        sent, open_conns = self.ws.counts()
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
            "used_weight_1m": self.rest.meters["futures"].used,
            "used_weight_1m_by_pool": {p: m.used for p, m in self.rest.meters.items()},
            "rate_limit": rate_limit_state(self.rest.limiters),
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
            return await self.ws.handle(request)
        return await self.rest.handle(request)

    # ---- websockets (`ws_hub.py`) and the fault target ---------------------------------------

    def _on_ws_open(self, opened: int) -> None:
        if self.start_on_connect and opened >= self.start_after_clients:
            self.start_playback()

    def _conns_of(self, kind: ConnKind | str) -> list[Conn]:
        return self.ws.conns_of(kind)

    def _on_key_expired(self, lk: ListenKey) -> None:
        self.ws.on_key_expired(lk)

    def _on_key_deleted(self, lk: ListenKey) -> None:
        self.ws.on_key_deleted(lk)

    def drop_connections(self, kind: ConnKind) -> int:
        return self.ws.drop_connections(kind)

    def rotate_connections(self, kind: ConnKind) -> int:
        return self.ws.rotate_connections(kind)

    def expire_listen_keys(self, product: Product | None) -> int:
        return len(self.keys.expire(product))

    def inject_malformed(
        self, count: int, kind: Literal["market", "user"], seed: int, varieties: Sequence[str]
    ) -> int:
        return self.ws.inject_malformed(count, kind, seed, varieties)

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
                self.ws.deliver_routes(routes)
            else:
                self.ws.deliver_user(line.data)
        except Exception:
            self.counters.errors["playback"] += 1
            log.exception("sim: could not play a recorded %s frame", line.conn)
