"""The live source of one account: REST snapshot, market and user streams, pollers, resyncs.

`LiveFeed` turns Binance into the same lines a recording holds — `rest` groups and `ws` frames
in receive order — and hands them to a `FeedSink` (the account pipeline), so the live path and a
replay run the very same decoders and engine, and a recording of a live session reproduces it.

What it keeps right, for months:
- **Start-up**: the user stream is opened first and its frames are held back; then the REST
  snapshot of every path the mode needs is taken and applied as one group; then the held frames
  follow. Nothing that happened between the snapshot and the first event is lost.
- **Gaps**: after any user-stream gap (reconnect, listenKey renewal, a `listenKeyExpired`, a
  quiet stream recycled), or an exchange event that invalidates the state, a REST resync is
  taken while new user frames are held, then applied atomically, then the held frames follow.
  Resyncs are single-flight and retried with backoff until they succeed.
- **Market data**: the held symbols' `@markPrice@1s` (plus `!assetIndex@arr` in Multi-Assets)
  on the venue's shared combined stream per product (USDⓈ-M on `/market`, COIN-M on
  dstream; `market_hub.py`: accounts on one venue share it), re-subscribed in place
  (SUBSCRIBE / UNSUBSCRIBE) when positions change. A routed base that stays silent moves to the
  environment's fallback base.
- **Pollers**: Portfolio Margin asset index prices (Binance has no stream for them), the PM
  account (open loss, status) after order events and on the reconciliation timer, and the
  reconciliation of the exchange's own figures (drift → resync).
- **Liveness**: the user stream is "alive" while connected and not being resynced; the sink
  asks `user_alive` once a second.

Why one file above ~500 lines: it is the one place where the streams, the REST resyncs and the
sink meet, and the ordering rules between them (hold frames during a resync, replay them after)
must be read together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monitor.base.backoff import Backoff
from monitor.base.clock import wall_ms
from monitor.binance import stream as st
from monitor.binance.decode.snapshot import rest_paths_for
from monitor.binance.decode.user_events import (
    ListenKeyExpired,
    OpenLossRefresh,
    ResnapshotNeeded,
    ServiceSignal,
)
from monitor.binance.endpoints import Endpoints, Product, user_product
from monitor.binance.listen_key import ListenKeyManager
from monitor.binance.rest import RestClient, RestResult
from monitor.binance.rest_errors import RestError
from monitor.core.health import WAITING_FOR_BUDGET, FeedHealth, HealthKind, ResyncReason
from monitor.engine.model import Mode
from monitor.feed.market_hub import MarketHub, MarketLease, StreamTimings
from monitor.feed.market_polls import MarketPolls, PollLease
from monitor.feed.reconcile import PM_ACCOUNT, account_path
from monitor.feed.recording import RestLine, WsLine
from monitor.feed.rest_lines import to_rest_line
from monitor.feed.shared_bodies import shared_line
from monitor.feed.user_hub import UserHub, UserLease, UserTimings

log = logging.getLogger(__name__)

ASSET_INDEX_PRICE = "/sapi/v1/portfolio/asset-index-price"
API_RESTRICTIONS = "/sapi/v1/account/apiRestrictions"
#: apiRestrictions flags that let the key do more than read, with their names in alerts.
RISKY_FLAGS = (
    ("enableWithdrawals", "withdrawals"),
    ("enableInternalTransfer", "internal transfers"),
    ("permitsUniversalTransfer", "universal transfers"),
    ("enableFutures", "futures trading"),
    ("enableSpotAndMarginTrading", "spot and margin trading"),
    ("enableMargin", "margin"),
    ("enableVanillaOptions", "options trading"),
    ("enablePortfolioMarginTrading", "portfolio margin trading"),
)
MARK_STREAM = "{}@markPrice@1s"
#: How often a running resync checks whether it waits for the shared REST weight budget (s).
BUDGET_CHECK_S = 0.25
#: The feed's health kind of each stream lifecycle event.
_LIFECYCLE_KINDS: dict[type[st.Lifecycle], HealthKind] = {
    st.Connected: HealthKind.CONNECTED,
    st.Disconnected: HealthKind.DISCONNECTED,
    st.WatchdogFired: HealthKind.WATCHDOG,
    st.Rotated: HealthKind.ROTATED,
}
ASSET_INDEX_STREAM = "!assetIndex@arr"


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Timings of the live feed (seconds). Defaults suit mainnet; tests compress them."""

    asset_index_poll_s: float = 10.0
    reconcile_s: float = 60.0
    #: A full REST resync this often even without any sign of trouble (belt and braces).
    full_resync_s: float = 6 * 3600.0
    #: After a drift-triggered resync, a drift that persists only alerts for this long (a
    #: fresh snapshot that still disagrees is not cured by another one).
    drift_resync_quiet_s: float = 600.0
    open_loss_min_interval_s: float = 2.0
    market_idle_s: float = 10.0
    #: A user stream silent this long is recycled (reconnect + resync) without any alert.
    user_idle_s: float = 1200.0
    max_age_s: float = 23 * 3600.0
    keepalive_s: float = 1800.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    #: How long start-up waits for the user stream before taking the snapshot anyway.
    user_connect_wait_s: float = 10.0
    #: USDⓈ-M accounts of one venue share user connections (several listenKeys on one,
    #: `user_hub.py`) when the daemon offers a hub.
    share_user_streams: bool = True


