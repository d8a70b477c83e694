"""Several accounts' USDⓈ-M user-data streams on one connection (issue 17).

Binance documents a multi-key form of the USDⓈ-M `/private` base: "stream mode (multiple
listenKeys + events)":
`wss://fstream.binance.com/private/stream?listenKey=<k1>&events=ORDER_TRADE_UPDATE&listenKey=<k2>
&events=ACCOUNT_UPDATE` ("Private supports listenKey + events subscription (multiple listenKeys
and multiple events)"; Binance USDⓈ-M Futures, "Important WebSocket Change Notice — Base URL
Split & Migration", developers.binance.com/docs/derivatives/usds-margined-futures/
websocket-market-streams/Important-WebSocket-Change-Notice; ccxt/go-binance#809 implements the
"private query-param/stream modes"). In stream mode every frame is wrapped
`{"stream":"<listenKey>","data":{...}}`, so the frame names the account it belongs to. COIN-M
(`dstream /ws/<listenKey>`) and Portfolio Margin (`/pm/ws/<listenKey>`) document one key per
connection only: their accounts keep a connection each (`live.py`).

`UserHub.join` puts an account's listenKey on a shared connection of its venue with room (at most
`max_keys` accounts, bounded by Binance's 1,024 streams per connection and, first, by the URL's
length: every key brings ~170 characters with its `events`, `MAX_URL_CHARS` in all). What an
account sees through its `UserLease` is what a connection of its own would show: frames of its
key only (unwrapped, so no listenKey reaches a recording), `Connected` once the connection
carries its key, `Disconnected` when it stops doing so. A key that joins, changes or leaves
moves the connection to a new URL by an overlapping rotation (`StreamSupervisor.rotate`): the
other accounts see no gap and resync nothing; joins arriving together are batched into one
rotation. A changed key (renewed after expiry) is a gap for its own account only: it gets
`Disconnected` at once and `Connected(after_gap=True)` (→ a resync) when the new URL is live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from monitor.base.backoff import Backoff
from monitor.base.clock import wall_ms
from monitor.binance import stream as st
from monitor.binance.endpoints import UM_USER_EVENTS, Endpoints

log = logging.getLogger(__name__)

FrameHandler = Callable[[str, int], None]
LifecycleHandler = Callable[[st.Lifecycle], Awaitable[None]]

#: Binance: at most 1,024 streams per connection.
MAX_STREAMS = 1024
#: A request line this long passes common HTTP front ends (8 KiB); Binance states no limit.
MAX_URL_CHARS = 8000
#: Joins (and key changes) within this long go to the connection in one rotation.
BATCH_S = 0.25
_PREFIX = '{"stream":"'


def _events_param() -> str:
    return "/".join(UM_USER_EVENTS)


def key_part(key: str) -> str:
    """`listenKey=<k>&events=<...>` of one account in the multi-key URL."""
    return f"listenKey={quote(key, safe='')}&events={_events_param()}"


def multi_key_url(endpoints: Endpoints, keys: list[str]) -> str:
    """`<private base>/stream?listenKey=k1&events=…&listenKey=k2&events=…` (keys in order)."""
    return f"{endpoints.ws_um_private}/stream?" + "&".join(key_part(k) for k in keys)


def max_keys_for(endpoints: Endpoints, key_len: int = 64) -> int:
    """How many accounts' keys one URL holds within `MAX_URL_CHARS` and `MAX_STREAMS`."""
    base = len(f"{endpoints.ws_um_private}/stream?")
    each = len(key_part("k" * key_len)) + 1
    return max(1, min(MAX_STREAMS, (MAX_URL_CHARS - base) // each))


def unwrap(text: str) -> tuple[str | None, str]:
    """(`stream`, payload text) of a combined-stream frame; (None, text) for a bare one."""
    if text.startswith(_PREFIX):
        end = text.find('"', len(_PREFIX))
        if end > 0 and text.startswith('","data":', end) and text.endswith("}"):
            return text[len(_PREFIX):end], text[end + len('","data":'):-1]
    elif '"stream"' not in text[:32]:
        return None, text
    try:  # not Binance's compact form: parse it
        obj = json.loads(text)
    except ValueError:
        return None, text
    if isinstance(obj, dict) and isinstance(obj.get("stream"), str) and "data" in obj:
        return obj["stream"], json.dumps(obj["data"], separators=(",", ":"))
    return None, text


@dataclass(eq=False, slots=True)
class UserLease:
    """One account's listenKey on a shared user connection."""

    owner: str
    key: str
    on_frame: FrameHandler
    on_lifecycle: LifecycleHandler
    connection: SharedUser
    #: The URL generation from which on the connection carries this key as it is now.
    since: int = 0
    #: The current connection carries this key (frames are delivered, `Connected` was sent).
    carried: bool = False
    #: Its account has seen a connection before (the next `Connected` is after a gap).
    had_connection: bool = False
    #: The account's current listenKey (`ListenKeyManager.key`), read by `reconnect`.
    key_source: Callable[[], str | None] | None = None

    @property
    def supervisor(self) -> st.StreamSupervisor:
        return self.connection.supervisor

    @property
    def connected(self) -> bool:
        """The shared connection is up and carries this account's key."""
        return self.carried and self.connection.supervisor.connected

    def set_key(self, key: str) -> None:
        """A new (or renewed) listenKey: a gap for this account until a URL carries it."""
        self.connection.rekey(self, key)

    def reconnect(self, reason: str) -> None:
        """What `StreamSupervisor.reconnect` is to a connection of its own: the account's key
        is new or renewed (`key_source`), so it comes back on a fresh URL, after a gap."""
        log.info("%s: %s: %s", self.connection.name, self.owner, reason)
        key = self.key_source() if self.key_source is not None else None
        self.set_key(key or self.key)

    async def leave(self) -> None:
        await self.connection.remove(self)

    async def stop(self) -> None:
        """Leave the connection (closing it if this was the last account on it)."""
        await self.leave()


@dataclass(eq=False, slots=True)
class SharedUser:
    """One supervised multi-key user connection and the leases on it."""

    hub: UserHub
    endpoints: Endpoints
    name: str
    capacity: int
    supervisor: st.StreamSupervisor = field(init=False)
    task: asyncio.Task[None] | None = None
    leases: list[UserLease] = field(default_factory=list)
    #: listenKey → the leases it serves (rebuilt on every change).
    routes: dict[str, tuple[UserLease, ...]] = field(default_factory=dict)
    #: Generation of the last URL built, and its keys; then those of the live connection.
    generation: int = 0
    dialed: tuple[int, frozenset[str]] = (0, frozenset())
    live: tuple[int, frozenset[str]] = (0, frozenset())
    _batch: asyncio.TimerHandle | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        settings = self.hub.timings
        cfg = st.StreamConfig(
            name=self.name,
            idle_timeout_s=settings.idle_timeout_s,
            max_age_s=settings.max_age_s,
            ping_interval_s=settings.ping_interval_s,
            ping_timeout_s=settings.ping_timeout_s,
            quiet=True,
        )
        self.supervisor = st.StreamSupervisor(
            cfg, self._url, self._frame, self._lifecycle, backoff=Backoff()
        )

    def start(self) -> None:
        self.task = asyncio.create_task(self.supervisor.run(), name=self.name)

    @property
    def full(self) -> bool:
        return len(self.leases) >= self.capacity

    def wanted(self) -> frozenset[str]:
        return frozenset(lease.key for lease in self.leases)

    # ---- membership
    def add(self, lease: UserLease) -> None:
        self.leases.append(lease)
        lease.since = self.generation + 1
        self._changed()

    def rekey(self, lease: UserLease, key: str) -> None:
        was = lease.carried
        lease.key = key
        lease.since = self.generation + 1
        lease.carried = False
        self._changed()
        if was:
            self._emit(lease, st.Disconnected(self.name, 0, "new listenKey", None, wall_ms()))

    async def remove(self, lease: UserLease) -> None:
        if lease not in self.leases:
            return
        self.leases.remove(lease)
        lease.carried = False
        if self.leases:
            self._changed()
            return
        self.hub.forget(self)
        if self._batch is not None:
            self._batch.cancel()
        await self.supervisor.stop()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()

    def _changed(self) -> None:
        routes: dict[str, list[UserLease]] = {}
        for lease in self.leases:
            routes.setdefault(lease.key, []).append(lease)
        self.routes = {key: tuple(leases) for key, leases in routes.items()}
        if self._batch is None and self.task is not None:
            self._batch = asyncio.get_running_loop().call_later(BATCH_S, self._move)

    def _move(self) -> None:
        """Bring the connection's URL in line with the leases: a rotation when connected (the
        others see no gap); otherwise the next attempt's URL carries them anyway."""
        self._batch = None
        if self.supervisor.connected and self._stale():
            self.supervisor.rotate("listenKeys changed")

    def _stale(self) -> bool:
        generation, keys = self.live
        return any(lease.key not in keys or lease.since > generation for lease in self.leases)

    # ---- the supervisor's callbacks
    async def _url(self) -> str:
        if self.generation == 0:
            await asyncio.sleep(BATCH_S)  # the first joins of a start-up, in one URL
        self.generation += 1
        keys = list(dict.fromkeys(lease.key for lease in self.leases))
        self.dialed = (self.generation, frozenset(keys))
        return multi_key_url(self.endpoints, keys)

    def _frame(self, text: str, t_ms: int) -> None:
        key, payload = unwrap(text)
        targets = self.routes.get(key, ()) if key is not None else ()
        if not any(lease.carried for lease in targets):
            self.supervisor.stats.unrouted += 1  # nobody on this connection takes it now
            return
        for lease in targets:
            if not lease.carried:
                continue
            try:
                lease.on_frame(payload, t_ms)
            except Exception:
                self.supervisor.stats.count_error("on_frame")
                log.exception("%s: the frame handler of %s raised", self.name, lease.owner)

    async def _lifecycle(self, event: st.Lifecycle) -> None:
        if isinstance(event, st.Connected):
            self.live = self.dialed
            generation, keys = self.live
            for lease in tuple(self.leases):
                carried = lease.key in keys and lease.since <= generation
                if not carried:
                    continue
                if lease.carried and event.rotation:
                    await self._call(lease, event)  # still carried: no gap for this account
                    continue
                if lease.carried and not event.rotation:
                    lease.carried = True
                    await self._call(lease, event)
                    continue
                # Newly carried (joined, or a new key): its own connection just opened.
                lease.carried = True
                announced = st.Connected(event.stream, event.conn_id, event.url_redacted,
                                         lease.had_connection, False, event.t_ms)
                lease.had_connection = True
                await self._call(lease, announced)
            if self._stale() and self._batch is None:
                self._batch = asyncio.get_running_loop().call_later(BATCH_S, self._move)
            return
        if isinstance(event, st.Disconnected):
            for lease in tuple(self.leases):
                if lease.carried:
                    lease.carried = False
                    await self._call(lease, event)
            self.live = (self.live[0], frozenset())
            return
        for lease in tuple(self.leases):  # watchdog, rotated: the carried accounts' business
            if lease.carried:
                await self._call(lease, event)

    async def _call(self, lease: UserLease, event: st.Lifecycle) -> None:
        try:
            await lease.on_lifecycle(event)
        except Exception:
            log.exception("%s: the lifecycle handler of %s raised", self.name, lease.owner)

    def _emit(self, lease: UserLease, event: st.Lifecycle) -> None:
        task = asyncio.create_task(self._call(lease, event), name=f"{lease.owner} user event")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@dataclass(frozen=True, slots=True)
class UserTimings:
    """What a shared user connection takes from the live settings (seconds)."""

    idle_timeout_s: float | None
    max_age_s: float
    ping_interval_s: float
    ping_timeout_s: float


class UserHub:
    """The daemon's shared USDⓈ-M user connections, per venue (`Endpoints`)."""

    def __init__(self, timings: UserTimings, *, max_keys: int | None = None) -> None:
        self.timings = timings
        self.max_keys = max_keys
        self._connections: dict[Endpoints, list[SharedUser]] = {}

    def join(
        self,
        owner: str,
        endpoints: Endpoints,
        key: str,
        on_frame: FrameHandler,
        on_lifecycle: LifecycleHandler,
        key_source: Callable[[], str | None] | None = None,
    ) -> UserLease:
        """Put `owner`'s listenKey on a connection of its venue with room (a new one when all
        are full). Call from the event loop."""
        group = self._connections.setdefault(endpoints, [])
        connection = next((c for c in group if not c.full), None)
        if connection is None:
            capacity = self.max_keys or max_keys_for(endpoints)
            connection = SharedUser(self, endpoints, self._name(endpoints), capacity)
            group.append(connection)
            lease = UserLease(owner, key, on_frame, on_lifecycle, connection,
                              key_source=key_source)
            connection.add(lease)
            connection.start()
            return lease
        lease = UserLease(owner, key, on_frame, on_lifecycle, connection, key_source=key_source)
        connection.add(lease)
        return lease

    def forget(self, connection: SharedUser) -> None:
        group = self._connections.get(connection.endpoints, [])
        with contextlib.suppress(ValueError):
            group.remove(connection)
        if not group:
            self._connections.pop(connection.endpoints, None)

    def connections(self) -> list[SharedUser]:
        return [c for group in self._connections.values() for c in group]

    def _name(self, endpoints: Endpoints) -> str:
        host = urlsplit(endpoints.ws_um_private).netloc or endpoints.ws_um_private
        taken = {c.name for c in self.connections()}
        n = 1
        while f"user-um@{host}/{n}" in taken:
            n += 1
        return f"user-um@{host}/{n}"
