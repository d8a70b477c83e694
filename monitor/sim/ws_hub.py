"""`WsHub`: the fake exchange's websockets: connections, frame delivery and their faults.

It accepts or refuses upgrades (attempt limit: HTTP 429; unknown path: 404; a rejected or
expired listenKey: accepted, then closed 1008), reads what clients send (SUBSCRIBE and friends
on market connections, `subscriptions.py`; pings and pongs), and delivers frames: market frames
to the connections whose streams match (`routing.py`), user events to the connections bound to a
live listenKey that accepts them, under the `silence`/`market_muted`/`extra` faults. It also
expires and closes user bindings when their listenKey expires or is deleted, and drops, rotates
or feeds malformed frames to connections on demand (`faults.py`). Playback, REST and the ledger
are `server.py`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

from aiohttp import WSMsgType, web

from monitor.sim.conns import CLOSE_TIMEOUT_S, GOING_AWAY, POLICY_VIOLATION, Binding, Conn
from monitor.sim.errors import dumps
from monitor.sim.faults import ConnKind, Faults
from monitor.sim.limits import AttemptLimiter
from monitor.sim.listenkeys import ListenKey, ListenKeys, expired_event
from monitor.sim.malformed import malformed_frames
from monitor.sim.routing import combined_text, route_market, unwrap, with_extra_fields
from monitor.sim.stats import Stats
from monitor.sim.subscriptions import handle_request
from monitor.sim.wspaths import MarketTarget, Rejected, UserTarget, parse_ws_path

log = logging.getLogger("monitor.sim")

#: Largest text frame accepted from a client.
_MAX_CLIENT_MSG = 1 << 20


class WsHub:
    """The websocket connections of one fake exchange and what is delivered to them.

    `on_open(n)` is told the number of connections opened so far after each one opens (the
    exchange starts playback on it); `spawn` runs a background coroutine the exchange owns."""

    def __init__(
        self,
        *,
        keys: ListenKeys,
        faults: Faults,
        counters: Stats,
        server_ms: Callable[[], int],
        spawn: Callable[[Coroutine[Any, Any, Any], str], None],
        on_open: Callable[[int], None],
        ping_interval_s: float,
        pong_timeout_s: float,
        max_connection_age_s: float,
        attempts: AttemptLimiter | None,
    ) -> None:
        self.keys = keys
        self.faults = faults
        self.counters = counters
        self._server_ms = server_ms
        self._spawn = spawn
        self._on_open = on_open
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.max_connection_age_s = max_connection_age_s
        #: Websocket connection attempts per sliding window (None: unlimited).
        self.ws_attempts = attempts
        self.conns: dict[int, Conn] = {}
        #: Frames sent by connections that have closed, per kind.
        self.frames_sent: Counter[str] = Counter()
        self.stopping = False

    async def close_all(self) -> None:
        """Refuse new connections and close the open ones (going away)."""
        self.stopping = True
        conns = list(self.conns.values())
        await asyncio.gather(
            *(conn.close(GOING_AWAY, "going away") for conn in conns), return_exceptions=True
        )

    async def abort_all(self) -> None:
        """Abort whatever is still open and stop its tasks."""
        for conn in list(self.conns.values()):
            conn.abort()
            await conn.stop_tasks()

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        """Frames sent and connections open, per kind."""
        sent = Counter(self.frames_sent)
        open_conns: Counter[str] = Counter()
        for conn in self.conns.values():
            sent[conn.kind] += conn.sent
            open_conns[conn.kind] += 1
        return sent, open_conns

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Accept (or refuse) one websocket upgrade and serve the connection until it closes."""
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
        if isinstance(target, Rejected) or self.stopping:
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
        self.conns[conn.id] = conn
        self.counters.ws_opened[conn.kind] += 1
        conn.start(
            ping_interval_s=self.ping_interval_s,
            pong_timeout_s=self.pong_timeout_s,
            max_age_s=self.max_connection_age_s,
        )
        self._on_open(sum(self.counters.ws_opened.values()))
        try:
            await self._read_loop(conn)
        finally:
            self.conns.pop(conn.id, None)
            self.counters.ws_closed[conn.kind] += 1
            await conn.stop_tasks()
            self.frames_sent[conn.kind] += conn.sent
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

    def conns_of(self, kind: ConnKind | str) -> list[Conn]:
        """The live connections of `kind` ("all": every kind)."""
        return [c for c in self.conns.values() if kind in ("all", c.kind) and not c.closed]

    # ---- delivery -----------------------------------------------------------------------------

    def deliver_market(self, frame: Any) -> int:
        return self.deliver_routes(route_market(frame))

    def deliver_routes(self, routes: dict[str, Any]) -> int:
        if not routes:
            return 0
        texts: dict[str, str] = {}
        sent = suppressed = 0
        silent = self.faults.is_silent("market")
        for conn in self.conns_of("market"):
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

    def deliver_user(self, event: Any) -> int:
        _, payload = unwrap(event)
        text: str | None = None
        sent = suppressed = 0
        silent = self.faults.is_silent("user")
        for conn in self.conns_of("user"):
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

    def on_key_expired(self, lk: ListenKey) -> None:
        event = dumps(expired_event(lk.product, lk.key, self._server_ms()))
        silent = self.faults.is_silent("user")
        for conn in self.conns_of("user"):
            for binding in conn.bindings:
                if binding.key != lk.key or not binding.live:
                    continue
                binding.live = False
                if silent:
                    self.counters.frames_suppressed["user"] += 1
                elif conn.send(combined_text(lk.key, event) if conn.combined else event):
                    self.counters.frames_queued["user"] += 1
        log.info("sim: %s listenKey expired", lk.product)

    def on_key_deleted(self, lk: ListenKey) -> None:
        for conn in self.conns_of("user"):
            hit = False
            for binding in conn.bindings:
                if binding.key == lk.key:
                    binding.live = False
                    hit = True
            if hit and not any(binding.live for binding in conn.bindings):
                self._spawn(conn.close(1000, "listenKey closed"), f"sim-close-{conn.id}")

    # ---- faults -------------------------------------------------------------------------------

    def drop_connections(self, kind: ConnKind) -> int:
        conns = self.conns_of(kind)
        for conn in conns:
            conn.abort()
        return len(conns)

    def rotate_connections(self, kind: ConnKind) -> int:
        conns = self.conns_of(kind)
        for conn in conns:
            self._spawn(conn.close(GOING_AWAY, "going away"), f"sim-rotate-{conn.id}")
        return len(conns)

    def inject_malformed(
        self, count: int, kind: Literal["market", "user"], seed: int, varieties: Sequence[str]
    ) -> int:
        frames = malformed_frames(
            count, kind, seed=seed, now_ms=self._server_ms(), varieties=varieties
        )
        sent = 0
        silent = self.faults.is_silent(kind)
        for conn in self.conns_of(kind):
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