def stream_timings(settings: LiveSettings) -> StreamTimings:
    """What a market connection takes from the live settings."""
    return StreamTimings(
        idle_timeout_s=settings.market_idle_s,
        max_age_s=settings.max_age_s,
        ping_interval_s=settings.ping_interval_s,
        ping_timeout_s=settings.ping_timeout_s,
    )


def user_timings(settings: LiveSettings) -> UserTimings:
    """What a shared user connection (`user_hub.py`) takes from the live settings."""
    return UserTimings(
        idle_timeout_s=settings.user_idle_s,
        max_age_s=settings.max_age_s,
        ping_interval_s=settings.ping_interval_s,
        ping_timeout_s=settings.ping_timeout_s,
    )


@dataclass(frozen=True, slots=True)
class Holdings:
    """What the account holds now: which symbols per product need marks, which assets rates."""

    mode: Mode
    symbols: dict[Product, frozenset[str]]
    asset_index: bool = False
    #: Portfolio Margin: the non-stablecoin assets whose USD index price values the account.
    priced_assets: frozenset[str] = frozenset()


class FeedSink(Protocol):
    """The consumer of a live feed (the account pipeline). Every call is synchronous."""

    def rest_group(
        self, lines: Sequence[RestLine], reason: str, resync: ResyncReason | None = None
    ) -> None:
        """Apply a group of REST responses atomically: a full snapshot taken for `resync`
        (`reason` in words), or a periodic refresh (`resync` None)."""

    def frame(self, line: WsLine) -> Sequence[ServiceSignal]:
        """Apply one websocket frame (hot path); the service signals it carried."""

    def holdings(self) -> Holdings | None:
        """The current holdings; None before the first snapshot."""

    def health(self, event: FeedHealth) -> None:
        """A lifecycle or trouble report (metrics, logs, blind alerts)."""

    def reconcile(self, result: RestResult) -> bool:
        """Compare the exchange's figures with the book; True when they drifted (→ resync)."""

    def key_permissions(self, enabled: tuple[str, ...]) -> None:
        """What the API key may do beyond reading (an ops alert when anything)."""


