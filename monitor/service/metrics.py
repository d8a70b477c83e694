"""The daemon's Prometheus metrics: one private registry, small update methods, text exposition.

Every metric is named `marginwatch_…`. Labels are few and bounded: `account` (from the config),
`connection` (a websocket connection: `ACCOUNT/user`, or a market connection such as
`market-um@fstream.binance.com` that accounts on one venue share — so its counters appear once,
not once per account; `marginwatch_stream_account_info` says which accounts use it), `stream`
(an account's role for a connection: `user`, `market-um`, `market-cm`), `source` (data source
names such as `mark:BTCUSDT`, the one label that may name a symbol), `kind`, `state`, `reason`,
`path`, `status`, `pool`, `destination` (an alert destination's outbox id: a hash of its URL,
never the URL or any part of it). Callers pass fixed
vocabulary (enum values, exception class names, catalogue paths), never free text; as a last
line of defence each label keeps at most `max_values` distinct values (`max_accounts` for
`account`, default 1000 to cover a fleet, `[http] metrics_max_accounts`; `max_sources` for
`source`) and folds any further ones into `other`, so a bug cannot grow the series without bound.

Why one file above ~500 lines: every exported metric is declared here, once, so the monitoring
mixin, the Grafana dashboard and their tests compare against one list.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder, generate_latest

from monitor import __version__

log = logging.getLogger(__name__)

PREFIX = "marginwatch"
#: Tick processing takes microseconds; anything near 100 ms is a problem worth seeing.
TICK_LATENCY_BUCKETS = (
    1e-6,
    2.5e-6,
    5e-6,
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
)
#: The numeric value of `marginwatch_alert_level` for each level (None = no alert).
LEVEL_VALUES = {None: 0, "warning": 1, "critical": 2, "emergency": 3}
OTHER = "other"
MAX_LABEL_LEN = 64

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@-]+")


class _Budget(Protocol):
    """What the metrics read of one shared weight budget (`budget.WeightBudget`)."""

    limit: int
    peak: int
    waits: int
    waited_s: float

    @property
    def used(self) -> int: ...
    @property
    def cap(self) -> int: ...
    @property
    def queued(self) -> int: ...


class WeightBook(Protocol):
    """What the metrics read of the egress's weight budgets (`budget.BudgetBook`)."""

    def budgets(self) -> Mapping[tuple[str, str], _Budget]: ...
    def queued_owners(self) -> int: ...


class AttemptBook(Protocol):
    """What the metrics read of the connection-attempt budget (`budget.AttemptBudget`)."""

    limit: int
    attempts: int
    queued: int

    def in_window(self) -> int: ...


def _clean(value: object) -> str:
    """A label value: unsafe characters folded to `_`, at most `MAX_LABEL_LEN` characters."""
    text = _UNSAFE.sub("_", str(value)).strip("_")
    return text[:MAX_LABEL_LEN] or "none"


