"""One account in the daemon: the IO adapter around its pure `AccountCore`.

`AccountRuntime` is the `FeedSink` of a `LiveFeed`. It hands every line to the account's
`AccountCore` (`monitor/core/`: decoders, book, policy — the very object a replay drives) on
the wall clock instead of the recording's, and does the IO around it: each returned alert goes
to `on_alert` (the daemon persists it in the outbox before anything else), each decoded service
signal goes back to the feed as `frame`'s answer, lines are teed to an optional recorder. It also
turns the feed's typed health reports into stream health and blind reasons, compares the
exchange's figures with the book (drift), ticks the core once a second with the user stream's
liveness, and builds the account's `/status` entry from the core's queries. It never reaches
inside the core, and it holds no reference to its feed (the daemon passes what it needs).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.alerts.attention import Attention
from monitor.alerts.levels import Level
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import Drift, KeyPermissions, PolicyEvent, SourceDown, Watch
from monitor.base.clock import wall_ms
from monitor.binance.decode.user_events import ServiceSignal
from monitor.binance.endpoints import Product
from monitor.binance.rest import RestResult
from monitor.binance.stream import StreamSupervisor
from monitor.calc import build_report
from monitor.core.account_core import AccountCore
from monitor.core.health import FeedHealth, HealthKind, ResyncReason
from monitor.core.step import Step, TimedAlert
from monitor.engine.model import Mode
from monitor.feed.live import Holdings
from monitor.feed.reconcile import drifted, figures
from monitor.feed.recorder import RecordingWriter
from monitor.feed.recording import Meta, RestLine, WsLine

log = logging.getLogger(__name__)

USER_STREAM = "user_stream"
#: Version of an account's /status entry schema (docs/schemas/status.schema.json; it includes
#: the calc keys): bumped whenever a change could break a consumer.
STATUS_SCHEMA_VERSION = 1


def live_core(meta: Meta, config: PolicyConfig, margin_leverage: int = 3) -> AccountCore:
    """The core of a live account: heavy figures on every alert, the user stream watched, no
    history kept (alerts are delivered, risks are not charted)."""
    return AccountCore(
        meta,
        config,
        margin_leverage=margin_leverage,
        with_figures=True,
        extra_watch=frozenset({USER_STREAM}),
        record_risks=False,
        keep_alerts=False,
    )


def tracked_items(core: AccountCore) -> frozenset[str]:
    """Held symbols, collateral proxies and the book's assets (what the recorder keeps)."""
    book = core.book
    if book is None:
        return frozenset()
    return core.held_symbols | core.proxy_symbols | frozenset(book.state.assets)


@dataclass(slots=True)
class StreamHealth:
    """What the pipeline knows of one stream from the feed's reports."""

    name: str
    connected: bool = False
    reconnects: int = 0
    watchdog_fires: int = 0
    rotations: int = 0
    connects: int = 0
    last_change_ms: int = 0
    detail: str = ""