@dataclass(slots=True)
class FeedCounters:
    resyncs: int = 0
    resync_failures: int = 0
    snapshots: int = 0
    polls: int = 0
    poll_failures: int = 0
    reconciliations: int = 0
    drifts: int = 0
    subscription_changes: int = 0
    held_frames_max: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class LiveFeed:
    """One account's live Binance connection, feeding a `FeedSink`."""

    def __init__(
        self,
        account: str,
        endpoints: Endpoints,
        rest: RestClient,
        sink: FeedSink,
        *,
        mode: Mode | None = None,
        settings: LiveSettings | None = None,
        now_ms: Callable[[], int] = wall_ms,
        hub: MarketHub | None = None,
        polls: MarketPolls | None = None,
        users: UserHub | None = None,
    ) -> None:
        self.account = account
        self.endpoints = endpoints
        self.rest = rest
        self.sink = sink
        self.mode = mode
        self.settings = settings or LiveSettings()
        self.counters = FeedCounters()
        self._now_ms = now_ms
        #: The daemon's shared market connections (a private hub when run alone).
        self._hub = hub if hub is not None else MarketHub(stream_timings(self.settings))
        #: The daemon's shared market-data pollers (a private one when run alone).
        self._polls = polls if polls is not None else MarketPolls(self.settings.asset_index_poll_s)
        self._poll_lease: PollLease | None = None
        self._markets: dict[Product, MarketLease] = {}
        #: The account's user stream: a connection of its own, or its key on a shared one.
        self._user: st.StreamSupervisor | UserLease | None = None
        self._users = users
        self._listen: ListenKeyManager | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: list[WsLine] | None = []  # user frames held back (None: deliver directly)
        self._snapshot_taken = False
        self._resync_reason: tuple[str, ResyncReason] | None = None
        self._resync_requests = 0  # bumped per request: a request during a resync re-runs it
        self._resync_wake = asyncio.Event()
        self._user_connected = asyncio.Event()
        self._last_open_loss = 0.0
        self._open_loss_pending = False
        self._stopping = False
        self._key_check_running = False

    # ------------------------------------------------------------------ public
    @property
    def user_alive(self) -> bool:
        """The user stream is connected and its events are being applied (not held back)."""
        return self._user is not None and self._user.connected and self._held is None

    @property
    def listen_key(self) -> str | None:
        """The current listenKey (a secret: for redaction only)."""
        return None if self._listen is None else self._listen.key

    def streams(self) -> list[tuple[str, st.StreamSupervisor]]:
        """The supervisors, named (for status and metrics)."""
        out = [(f"market-{p.value}", lease.supervisor) for p, lease in self._markets.items()]
        if isinstance(self._user, UserLease):
            out.append(("user", self._user.supervisor))
        elif self._user is not None:
            out.append(("user", self._user))
        return out

    async def run(self) -> None:
        """Start up, then keep everything running until cancelled (or `stop`)."""
        try:
            # A fleet's start-up queues behind the shared REST budget: the account says so.
            watcher = asyncio.create_task(self._report_queued(ResyncReason.STARTUP),
                                          name="budget watch")
            try:
                if self.mode is None:
                    self.mode = await detect_mode(self.rest)
                    log.info("account %s: detected mode %s", self.account, self.mode.value)
                await self._check_key()
                await self._start_user_stream()
                await self._snapshot("start-up snapshot", ResyncReason.STARTUP)
            finally:
                watcher.cancel()
            self._release_held()
            self.sync_subscriptions()
            self._spawn(self._resync_loop(), "resync")
            self._spawn(self._reconcile_loop(), "reconcile")
            if self.mode is Mode.PORTFOLIO_MARGIN:
                self._join_asset_index_polls()
            await asyncio.Event().wait()
        finally:
            await self._shutdown()

    def on_signal(self, signal: ServiceSignal) -> None:
        """A service signal the pipeline decoded from a user event."""
        if isinstance(signal, ListenKeyExpired):
            self._spawn(self._renew_listen_key(), "listen-key renewal")
        elif isinstance(signal, ResnapshotNeeded):
            self.request_resync(f"exchange: {signal.reason}", ResyncReason.EXCHANGE)
        elif isinstance(signal, OpenLossRefresh):
            self._refresh_open_loss()

    def request_resync(self, reason: str, kind: ResyncReason = ResyncReason.OTHER) -> None:
        """Take a fresh REST snapshot soon (coalesced); user frames are held meanwhile.
        `reason` says why in words (logs, `/status`), `kind` for decisions and metrics."""
        if self._stopping:
            return
        if self._held is None:
            self._held = []
        if self._resync_reason is None:
            self._resync_reason = (reason, kind)
        self._resync_requests += 1
        self._resync_wake.set()

    def sync_subscriptions(self) -> None:
        """Bring the market connections in line with the holdings (cheap when unchanged)."""
        holdings = self.sink.holdings()
        if holdings is None or self._stopping:
            return
        for product in (Product.UM, Product.CM):
            wanted = frozenset(MARK_STREAM.format(s.lower()) for s in holdings.symbols[product])
            if product is Product.UM and holdings.asset_index:
                wanted |= {ASSET_INDEX_STREAM}
            lease = self._markets.get(product)
            if lease is None:
                if wanted:
                    self._join_market(product, wanted)
                continue
            if wanted == lease.wanted:
                continue
            self.counters.subscription_changes += 1
            if not wanted:
                self._markets.pop(product)
                self._spawn(lease.leave(), f"leave market-{product.value}")
                continue
            lease.want(wanted)

    async def stop(self) -> None:
        await self._shutdown()

    async def _check_key(self) -> None:
        """Warn when the key can trade or withdraw: a monitor needs a read-only key."""
        try:
            result = await self.rest.get(API_RESTRICTIONS)
        except (RestError, OSError, TimeoutError) as exc:
            log.info("account %s: could not read the API key's restrictions (%s)", self.account,
                     exc)
            return
        self.sink.key_permissions(risky_permissions(result.data))

    # ------------------------------------------------------------------ user stream
    async def _start_user_stream(self) -> None:
        assert self.mode is not None
        product = user_product(self.mode)
        self._listen = ListenKeyManager(
            self.rest, product, keepalive_s=self.settings.keepalive_s, on_new_key=self._new_key
        )
        if self._users is not None and self.settings.share_user_streams and product is Product.UM:
            listen = self._listen  # several listenKeys on one connection (user_hub.py)
            key = await listen.acquire()
            self._user = self._users.join(self.account, self.endpoints, key, self._user_frame,
                                          self._user_lifecycle, key_source=lambda: listen.key)
        else:
            cfg = st.StreamConfig(
                name=f"{self.account}/user",
                idle_timeout_s=self.settings.user_idle_s,
                max_age_s=self.settings.max_age_s,
                ping_interval_s=self.settings.ping_interval_s,
                ping_timeout_s=self.settings.ping_timeout_s,
                quiet=True,
            )
            self._user = st.StreamSupervisor(
                cfg, self._user_url, self._user_frame, self._user_lifecycle, backoff=Backoff()
            )
            self._spawn(self._user.run(), "user stream")
        self._spawn(self._listen.keepalive_loop(), "listen-key keepalive")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._user_connected.wait(), timeout=self.settings.user_connect_wait_s
            )
        if not self._user_connected.is_set():
            log.warning(
                "account %s: user stream not connected after %.0f s; snapshot taken anyway",
                self.account,
                self.settings.user_connect_wait_s,
            )

    async def _user_url(self) -> str:
        assert self._listen is not None and self.mode is not None
        key = self._listen.key or await self._listen.acquire()
        return self.endpoints.user_url(user_product(self.mode), key)

    async def _new_key(self, key: str) -> None:
        """The listenKey changed (or was renewed after expiry): reconnect, which resyncs."""
        if self._user is not None:
            self._user.reconnect("new listenKey")

    async def _renew_listen_key(self) -> None:
        assert self._listen is not None
        self.request_resync("listenKey expired", ResyncReason.LISTEN_KEY)
        await self._listen.expired()

    def _user_frame(self, text: str, t_ms: int) -> None:
        line = WsLine(t_ms, "user", None, text)
        held = self._held
        if held is not None:
            held.append(line)
            self.counters.held_frames_max = max(self.counters.held_frames_max, len(held))
            return
        for signal in self.sink.frame(line):
            self.on_signal(signal)
        self.sync_subscriptions()

    async def _user_lifecycle(self, event: st.Lifecycle) -> None:
        self._report(event, "user")
        if isinstance(event, st.Connected):
            self._user_connected.set()
            if not event.rotation and self._snapshot_taken:
                reason = "user stream reconnected" if event.after_gap else "connected"
                self.request_resync(reason, ResyncReason.GAP)
        elif isinstance(event, st.Disconnected):
            if self._held is None:
                # Frames from the next connection are held until the resync it triggers lands.
                self._held = []
            if not self._key_check_running:
                self._key_check_running = True
                self._spawn(self._check_listen_key(), "listen-key check")

    async def _check_listen_key(self) -> None:
        """After a user-stream loss, make sure the listenKey is still valid (one PUT); a new key
        reconnects the stream (`_new_key`)."""
        assert self._listen is not None
        try:
            await self._listen.check()
        except (RestError, OSError, TimeoutError) as exc:
            log.info("account %s: listenKey check failed (%s); the keep-alive retries",
                     self.account, exc)
        finally:
            self._key_check_running = False

    def _release_held(self) -> None:
        held, self._held = self._held, None
        for line in held or ():
            for signal in self.sink.frame(line):
                self.on_signal(signal)
        self.sync_subscriptions()

    # ------------------------------------------------------------------ market streams
    def _join_market(self, product: Product, wanted: frozenset[str]) -> None:
        """Add this account's streams to the venue's shared connection for `product`."""
        stream = f"market-{product.value}"

        def on_frame(text: str, t_ms: int) -> None:
            self.sink.frame(WsLine(t_ms, "market", None, text))

        async def on_lifecycle(event: st.Lifecycle) -> None:
            self._report(event, stream)

        self._markets[product] = self._hub.join(
            self.account, self.endpoints, product, wanted, on_frame, on_lifecycle
        )

    # ------------------------------------------------------------------ REST
    async def _snapshot(self, reason: str, kind: ResyncReason) -> None:
        assert self.mode is not None
        results = await self.rest.snapshot(rest_paths_for(self.mode))
        venue = self.endpoints.rest_um  # a fleet keeps one copy of each big identical table
        lines = [shared_line(venue, to_rest_line(r)) for r in results]
        self.sink.rest_group(lines, reason, kind)
        self._snapshot_taken = True
        self.counters.snapshots += 1

    async def _resync_loop(self) -> None:
        backoff = Backoff(base_s=1.0, cap_s=60.0)
        while True:
            await self._resync_wake.wait()
            reason, kind = self._resync_reason or ("resync", ResyncReason.OTHER)
            requests = self._resync_requests
            watcher = asyncio.create_task(self._report_queued(kind), name="budget watch")
            try:
                await self._snapshot(reason, kind)
            except (RestError, OSError, TimeoutError) as exc:
                self.counters.resync_failures += 1
                delay = backoff.next_delay()
                self.sink.health(FeedHealth(
                    HealthKind.RESYNC_FAILED, "rest", f"{reason}: {exc}", self._now_ms(), kind
                ))
                log.warning("account %s: resync failed (%s); retry in %.1f s", self.account,
                            exc, delay)
                await asyncio.sleep(delay)
                continue
            finally:
                watcher.cancel()
            backoff.reset()
            self.counters.resyncs += 1
            self.counters.reasons[reason] = self.counters.reasons.get(reason, 0) + 1
            if self._resync_requests != requests:
                continue  # asked again while fetching: the state may predate the cause
            self._resync_reason = None
            self._resync_wake.clear()
            self._release_held()
            self.sink.health(FeedHealth(HealthKind.RESYNC, "rest", reason, self._now_ms(), kind))

    async def _report_queued(self, kind: ResyncReason) -> None:
        """While a resync runs: once one of its requests stays queued behind the REST weight
        budget every account on this egress shares (`binance/budget.py`; `RestClient` reserves
        before each request, as its owner), the account is blind "waiting for REST budget"
        until the resync lands or fails. Seen on two checks in a row, so a request merely
        granted on the next loop turn never counts."""
        budgets = self.rest.budgets
        if budgets is None:
            return
        seen = False
        while True:
            await asyncio.sleep(BUDGET_CHECK_S)
            queued = budgets.queued(self.rest)
            if queued and seen:
                self.sink.health(FeedHealth(
                    HealthKind.RESYNC_QUEUED, "rest", WAITING_FOR_BUDGET, self._now_ms(), kind
                ))
                return
            seen = queued

    async def _poll(self, path: str, reason: str) -> RestResult | None:
        try:
            result = await self.rest.get(path)
        except (RestError, OSError, TimeoutError) as exc:
            self.counters.poll_failures += 1
            self.sink.health(
                FeedHealth(HealthKind.REST_ERROR, "rest", f"{path}: {exc}", self._now_ms())
            )
            return None
        self.counters.polls += 1
        return result

    def _join_asset_index_polls(self) -> None:
        """PM collateral prices: this venue's shared poller asks for the assets every account on
        it values, once per interval (`market_polls.py`), and hands this one its answers."""

        def wanted() -> frozenset[str]:
            holdings = self.sink.holdings()
            return holdings.priced_assets if holdings is not None else frozenset()

        def deliver(lines: list[RestLine]) -> None:
            self.counters.polls += len(lines)
            self.sink.rest_group(lines, "asset index prices")

        def failed(detail: str) -> None:
            self.counters.poll_failures += 1
            self.sink.health(FeedHealth(HealthKind.REST_ERROR, "rest", detail, self._now_ms()))

        self._poll_lease = self._polls.join(
            self.account, self.endpoints, self.rest.sibling, wanted, deliver, failed
        )

    def _refresh_open_loss(self) -> None:
        if self.mode is not Mode.PORTFOLIO_MARGIN or self._open_loss_pending:
            return
        self._open_loss_pending = True
        self._spawn(self._open_loss(), "open-loss refresh")

    async def _open_loss(self) -> None:
        try:
            wait = self._last_open_loss + self.settings.open_loss_min_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_open_loss = time.monotonic()
            result = await self._poll(PM_ACCOUNT, "open loss")
            if result is not None:
                self.sink.rest_group([to_rest_line(result)], "open-loss refresh")
        finally:
            self._open_loss_pending = False

    async def _reconcile_loop(self) -> None:
        assert self.mode is not None
        path = account_path(self.mode)
        last_full = time.monotonic()
        last_drift_resync = -float("inf")
        while True:
            await asyncio.sleep(self.settings.reconcile_s)
            if time.monotonic() - last_full >= self.settings.full_resync_s:
                last_full = time.monotonic()
                self.request_resync("periodic full resync", ResyncReason.PERIODIC)
                continue
            if self._held is not None:
                continue  # a resync is under way: nothing to compare yet
            result = await self._poll(path, "reconciliation")
            if result is None:
                continue
            self.counters.reconciliations += 1
            if path == PM_ACCOUNT:
                self.sink.rest_group([to_rest_line(result)], "reconciliation")
            if self.sink.reconcile(result):
                self.counters.drifts += 1
                now = time.monotonic()
                if now - last_drift_resync >= self.settings.drift_resync_quiet_s:
                    last_drift_resync = now
                    self.request_resync("drift from the exchange's figures", ResyncReason.DRIFT)

    # ------------------------------------------------------------------ plumbing
    def _report(self, event: st.Lifecycle, stream: str) -> None:
        kind = _LIFECYCLE_KINDS[type(event)]
        detail = getattr(event, "reason", "")
        rotation = stopped = False
        if isinstance(event, st.Connected):
            rotation = event.rotation
            detail = "rotation" if event.rotation else ("after a gap" if event.after_gap else "")
        elif isinstance(event, st.Disconnected):
            stopped = event.reason == "stopped"  # the supervisor's own stop(): not trouble
        self.sink.health(FeedHealth(
            kind, stream, detail, self._now_ms(), rotation=rotation, stopped=stopped
        ))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("account %s: %s failed", self.account, name)

        task = asyncio.create_task(guarded(), name=f"{self.account} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        stops = [lease.leave() for lease in self._markets.values()]
        self._markets.clear()
        if self._poll_lease is not None:
            stops.append(self._poll_lease.leave())
            self._poll_lease = None
        if self._user is not None:
            stops.append(self._user.stop())
        await asyncio.gather(*stops, return_exceptions=True)
        tasks = [*self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._listen is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._listen.close(), timeout=2.0)


async def detect_mode(rest: RestClient) -> Mode:
    """The account's margin mode, from what its REST endpoints answer (config may fix it)."""
    try:
        await rest.get(PM_ACCOUNT)
        return Mode.PORTFOLIO_MARGIN
    except RestError as exc:
        if exc.status is not None and (exc.status >= 500 or exc.status in (418, 429)):
            raise
    try:
        flag = await rest.get("/fapi/v1/multiAssetsMargin")
        if isinstance(flag.data, dict) and flag.data.get("multiAssetsMargin") is True:
            return Mode.USDM_MULTI_ASSETS
        um = await rest.get("/fapi/v3/account")
        if _has_business(um.data):
            return Mode.USDM
    except RestError as exc:
        if exc.status is not None and (exc.status >= 500 or exc.status in (418, 429)):
            raise
    try:
        cm = await rest.get("/dapi/v1/account")
    except RestError:
        return Mode.USDM
    return Mode.COINM if _has_business(cm.data) else Mode.USDM


def risky_permissions(data: object) -> tuple[str, ...]:
    """The names of the apiRestrictions flags that are on (an unreadable body: none)."""
    if not isinstance(data, dict):
        return ()
    return tuple(name for key, name in RISKY_FLAGS if data.get(key) is True)


def _has_business(data: object) -> bool:
    """An account body with an open position or a non-zero wallet."""
    if not isinstance(data, dict):
        return False
    for row in data.get("positions") or ():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if float(row["positionAmt"]):
                return True
    for row in data.get("assets") or ():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if float(row["walletBalance"]):
                return True
    return False