class _Bounded:
    """The distinct values one label has taken; past the limit, new values become `other`."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit = name, limit
        self.seen: set[str] = set()
        self.warned = False

    def __call__(self, value: object) -> str:
        text = _clean(value)
        if text in self.seen:
            return text
        if len(self.seen) < self.limit:
            self.seen.add(text)
            return text
        if not self.warned:
            self.warned = True
            log.warning(
                "metrics label %r has %d distinct values; further ones are counted as %r",
                self.name,
                self.limit,
                OTHER,
            )
        return OTHER


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Metrics:
    """The daemon's metrics in a private `CollectorRegistry` (nothing global, one per daemon)."""

    def __init__(
        self, *, max_values: int = 64, max_sources: int = 1024, max_accounts: int = 1000
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: Called before each exposition, to bring the values up to date (`MetricsBridge`).
        self.before_scrape: list[Callable[[], None]] = []
        self._labels: dict[str, _Bounded] = {}
        self._max_values, self._max_sources = max_values, max_sources
        self._max_accounts = max_accounts
        self._modes: dict[str, tuple[str, str]] = {}
        #: (account, stream) → the connection label carrying it (O(1) per call: a fleet
        #: of 1,000 accounts sets 2,000 links a second).
        self._stream_links: dict[tuple[str, str], str] = {}
        r = self.registry
        account = ["account"]
        stream = ["connection"]
        self._info = Gauge(
            f"{PREFIX}_build_info", "Version of marginwatch.", ["version"], registry=r
        )
        self._info.labels(__version__).set(1)
        self._account_info = Gauge(
            f"{PREFIX}_account_info",
            "Margin mode and unit of equity/maint_margin of each account (always 1).",
            ["account", "mode", "unit"],
            registry=r,
        )
        self._risk = Gauge(
            f"{PREFIX}_risk_ratio",
            "Risk of the account: 1.0 means liquidation in every mode"
            " (futures: maint margin / margin balance; Portfolio Margin: 1.05 / uniMMR).",
            account,
            registry=r,
        )
        self._margin_ratio = Gauge(
            f"{PREFIX}_margin_ratio",
            "Binance's margin ratio (futures modes): maintenance margin / margin balance.",
            account,
            registry=r,
        )
        self._uni_mmr = Gauge(
            f"{PREFIX}_uni_mmr",
            "Portfolio Margin uniMMR (Binance liquidates at 1.05).",
            account,
            registry=r,
        )
        self._equity = Gauge(
            f"{PREFIX}_equity",
            "Margin balance / account equity, in the account's unit.",
            account,
            registry=r,
        )
        self._maint = Gauge(
            f"{PREFIX}_maint_margin",
            "Maintenance margin, in the account's unit.",
            account,
            registry=r,
        )
        self._updated = Gauge(
            f"{PREFIX}_figures_updated_timestamp_seconds",
            "Wall-clock time of the account's last figure update (Unix seconds).",
            account,
            registry=r,
        )
        self._level = Gauge(
            f"{PREFIX}_alert_level",
            "Current alert level: 0 none, 1 warning, 2 critical, 3 emergency.",
            account,
            registry=r,
        )
        self._up = Gauge(
            f"{PREFIX}_up",
            "1 while the account is monitored live (not starting, blind or failed).",
            account,
            registry=r,
        )
        self._data_age = Gauge(
            f"{PREFIX}_data_age_seconds",
            "Age of the newest data from each source of an account.",
            ["account", "source"],
            registry=r,
        )
        self._connected = Gauge(
            f"{PREFIX}_stream_connected",
            "1 while the websocket connection is connected.",
            stream,
            registry=r,
        )
        self._reconnects = Counter(
            f"{PREFIX}_stream_reconnects",
            "Websocket reconnections after a loss (not rotations).",
            stream,
            registry=r,
        )
        self._frames = Counter(
            f"{PREFIX}_stream_frames", "Websocket frames received.", stream, registry=r
        )
        self._watchdog_fires = Counter(
            f"{PREFIX}_stream_watchdog_fires",
            "Connections dropped by the silence watchdog.",
            stream,
            registry=r,
        )
        self._rotations = Counter(
            f"{PREFIX}_stream_rotations",
            "Planned reconnections (24 h rotation).",
            stream,
            registry=r,
        )
        self._unrouted = Counter(
            f"{PREFIX}_stream_unrouted_frames",
            "Frames of a shared connection that no account on it took (a stream or listenKey"
            " nobody holds any more, or one between a key change and the reconnect): dropped.",
            stream,
            registry=r,
        )
        self._stream_info = Gauge(
            f"{PREFIX}_stream_account_info",
            "Which connection carries each stream of an account (always 1; join on connection).",
            ["account", "stream", "connection"],
            registry=r,
        )
        self._decode_errors = Counter(
            f"{PREFIX}_decode_errors",
            "Frames that could not be decoded, by kind of error.",
            ["account", "stream", "kind"],
            registry=r,
        )
        self._bad_input = Counter(
            f"{PREFIX}_bad_input",
            "Inputs rejected by validation (REST or stream), by kind.",
            ["account", "kind"],
            registry=r,
        )
        self._resyncs = Counter(
            f"{PREFIX}_resyncs",
            "Full REST resynchronisations, by reason.",
            ["account", "reason"],
            registry=r,
        )
        self._rest = Counter(
            f"{PREFIX}_rest_requests",
            "REST requests to Binance by path and HTTP status (`error`: no response).",
            ["account", "path", "status"],
            registry=r,
        )
        self._rest_weight = Gauge(
            f"{PREFIX}_rest_used_weight",
            "Request weight Binance reports used this minute (X-MBX-USED-WEIGHT-1M), by"
            " rate-limit pool (futures, papi, spot).",
            ["account", "pool"],
            registry=r,
        )
        self._alerts = Counter(
            f"{PREFIX}_alerts",
            "Alert deliveries per destination by alert kind and outbox state: queued (each"
            " delivery entering the outbox), then delivered, failed, expired or coalesced"
            " (superseded by a newer alert of the same topic).",
            ["destination", "account", "kind", "state"],
            registry=r,
        )
        self._send_failures = Counter(
            f"{PREFIX}_alert_send_failures",
            "Failed or unanswered send attempts per destination (every retry counts).",
            ["destination"],
            registry=r,
        )
        self._destination_info = Gauge(
            f"{PREFIX}_alert_destination_info",
            "Each alert destination's id and URL scheme (always 1).",
            ["destination", "scheme"],
            registry=r,
        )
        self._outbox = Gauge(
            f"{PREFIX}_outbox_depth", "Deliveries waiting in the durable outbox.", registry=r
        )
        self._commands_refused = Counter(
            f"{PREFIX}_commands_refused",
            "Commands refused: Telegram updates from chats/users not allowed (source=telegram),"
            " control API requests without a valid token or off loopback (source=api).",
            ["source"],
            registry=r,
        )
        self._commands_seen: dict[str, int] = {}
        for source in ("telegram", "api"):
            self._commands_refused.labels(source=source)
        self._outbox_failures = Counter(
            f"{PREFIX}_outbox_write_failures",
            "Outbox writes that failed (disk full, I/O error): kept in memory, still delivered.",
            registry=r,
        )
        self._outbox_held = Gauge(
            f"{PREFIX}_outbox_held_writes",
            "Outbox writes held in memory until the outbox can be written again.",
            registry=r,
        )
        self._send_unknown = Counter(
            f"{PREFIX}_alert_send_unknown",
            "Send attempts unanswered within the destination's timeout (outcome unknown).",
            registry=r,
        )
        self._duplicates = Counter(
            f"{PREFIX}_alert_possible_duplicates",
            "Alerts sent again after an unanswered attempt: the destination may show them twice.",
            registry=r,
        )
        self._delivery_seen = (0, 0, 0)
        self._tick = Histogram(
            f"{PREFIX}_tick_latency_seconds",
            "Time to process one market tick: decode, engine update, alert policy.",
            buckets=TICK_LATENCY_BUCKETS,
            registry=r,
        )
        self._loop_lag = Gauge(
            f"{PREFIX}_event_loop_lag_seconds",
            "Latest measured asyncio scheduling lag.",
            registry=r,
        )
        self._healthy = Gauge(f"{PREFIX}_healthy", "1 when /healthz reports healthy.", registry=r)
        # Budgets every account on the egress address shares (monitor/binance/budget.py).
        budget = ["budget"]
        self._budget_used = Gauge(
            f"{PREFIX}_rest_budget_used_weight",
            "REST weight counted in the current window of a shared budget (one per venue family"
            " on the egress address: `budget` = pool@host).",
            budget,
            registry=r,
        )
        self._budget_limit = Gauge(
            f"{PREFIX}_rest_budget_limit_weight",
            "Binance's REST weight limit per window of a shared budget.",
            budget,
            registry=r,
        )
        self._budget_cap = Gauge(
            f"{PREFIX}_rest_budget_cap_weight",
            "The weight the daemon allows itself per window (limit x headroom).",
            budget,
            registry=r,
        )
        self._budget_peak = Gauge(
            f"{PREFIX}_rest_budget_peak_weight",
            "The highest weight counted in one window of a shared budget so far.",
            budget,
            registry=r,
        )
        self._budget_queued = Gauge(
            f"{PREFIX}_rest_budget_queued_requests",
            "REST requests waiting for room in a shared budget.",
            budget,
            registry=r,
        )
        self._budget_waits = Counter(
            f"{PREFIX}_rest_budget_waits",
            "REST requests that had to wait for a later window of a shared budget.",
            budget,
            registry=r,
        )
        self._budget_waited = Counter(
            f"{PREFIX}_rest_budget_waited_seconds",
            "Seconds REST requests spent waiting for a shared budget.",
            budget,
            registry=r,
        )
        self._resyncs_queued = Gauge(
            f"{PREFIX}_resyncs_queued",
            "Accounts with a REST request (a snapshot or resync) queued for weight budget.",
            registry=r,
        )
        self._ws_attempts_window = Gauge(
            f"{PREFIX}_ws_connect_attempts_window",
            "Websocket connection attempts counted in the attempt budget's sliding window.",
            registry=r,
        )
        self._ws_attempts_limit = Gauge(
            f"{PREFIX}_ws_connect_attempts_limit",
            "Connection attempts the daemon allows itself per window (Binance: 300 / 5 min).",
            registry=r,
        )
        self._ws_attempts_queued = Gauge(
            f"{PREFIX}_ws_connect_attempts_queued",
            "Connection attempts waiting for room in the attempt budget.",
            registry=r,
        )
        self._ws_attempts = Counter(
            f"{PREFIX}_ws_connect_attempts",
            "Websocket connection attempts taken from the attempt budget.",
            registry=r,
        )
        self._rate_limited = Counter(
            f"{PREFIX}_rest_rate_limited",
            "REST replies refusing a request for its rate: 429 (too many) or 418 (IP banned).",
            ["status"],
            registry=r,
        )
        for status in ("429", "418"):
            self._rate_limited.labels(status=status)
        self._budget_seen: dict[str, tuple[int, float]] = {}
        self._attempts_seen = 0

    # ---- label guards -------------------------------------------------------------------------

    def _label(self, name: str, value: object) -> str:
        guard = self._labels.get(name)
        if guard is None:
            limits = {"source": self._max_sources, "account": self._max_accounts}
            limit = limits.get(name, self._max_values)
            guard = self._labels[name] = _Bounded(name, limit)
        return guard(value)

    def _acc(self, account: str) -> str:
        return self._label("account", account)

    def _stream(self, account: str, stream: str) -> tuple[str, str]:
        return self._acc(account), self._label("stream", stream)

    def _conn(self, connection: str) -> str:
        return self._label("connection", connection)

    # ---- figures ------------------------------------------------------------------------------

    def observe_figures(
        self,
        account: str,
        mode: str,
        risk: float | None,
        margin_ratio: float | None,
        uni_mmr: float | None,
        equity: float | None,
        maint_margin: float | None,
        *,
        unit: str = "USD",
        updated_s: float | None = None,
    ) -> None:
        """The account's latest figures; None (or a non-finite value) removes that series."""
        acc = self._acc(account)
        labels = (self._label("mode", mode), self._label("unit", unit))
        previous = self._modes.get(acc)
        if previous != labels:
            if previous is not None:
                self._account_info.remove(acc, *previous)
            self._account_info.labels(acc, *labels).set(1)
            self._modes[acc] = labels
        for gauge, value in (
            (self._risk, risk),
            (self._margin_ratio, margin_ratio),
            (self._uni_mmr, uni_mmr),
            (self._equity, equity),
            (self._maint, maint_margin),
            (self._updated, updated_s),
        ):
            _set_or_remove(gauge, acc, _finite(value))

    def set_level(self, account: str, level: str | None) -> None:
        """The account's current alert level: None, `warning`, `critical` or `emergency`."""
        self._level.labels(self._acc(account)).set(LEVEL_VALUES.get(level, 0))

    def set_up(self, account: str, up: bool) -> None:
        self._up.labels(self._acc(account)).set(1 if up else 0)

    def set_data_age(self, account: str, source: str, seconds: float) -> None:
        self._data_age.labels(self._acc(account), self._label("source", source)).set(seconds)

    # ---- streams ------------------------------------------------------------------------------
    # Connection counters are labelled by connection only: a market connection shared by several
    # accounts is counted once (summing over connections never double-counts).

    def set_connected(self, connection: str, connected: bool) -> None:
        self._connected.labels(self._conn(connection)).set(1 if connected else 0)

    def reconnect(self, connection: str, n: int = 1) -> None:
        self._reconnects.labels(self._conn(connection)).inc(n)

    def frames(self, connection: str, n: int = 1) -> None:
        self._frames.labels(self._conn(connection)).inc(n)

    def watchdog_fire(self, connection: str, n: int = 1) -> None:
        self._watchdog_fires.labels(self._conn(connection)).inc(n)

    def rotation(self, connection: str, n: int = 1) -> None:
        self._rotations.labels(self._conn(connection)).inc(n)

    def unrouted_frames(self, connection: str, n: int = 1) -> None:
        self._unrouted.labels(self._conn(connection)).inc(n)

    def set_stream_connection(self, account: str, stream: str, connection: str | None) -> None:
        """`account`'s `stream` is carried by `connection` (None: by no connection any more)."""
        acc, name = self._stream(account, stream)
        conn = None if connection is None else self._conn(connection)
        old = self._stream_links.get((acc, name))
        if old == conn:
            return
        if old is not None:
            with suppress(KeyError):
                self._stream_info.remove(acc, name, old)
            del self._stream_links[(acc, name)]
        if conn is not None:
            self._stream_info.labels(acc, name, conn).set(1)
            self._stream_links[(acc, name)] = conn

    def decode_error(self, account: str, stream: str, kind: str) -> None:
        """`kind`: a fixed name such as the exception class (`WireError`, `JSONDecodeError`)."""
        self._decode_errors.labels(*self._stream(account, stream), self._label("kind", kind)).inc()

    def bad_input(self, account: str, kind: str) -> None:
        self._bad_input.labels(self._acc(account), self._label("kind", kind)).inc()

    def resync(self, account: str, reason: str) -> None:
        """`reason`: a fixed word (`start`, `gap`, `listen_key_expired`, `timer`, ...)."""
        self._resyncs.labels(self._acc(account), self._label("reason", reason)).inc()

    def rest_request(self, account: str, path: str, status: int | str | None) -> None:
        """One REST request; `path` without its query, `status` None when nothing came back."""
        code = "error" if status is None else status
        path_label = self._label("path", path.split("?", 1)[0])
        self._rest.labels(self._acc(account), path_label, self._label("status", code)).inc()
        if str(code) in ("429", "418"):
            self._rate_limited.labels(status=str(code)).inc()

    def observe_budgets(self, weights: WeightBook | None, attempts: AttemptBook | None) -> None:
        """The egress's shared budgets (`egress.current()`: `BudgetBook`, `AttemptBudget`), once
        a second: weight used / limit per budget, queued requests and accounts, attempts."""
        if weights is not None:
            for (host, pool), b in weights.budgets().items():
                name = self._label("budget", f"{pool}@{host.split('://')[-1]}")
                self._budget_used.labels(name).set(b.used)
                self._budget_limit.labels(name).set(b.limit)
                self._budget_cap.labels(name).set(b.cap)
                self._budget_peak.labels(name).set(b.peak)
                self._budget_queued.labels(name).set(b.queued)
                waits, waited = self._budget_seen.get(name, (0, 0.0))
                if b.waits > waits:
                    self._budget_waits.labels(name).inc(b.waits - waits)
                if b.waited_s > waited:
                    self._budget_waited.labels(name).inc(b.waited_s - waited)
                self._budget_seen[name] = (max(waits, b.waits), max(waited, b.waited_s))
            self._resyncs_queued.set(weights.queued_owners())
        if attempts is not None:
            self._ws_attempts_window.set(attempts.in_window())
            self._ws_attempts_limit.set(attempts.limit)
            self._ws_attempts_queued.set(attempts.queued)
            if attempts.attempts > self._attempts_seen:
                self._ws_attempts.inc(attempts.attempts - self._attempts_seen)
                self._attempts_seen = attempts.attempts

    def set_rest_weight(self, account: str, pool: str, used: int) -> None:
        """The used request weight Binance reported for `pool` on its latest reply."""
        self._rest_weight.labels(self._acc(account), self._label("pool", pool)).set(used)

    # ---- alerts and the process ---------------------------------------------------------------

    def alert(self, destination: str, account: str, kind: str, state: str, n: int = 1) -> None:
        """`n` deliveries to `destination` reached `state` (`kind`: AlertKind value; `state`:
        queued, delivered, failed, expired or coalesced); `n=0` creates the series."""
        labels = (
            self._label("destination", destination),
            self._acc(account),
            self._label("kind", kind),
            self._label("state", state),
        )
        self._alerts.labels(*labels).inc(n)

    def send_failures(self, destination: str, n: int = 1) -> None:
        """`n` more failed or unanswered send attempts to `destination` (0 creates it)."""
        self._send_failures.labels(self._label("destination", destination)).inc(n)

    def destination_info(self, destination: str, scheme: str) -> None:
        labels = (self._label("destination", destination), self._label("scheme", scheme))
        self._destination_info.labels(*labels).set(1)

    def set_outbox_depth(self, n: int) -> None:
        self._outbox.set(n)

    def observe_refused(self, source: str, total: int) -> None:
        """A running total of refused commands (`TelegramBot.ignored`, `ControlApi.refused`)."""
        seen = self._commands_seen.get(source, 0)
        if total > seen:
            self._commands_refused.labels(source=source).inc(total - seen)
        self._commands_seen[source] = max(seen, total)

    def observe_delivery(
        self, write_failures: int, held: int, unknown: int, possible_duplicates: int
    ) -> None:
        """The outbox's and the delivery worker's running totals (`Outbox.write_failures`,
        `Outbox.held`, `DeliveryWorker.stats`); counters advance by what is new."""
        seen = self._delivery_seen
        totals = (write_failures, unknown, possible_duplicates)
        for counter, new, old in zip(
            (self._outbox_failures, self._send_unknown, self._duplicates), totals, seen, strict=True
        ):
            if new > old:
                counter.inc(new - old)
        self._delivery_seen = (
            max(totals[0], seen[0]),
            max(totals[1], seen[1]),
            max(totals[2], seen[2]),
        )
        self._outbox_held.set(held)

    def tick_latency(self, seconds: float) -> None:
        self._tick.observe(seconds)

    def set_loop_lag(self, seconds: float) -> None:
        self._loop_lag.set(seconds)

    def set_healthy(self, healthy: bool) -> None:
        self._healthy.set(1 if healthy else 0)

    # ---- exposition ---------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        self._before_scrape()
        return generate_latest(self.registry)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) for a scrape with this `Accept` header (OpenMetrics on request)."""
        encode: Callable[[CollectorRegistry], bytes]
        encode, content_type = choose_encoder(accept or "")
        self._before_scrape()
        return encode(self.registry), content_type

    def _before_scrape(self) -> None:
        for hook in self.before_scrape:
            try:
                hook()
            except Exception:  # a scrape still answers, with what was there
                log.exception("a metrics refresh hook failed")


def _set_or_remove(gauge: Gauge, account: str, value: float | None) -> None:
    if value is not None:
        gauge.labels(account).set(value)
        return
    with suppress(KeyError):
        gauge.remove(account)