class AccountRuntime:
    """The pipeline of one account (a `FeedSink`)."""

    def __init__(
        self,
        meta: Meta,
        config: PolicyConfig,
        *,
        margin_leverage: int = 3,
        on_alert: Callable[[TimedAlert], None],
        recorder: RecordingWriter | None = None,
        now_ms: Callable[[], int] = wall_ms,
        on_health: Callable[[FeedHealth], None] | None = None,
        on_latency: Callable[[float], None] | None = None,
        core: AccountCore | None = None,
    ) -> None:
        self.meta = meta
        self.name = meta.account
        #: The pure pipeline (`live_core` unless the daemon built it first for its recorder).
        self.core = core if core is not None else live_core(meta, config, margin_leverage)
        self.recorder = recorder
        self._on_alert = on_alert
        self._on_health = on_health
        self._on_latency = on_latency
        self._now_ms = now_ms
        self.streams: dict[str, StreamHealth] = {}
        #: Applied snapshots by the feed's reason text (`/status`) and by typed reason (metrics).
        self.resyncs: dict[str, int] = {}
        self.resync_reasons: Counter[ResyncReason] = Counter()
        # The current problems by cause; each clears when its cause does (see `last_error`).
        self._resync_error: str | None = None  # the last resync failed; none landed since
        self._resync_queued: str | None = None  # a resync waits for the REST weight budget
        self._feed_error: str | None = None  # the feed stopped (set by the daemon)
        self._poll_error: str | None = None  # a REST poll failed; none succeeded since
        self.updated_ms: int | None = None
        self.alerts_emitted = 0
        self.drift_checks = 0
        self.alert_errors = 0

    # ------------------------------------------------------------------ FeedSink
    def rest_group(
        self, lines: Sequence[RestLine], reason: str, resync: ResyncReason | None = None
    ) -> None:
        if not lines:
            return
        for line in lines:
            self._record(line)
        self._emit(self.core.rest_group(lines))
        t = max(line.t for line in lines)
        if self.core.book is not None:
            self.updated_ms = t
        self._poll_error = None
        if resync is not None:
            # a snapshot landed: the feed works
            self._resync_error = self._resync_queued = self._feed_error = None
            self.resyncs[reason] = self.resyncs.get(reason, 0) + 1
            self.resync_reasons[resync] += 1
            log.info("account %s: applied %s (%d REST responses)", self.name, reason, len(lines))
            if self.recorder is not None:
                self.recorder.note(t, reason)

    def frame(self, line: WsLine) -> tuple[ServiceSignal, ...]:
        started = time.perf_counter()
        self._record(line)
        step = self.core.feed(line)
        if step.changed:
            self.updated_ms = line.t
        if step.alerts:
            self._emit(step)
        if self._on_latency is not None and line.conn == "market":
            self._on_latency(time.perf_counter() - started)
        return step.signals

    def holdings(self) -> Holdings | None:
        core = self.core
        book = core.book
        if book is None:
            return None
        state = book.state
        um: set[str] = set()
        cm: set[str] = set()
        for symbol in core.held_symbols:
            contract = state.contracts.get(symbol)
            cm_side = (contract is not None and contract.product == "CM") or (
                book.mode is Mode.COINM
            )
            (cm if cm_side else um).add(symbol)
        um |= core.proxy_symbols  # collateral proxies: their index prices value collateral
        return Holdings(
            book.mode,
            {Product.UM: frozenset(um), Product.CM: frozenset(cm)},
            asset_index=book.mode is Mode.USDM_MULTI_ASSETS,
            priced_assets=core.priced_assets(),
        )

    def health(self, event: FeedHealth) -> None:
        if self._on_health is not None:
            self._on_health(event)
        kind = event.kind
        if event.stream == "rest":
            if kind is HealthKind.RESYNC_FAILED:
                # Held user events wait for this snapshot: the book is out of date from now on,
                # not only once the staleness limit has passed.
                self._resync_error = f"resync failed: {event.detail}"
                self._resync_queued = None
                log.warning("account %s: %s", self.name, self._resync_error)
                self._blind_now(self._resync_error, event.t_ms)
            elif kind is HealthKind.RESYNC_QUEUED:
                # Blind until the resync runs: the book misses what happened since the gap.
                self._resync_queued = event.detail
                log.warning("account %s: resync (%s) %s", self.name,
                            event.reason or ResyncReason.OTHER, event.detail)
                self._blind_now(event.detail, event.t_ms)
            elif kind is HealthKind.REST_ERROR:
                self._poll_error = event.detail
                log.warning("account %s: %s", self.name, event.detail)
            else:
                if kind is HealthKind.RESYNC:
                    self._resync_error = self._resync_queued = None
                log.info("account %s: applied %s", self.name, event.detail or kind.value)
            return
        stream = self.streams.setdefault(event.stream, StreamHealth(event.stream))
        if kind is HealthKind.CONNECTED:
            stream.connects += 1
            if stream.connects > 1 and not event.rotation:
                stream.reconnects += 1
            stream.connected = True
        elif kind is HealthKind.DISCONNECTED:
            stream.connected = False
        elif kind is HealthKind.WATCHDOG:
            stream.watchdog_fires += 1
        elif kind is HealthKind.ROTATED:
            stream.rotations += 1
        stream.last_change_ms = event.t_ms
        stream.detail = event.detail
        trouble = kind is HealthKind.WATCHDOG or (
            kind is HealthKind.DISCONNECTED and not event.stopped  # a clean stop: INFO
        )
        level = logging.WARNING if trouble else logging.INFO
        log.log(level, "account %s: %s %s %s", self.name, event.stream, kind.value, event.detail)

    def _blind_now(self, reason: str, t_ms: int) -> None:
        """Blind at once, with the reason (not only once the staleness limit passed); the user
        stream's next `Seen` (the resync landed and its held frames flow) restores sight."""
        down = SourceDown(USER_STREAM, reason)
        self._emit(self.core.observe(down, t_ms or self._now_ms()))

    def reconcile(self, result: RestResult) -> bool:
        core = self.core
        book = core.book
        if book is None:
            return False
        self.drift_checks += 1
        self._poll_error = None  # this poll succeeded
        cfg = core.config
        any_drift = False
        for fig in figures(book.snapshot(), result.path, result.data):
            self._emit(core.observe(Drift(fig.name, fig.local, fig.exchange), result.t_ms))
            if drifted(fig, cfg.drift_rel_tol, cfg.drift_abs_tol):
                any_drift = True
                log.warning(
                    "account %s: %s drifted: local %.10g, exchange %.10g",
                    self.name, fig.name, fig.local, fig.exchange,
                )
        return any_drift

    def key_permissions(self, enabled: tuple[str, ...]) -> None:
        if enabled:
            log.warning("account %s: the API key allows %s", self.name, ", ".join(enabled))
        self._emit(self.core.observe(KeyPermissions(enabled), self._now_ms()))

    # ------------------------------------------------------------------ time
    def tick(self, now_ms: int | None = None, *, user_alive: bool = False) -> None:
        """Once a second: the core's clock, with the user stream's liveness (the feed's)."""
        now = self._now_ms() if now_ms is None else now_ms
        self._emit(self.core.tick(now, (USER_STREAM,) if user_alive else ()))

    def expect_snapshot(self, now_ms: int) -> None:
        """Until the first snapshot lands, the account is watched for it: a feed that cannot
        start (bad key, exchange down) turns into a "monitor blind" alert, not silence."""
        self._emit(self.core.observe(Watch(frozenset({USER_STREAM, "rest"})), now_ms))

    # ------------------------------------------------------------------ humans
    @property
    def level(self) -> Level | None:
        return self.core.level

    @property
    def risk(self) -> float | None:
        """The last risk the policy judged (None before the first)."""
        return self.core.risk

    def rest_priority(self) -> float:
        """This account's place in the shared REST budget's queue (`binance/budget.py`, higher
        first): its last risk, so after a venue-wide outage the riskiest resync first; an account
        with no risk yet (starting) goes before every known one — it may be the riskiest, and a
        fleet's routine refreshes must not keep its first snapshot waiting."""
        risk = self.core.risk
        return math.inf if risk is None else risk

    def attend(self, event: PolicyEvent, now_ms: int) -> Attention:
        """An ack, snooze or unsnooze (`monitor.service.control`); returns what then holds."""
        self._emit(self.core.observe(event, now_ms))
        return self.core.attention(now_ms)

    # ------------------------------------------------------------------ internals
    def _record(self, line: RestLine | WsLine) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.write(line)
        except OSError as exc:
            log.error("account %s: recording stopped: %s", self.name, exc)
            self.recorder.close()
            self.recorder = None

    def _emit(self, step: Step) -> None:
        for timed in step.alerts:
            self.alerts_emitted += 1
            try:
                self._on_alert(timed)
            except Exception:
                self.alert_errors += 1
                log.exception("account %s: alert %s not handed over", self.name,
                              timed.intent.alert_id)

    def held_for_recording(self) -> frozenset[str]:
        """Held symbols and the assets of the book (what the recorder keeps)."""
        return tracked_items(self.core)

    # ------------------------------------------------------------------ status
    @property
    def last_error(self) -> str | None:
        """The current problem, or None: a failed resync, else a stopped feed (its cause, such
        as a rejected key, is what the operator must fix, even while the restarted feed waits
        for the REST budget), else a resync waiting for the REST budget, else the sources that
        went stale (while blind), else a failed poll. Each clears when its cause does (a
        snapshot lands, a poll succeeds, data flows again), so an old error never stands in
        for a new cause."""
        stale = self._stale_detail(self._now_ms()) if self.core.blind else None
        return (self._resync_error or self._feed_error or self._resync_queued or stale
                or self._poll_error)

    @last_error.setter
    def last_error(self, message: str | None) -> None:
        """The daemon's report that the feed stopped (cleared by the next snapshot)."""
        self._feed_error = message

    def _stale_detail(self, now_ms: int) -> str:
        core = self.core
        limit = core.config.stale_after_ms
        ages = sorted(
            ((now_ms - seen, source) for source, seen in core.last_seen.items()
             if now_ms - seen > limit),
            reverse=True,
        )
        shown = ", ".join(f"{source} {age / 1000:.0f} s" for age, source in ages[:5])
        more = f" and {len(ages) - 5} more" if len(ages) > 5 else ""
        return f"no fresh data for over {limit / 1000:g} s" + (f": {shown}{more}" if shown else "")

    def state(self, now_ms: int) -> str:
        if self.core.book is None:
            # Waiting for the REST budget, or no data yet, is a start-up, not an error.
            failed = self._resync_error or self._feed_error or self._poll_error
            return "error" if failed else "starting"
        blind = self._resync_error is not None or self._resync_queued is not None
        return "blind" if blind or self.core.blind else "live"

    def status(
        self,
        environment: str,
        now_ms: int | None = None,
        supervisors: Sequence[tuple[str, StreamSupervisor]] = (),
    ) -> dict[str, Any]:
        """The account's `/status` entry (figures as `calc --json`, plus health); `supervisors`
        are the feed's named stream supervisors (`LiveFeed.streams()`)."""
        now = self._now_ms() if now_ms is None else now_ms
        core = self.core
        book = core.book
        doc: dict[str, Any] = build_report(book) if book is not None else {}
        level = core.level
        config = core.config
        doc.update(
            account=self.name,
            environment=environment,
            state=self.state(now),
            level=None if level is None else level.value,
            updated_ms=self.updated_ms,
            streams=self._streams(now, supervisors),
            sources={
                source: round((now - seen) / 1000, 3)
                for source, seen in sorted(core.last_seen.items())
            },
            resyncs=dict(self.resyncs),
            levels=[config.warning, config.critical, config.emergency],
            last_error=self.last_error,
        )
        attention = core.attention(now)
        ack = attention.ack_level
        doc["ack"] = None if ack is None else {
            "level": ack.value, "t_ms": attention.ack_ms, "incident": attention.ack_incident
        }
        doc["snooze_until"] = (
            attention.snooze_until_ms if attention.snooze_level is not None else None
        )
        doc["events"] = dict(sorted(core.counters.items()))
        doc["collateral_prices"] = self._collateral_prices(now)
        # The entry's schema (docs/schemas/status.schema.json) covers the calc keys as well.
        doc["schema_version"] = STATUS_SCHEMA_VERSION
        units: dict[str, str] = doc.setdefault("units", {})
        units.update(sources="s", levels="fraction", updated_ms="ms")
        return doc

    def _collateral_prices(self, now: int) -> dict[str, dict[str, Any]]:
        """PM: where each collateral asset's USD price comes from, and how old it is."""
        out: dict[str, dict[str, Any]] = {}
        for asset, source in sorted(self.core.collateral_sources().items()):
            out[asset] = {
                "source": source.kind,
                "proxy_symbol": source.symbol,
                "age_s": round((now - source.price_t_ms) / 1000, 3),
                "basis": source.basis,
                "basis_age_s": None
                if source.basis_t_ms is None
                else round((now - source.basis_t_ms) / 1000, 3),
            }
        return out

    def _streams(
        self, now: int, named: Sequence[tuple[str, StreamSupervisor]]
    ) -> list[dict[str, Any]]:
        out = []
        supervisors = dict(named)
        decode = self.core.counters
        for name in sorted(set(self.streams) | set(supervisors)):
            health = self.streams.get(name, StreamHealth(name))
            entry: dict[str, Any] = {
                "name": name,
                "connected": health.connected,
                "reconnects": health.reconnects,
                "watchdog_fires": health.watchdog_fires,
                "rotations": health.rotations,
                "detail": health.detail,
            }
            sup = supervisors.get(name)
            if sup is not None:
                stats = sup.stats
                entry["connected"] = sup.connected
                entry["frames"] = stats.frames
                last = stats.last_frame_wall_ms
                entry["last_frame_age_s"] = None if not last else round((now - last) / 1000, 3)
            if name.startswith("market"):
                entry["decode_errors"] = decode.get("market_decode_errors", 0)
            elif name == "user":
                entry["decode_errors"] = decode.get("user_decode_errors", 0)
            out.append(entry)
        return out
