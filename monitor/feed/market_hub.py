"""One market-data connection per venue and product, shared by the accounts that use it.

Accounts on the same exchange environment watch mark prices over the same hosts, often of the
same symbols (a desk's sub-accounts hedge the same book). Rather than one combined stream per
account, `MarketHub` keeps one per (`Endpoints`, product) carrying the union of the streams its
subscribers want. When that union changes it re-subscribes in place (SUBSCRIBE / UNSUBSCRIBE on
the open connection; a reconnect's URL carries the whole union). Each frame goes to the accounts
that asked for its stream (by the combined stream's `"stream"` name; a frame without one, such
as a SUBSCRIBE acknowledgement, goes to all). Lifecycle events (connected, gap, watchdog,
rotation) go to every subscriber, so each account's resync and blind logic sees the health of
the connection it depends on.

Each connection has a name unique within the hub (`market-um@fstream.binance.com`, with `/2`…
when two connections would share one): its supervisor's name, its log prefix and the
`connection` label of its metrics, so a connection shared by several accounts is counted once.

One account's failure stays its own: a subscriber whose frame handler raises is logged
(throttled) and counted in the connection's `on_frame` errors; the others keep receiving.
A subscriber that leaves (its pipeline stopped or restarted) takes its streams off the
connection; the last one to leave closes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from monitor.base.backoff import Backoff
from monitor.binance import stream as st
from monitor.binance.endpoints import Endpoints, Product

log = logging.getLogger(__name__)

FrameHandler = Callable[[str, int], None]
LifecycleHandler = Callable[[st.Lifecycle], Awaitable[None]]

#: At most one log line per subscriber and this many seconds for a raising frame handler.
FAILURE_LOG_EVERY_S = 60.0
_STREAM_PREFIX = '{"stream":"'


def stream_name(text: str) -> str | None:
    """The `"stream"` name of a combined-stream frame (Binance writes it first); None when
    the frame does not start with one."""
    if not text.startswith(_STREAM_PREFIX):
        return None
    end = text.find('"', len(_STREAM_PREFIX))
    return None if end < 0 else text[len(_STREAM_PREFIX):end]


@dataclass(frozen=True, slots=True)
class StreamTimings:
    """What a market connection needs from the live settings (seconds)."""

    idle_timeout_s: float
    max_age_s: float
    ping_interval_s: float
    ping_timeout_s: float


@dataclass(eq=False, slots=True)
class MarketLease:
    """One account's share of a market connection."""

    owner: str
    on_frame: FrameHandler
    on_lifecycle: LifecycleHandler
    wanted: frozenset[str]
    connection: SharedMarket
    failed_at: float = -float("inf")
    failures: int = 0

    @property
    def supervisor(self) -> st.StreamSupervisor:
        return self.connection.supervisor

    def want(self, wanted: frozenset[str]) -> None:
        """Change the streams this account wants (an empty set keeps the lease: `leave`)."""
        if wanted != self.wanted:
            self.wanted = wanted
            self.connection.changed()

    async def leave(self) -> None:
        """Take this account's streams off the connection (closing it if it was the last)."""
        await self.connection.remove(self)


@dataclass(eq=False, slots=True)
class SharedMarket:
    """One supervised market connection and the leases on it."""

    hub: MarketHub
    key: tuple[Endpoints, Product]
    supervisor: st.StreamSupervisor = field(init=False)
    task: asyncio.Task[None] | None = None
    leases: list[MarketLease] = field(default_factory=list)
    #: Streams per name → the leases that want them (rebuilt when any lease changes).
    routes: dict[str, tuple[MarketLease, ...]] = field(default_factory=dict)
    wanted: frozenset[str] = frozenset()
    subscribed: frozenset[str] = frozenset()
    attempt: int = 0
    frames_since_connect: int = 0
    next_id: int = 1
    _sync: asyncio.Task[None] | None = None

    @property
    def product(self) -> Product:
        return self.key[1]

    def start(self, name: str, timings: StreamTimings) -> None:
        cfg = st.StreamConfig(
            name=name,
            idle_timeout_s=timings.idle_timeout_s,
            max_age_s=timings.max_age_s,
            ping_interval_s=timings.ping_interval_s,
            ping_timeout_s=timings.ping_timeout_s,
        )
        self.supervisor = st.StreamSupervisor(
            cfg, self._url, self._frame, self._lifecycle, backoff=Backoff()
        )
        self.task = asyncio.create_task(self.supervisor.run(), name=name)

    # ---- leases
    def changed(self) -> None:
        """Recompute the union and the routes; re-subscribe in place when the union moved."""
        routes: dict[str, list[MarketLease]] = {}
        for lease in self.leases:
            for name in lease.wanted:
                routes.setdefault(name, []).append(lease)
        self.routes = {name: tuple(leases) for name, leases in routes.items()}
        self.wanted = frozenset(routes)
        if self.wanted != self.subscribed and (self._sync is None or self._sync.done()):
            self._sync = asyncio.create_task(self._resubscribe(), name="market resubscribe")

    async def remove(self, lease: MarketLease) -> None:
        if lease not in self.leases:
            return
        self.leases.remove(lease)
        if self.leases:
            self.changed()
            return
        self.hub.forget(self)
        if self._sync is not None:
            self._sync.cancel()
        await self.supervisor.stop()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _resubscribe(self) -> None:
        """SUBSCRIBE / UNSUBSCRIBE until the connection carries the union (a change made while
        a message is in flight is picked up by the next round)."""
        while self.wanted != self.subscribed and self.wanted:
            wanted = self.wanted
            added = sorted(wanted - self.subscribed)
            removed = sorted(self.subscribed - wanted)
            for method, params in (("SUBSCRIBE", added), ("UNSUBSCRIBE", removed)):
                if not params:
                    continue
                message = json.dumps({"method": method, "params": params, "id": self.next_id})
                self.next_id += 1
                if not await self.supervisor.send(message):
                    return  # not connected: the next connection's URL carries `wanted`
            self.subscribed = wanted

    # ---- the supervisor's callbacks
    async def _url(self) -> str:
        self.subscribed = self.wanted
        return self.key[0].market_url(self.product, self.wanted, self.attempt)

    def _frame(self, text: str, t_ms: int) -> None:
        self.frames_since_connect += 1
        name = stream_name(text)
        targets = self.routes.get(name, ()) if name is not None else self.leases
        if name is not None and not targets:
            self.supervisor.stats.unrouted += 1
            return  # a stream nobody wants any more (unsubscribe in flight)
        for lease in tuple(targets):
            try:
                lease.on_frame(text, t_ms)
            except Exception:
                self._handler_failed(lease)

    def _handler_failed(self, lease: MarketLease) -> None:
        self.supervisor.stats.count_error("on_frame")
        lease.failures += 1
        now = time.monotonic()
        if now - lease.failed_at >= FAILURE_LOG_EVERY_S:
            lease.failed_at = now
            log.exception(
                "%s: the frame handler of %s raised (%d time(s)); the connection continues",
                self.supervisor.config.name, lease.owner, lease.failures,
            )

    async def _lifecycle(self, event: st.Lifecycle) -> None:
        if isinstance(event, st.WatchdogFired) and self.frames_since_connect == 0:
            # Acked but silent: the legacy-URL symptom; try the next base (testnet, demo).
            self.attempt += 1
        if isinstance(event, st.Connected):
            self.frames_since_connect = 0
        for lease in tuple(self.leases):
            try:
                await lease.on_lifecycle(event)
            except Exception:
                log.exception("%s: the lifecycle handler of %s raised",
                              self.supervisor.config.name, lease.owner)


class MarketHub:
    """The daemon's market connections, one per (endpoints, product)."""

    def __init__(self, timings: StreamTimings) -> None:
        self.timings = timings
        self._connections: dict[tuple[Endpoints, Product], SharedMarket] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def join(
        self,
        owner: str,
        endpoints: Endpoints,
        product: Product,
        wanted: frozenset[str],
        on_frame: FrameHandler,
        on_lifecycle: LifecycleHandler,
    ) -> MarketLease:
        """Add `owner`'s streams to the connection for (endpoints, product), opening it when
        none is open. Call from the event loop."""
        key = (endpoints, product)
        connection = self._connections.get(key)
        fresh = connection is None
        if connection is None:
            connection = self._connections[key] = SharedMarket(self, key)
        lease = MarketLease(owner, on_frame, on_lifecycle, wanted, connection)
        connection.leases.append(lease)
        if fresh:
            connection.changed()
            connection.start(self._name(endpoints, product), self.timings)
        else:
            connection.changed()
            if connection.supervisor.connected:
                # Already up: the new subscriber must know, or it would wait for a reconnect.
                connected = st.Connected(
                    stream=connection.supervisor.config.name,
                    conn_id=0,
                    url_redacted="",
                    after_gap=False,
                    rotation=False,
                    t_ms=int(time.time() * 1000),
                )

                async def announce() -> None:
                    await on_lifecycle(connected)

                task = asyncio.create_task(announce(), name=f"{owner} joined")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return lease

    def forget(self, connection: SharedMarket) -> None:
        if self._connections.get(connection.key) is connection:
            del self._connections[connection.key]

    def connections(self) -> list[SharedMarket]:
        return list(self._connections.values())

    def _name(self, endpoints: Endpoints, product: Product) -> str:
        """`market-<product>@<host>`, made unique among the open connections."""
        base = endpoints.ws_cm if product is Product.CM else endpoints.ws_um_market[0]
        host = urlsplit(base).netloc or base
        name = f"market-{product.value}@{host}"
        taken = {
            c.supervisor.config.name for c in self._connections.values() if c.task is not None
        }
        n = 1
        unique = name
        while unique in taken:
            n += 1
            unique = f"{name}/{n}"
        return unique
