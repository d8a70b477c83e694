"""One account's pipeline in the daemon: feed lines → engine → alert policy → alert sink.

`AccountRuntime` is the `FeedSink` of a `LiveFeed`. It applies every line through the same
`AlertTimeline` a replay uses (decoders, book, policy), on the wall clock instead of the
recording's: a frame is decoded, the book updated and the policy stepped synchronously, and each
alert goes to `on_alert` (the daemon persists it in the outbox before anything else). It also
tees lines to an optional recorder, turns feed health reports into stream health, compares the
exchange's figures with the book (drift), ticks the policy once a second with the user stream's
liveness, and builds the account's `/status` entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.alerts import policy as pol
from monitor.binance.endpoints import Product
from monitor.binance.rest import RestResult
from monitor.calc import build_report
from monitor.engine.model import Mode
from monitor.feed.live import FeedHealth, Holdings, LiveFeed
from monitor.feed.reconcile import drifted, figures
from monitor.feed.recorder import RecordingWriter
from monitor.feed.recording import Meta, RestLine, WsLine
from monitor.service.timeline import AlertTimeline, TimedAlert

log = logging.getLogger(__name__)

USER_STREAM = "user_stream"
#: How often the book's running sums are rebuilt exactly (`Book.resum`, O(legs)): compensated
#: sums drift by ~1 ulp per update, so months of ticks stay anchored to the exact figures.
RESUM_EVERY_MS = 600_000
#: REST groups that refresh part of the state on a timer; any other group is a full snapshot.
PERIODIC_GROUPS = ("asset index prices", "open-loss refresh", "reconciliation")
#: Version of an account's /status entry schema (docs/schemas/status.schema.json; it includes
#: the calc keys): bumped whenever a change could break a consumer.
STATUS_SCHEMA_VERSION = 1


def wall_ms() -> int:
    return int(time.time() * 1000)


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
        config: pol.PolicyConfig,
        *,
        margin_leverage: int = 3,
        on_alert: Callable[[TimedAlert], None],
        recorder: RecordingWriter | None = None,
        now_ms: Callable[[], int] = wall_ms,
        on_health: Callable[[FeedHealth], None] | None = None,
        on_latency: Callable[[float], None] | None = None,
    ) -> None:
        self.meta = meta
        self.name = meta.account
        self.timeline = AlertTimeline(
            meta,
            config,
            margin_leverage=margin_leverage,
            with_figures=True,
            extra_watch=frozenset({USER_STREAM}),
            record_risks=False,
        )
        self.feed: LiveFeed | None = None
        self.recorder = recorder
        self._on_alert = on_alert
        self._on_health = on_health
        self._on_latency = on_latency
        self._now_ms = now_ms
        self.streams: dict[str, StreamHealth] = {}
        self.resyncs: dict[str, int] = {}
        # The current problems by cause; each clears when its cause does (see `last_error`).
        self._resync_error: str | None = None  # the last resync failed; none landed since
        self._feed_error: str | None = None  # the feed stopped (set by the daemon)
        self._poll_error: str | None = None  # a REST poll failed; none succeeded since
        self.updated_ms: int | None = None
        self.alerts_emitted = 0
        self._resummed_ms = 0
        self.drift_checks = 0
        self.alert_errors = 0

    # ------------------------------------------------------------------ FeedSink
    def rest_group(self, lines: Sequence[RestLine], reason: str) -> None:
        if not lines:
            return
        timeline = self.timeline
        t = max(line.t for line in lines)
        for line in lines:
            self._record(line)
            timeline.feed(line)
        self._emit(timeline.flush(t))
        if timeline.replay.book is not None:
            self.updated_ms = t
        self._poll_error = None
        if reason not in PERIODIC_GROUPS:
            self._resync_error = self._feed_error = None  # a snapshot landed: the feed works
            self.resyncs[reason] = self.resyncs.get(reason, 0) + 1
            log.info("account %s: applied %s (%d REST responses)", self.name, reason, len(lines))
            if self.recorder is not None:
                self.recorder.note(t, reason)

    def frame(self, line: WsLine) -> None:
        started = time.perf_counter()
        self._record(line)
        timeline = self.timeline
        alerts = timeline.feed(line)
        replay = timeline.replay
        if replay.fresh:
            self.updated_ms = line.t
        if line.conn == "user" and replay.last_signals and self.feed is not None:
            for signal in replay.last_signals:
                self.feed.on_signal(signal)
        if alerts:
            self._emit(alerts)
        if self._on_latency is not None and line.conn == "market":
            self._on_latency(time.perf_counter() - started)

    def holdings(self) -> Holdings | None:
        book = self.timeline.replay.book
        if book is None:
            return None
        state = book.state
        um: set[str] = set()
        cm: set[str] = set()
        replay = self.timeline.replay
        for symbol in replay.held_symbols:
            contract = state.contracts.get(symbol)
            cm_side = (contract is not None and contract.product == "CM") or (
                book.mode is Mode.COINM
            )
            (cm if cm_side else um).add(symbol)
        priced = replay.priced_assets()
        um |= replay.pricer.symbols  # collateral proxies: their index prices value collateral
        return Holdings(
            book.mode,
            {Product.UM: frozenset(um), Product.CM: frozenset(cm)},
            asset_index=book.mode is Mode.USDM_MULTI_ASSETS,
            priced_assets=priced,
        )

    def health(self, event: FeedHealth) -> None:
        if self._on_health is not None:
            self._on_health(event)
        if event.stream == "rest":
            if event.kind == "resync_failed":
                # Held user events wait for this snapshot: the book is out of date from now on,
                # not only once the staleness limit has passed.
                self._resync_error = f"resync failed: {event.detail}"
                log.warning("account %s: %s", self.name, self._resync_error)
                # Blind at once, with the reason (not only once the staleness limit passed);
                # the user stream's next `Seen` (the resync landed) restores sight.
                down = pol.SourceDown(USER_STREAM, self._resync_error)
                self._emit(self.timeline.observe(down, event.t_ms or self._now_ms()))
            elif event.kind == "rest_error":
                self._poll_error = event.detail
                log.warning("account %s: %s", self.name, event.detail)
            else:
                if event.kind == "resync":
                    self._resync_error = None
                log.info("account %s: applied %s", self.name, event.detail or event.kind)
            return
        stream = self.streams.setdefault(event.stream, StreamHealth(event.stream))
        if event.kind == "connected":
            stream.connects += 1
            if stream.connects > 1 and event.detail != "rotation":
                stream.reconnects += 1
            stream.connected = True
        elif event.kind == "disconnected":
            stream.connected = False
        elif event.kind == "watchdog":
            stream.watchdog_fires += 1
        elif event.kind == "rotated":
            stream.rotations += 1
        stream.last_change_ms = event.t_ms
        stream.detail = event.detail
        trouble = event.kind == "watchdog" or (
            event.kind == "disconnected" and event.detail != "stopped"  # a clean stop: INFO
        )
        level = logging.WARNING if trouble else logging.INFO
        log.log(level, "account %s: %s %s %s", self.name, event.stream, event.kind, event.detail)

    def reconcile(self, result: RestResult) -> bool:
        book = self.timeline.replay.book
        if book is None:
            return False
        self.drift_checks += 1
        self._poll_error = None  # this poll succeeded
        cfg = self.timeline.policy.config
        any_drift = False
        for fig in figures(book.snapshot(), result.path, result.data):
            self._emit(self.timeline.observe(pol.Drift(fig.name, fig.local, fig.exchange),
                                             result.t_ms))
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
        self._emit(self.timeline.observe(pol.KeyPermissions(enabled), self._now_ms()))

    # ------------------------------------------------------------------ time
    def tick(self, now_ms: int | None = None) -> None:
        """Once a second: the user stream's liveness, then the policy's clock."""
        now = self._now_ms() if now_ms is None else now_ms
        timeline = self.timeline
        book = timeline.replay.book
        if book is not None and now - self._resummed_ms >= RESUM_EVERY_MS:
            self._resummed_ms = now
            book.resum()  # the running sums re-anchored on the exact ones (engine/book.py)
        if self.feed is not None and self.feed.user_alive:
            self._emit(timeline.observe(pol.Seen(USER_STREAM), now))
        self._emit(timeline.advance(now))

    # ------------------------------------------------------------------ humans
    @property
    def level(self) -> pol.Level | None:
        return self.timeline.policy.level

    def attend(self, event: pol.PolicyEvent, now_ms: int) -> pol.Attention:
        """An ack, snooze or unsnooze (`monitor.service.control`); returns what then holds."""
        self._emit(self.timeline.observe(event, now_ms))
        return self.timeline.policy.attention(now_ms)

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

    def _emit(self, alerts: list[TimedAlert]) -> None:
        if not alerts:
            return
        self.timeline.alerts.clear()  # delivered below; a months-long run keeps no history
        for timed in alerts:
            self.alerts_emitted += 1
            try:
                self._on_alert(timed)
            except Exception:
                self.alert_errors += 1
                log.exception("account %s: alert %s not handed over", self.name,
                              timed.intent.alert_id)

    def held_for_recording(self) -> frozenset[str]:
        """Held symbols and the assets of the book (what the recorder keeps)."""
        book = self.timeline.replay.book
        if book is None:
            return frozenset()
        replay = self.timeline.replay
        return replay.held_symbols | replay.pricer.symbols | frozenset(book.state.assets)

    # ------------------------------------------------------------------ status
    @property
    def last_error(self) -> str | None:
        """The current problem, or None: a failed resync, else a stopped feed, else the sources
        that went stale (while blind), else a failed poll. Each clears when its cause does (a
        snapshot lands, a poll succeeds, data flows again), so an old error never stands in for
        a new cause."""
        stale = self._stale_detail(self._now_ms()) if self.timeline.policy.blind else None
        return self._resync_error or self._feed_error or stale or self._poll_error

    @last_error.setter
    def last_error(self, message: str | None) -> None:
        """The daemon's report that the feed stopped (cleared by the next snapshot)."""
        self._feed_error = message

    def _stale_detail(self, now_ms: int) -> str:
        policy = self.timeline.policy
        limit = policy.config.stale_after_ms
        ages = sorted(
            ((now_ms - seen, source) for source, seen in policy.last_seen.items()
             if now_ms - seen > limit),
            reverse=True,
        )
        shown = ", ".join(f"{source} {age / 1000:.0f} s" for age, source in ages[:5])
        more = f" and {len(ages) - 5} more" if len(ages) > 5 else ""
        return f"no fresh data for over {limit / 1000:g} s" + (f": {shown}{more}" if shown else "")

    def state(self, now_ms: int) -> str:
        if self.timeline.replay.book is None:
            return "error" if self.last_error else "starting"
        blind = self._resync_error is not None or self.timeline.policy.blind
        return "blind" if blind else "live"

    def status(self, environment: str, now_ms: int | None = None) -> dict[str, Any]:
        """The account's `/status` entry (figures as `calc --json`, plus health)."""
        now = self._now_ms() if now_ms is None else now_ms
        book = self.timeline.replay.book
        doc: dict[str, Any] = build_report(book) if book is not None else {}
        policy = self.timeline.policy
        level = policy.level
        doc.update(
            account=self.name,
            environment=environment,
            state=self.state(now),
            level=None if level is None else level.value,
            updated_ms=self.updated_ms,
            streams=self._streams(now),
            sources={
                source: round((now - seen) / 1000, 3)
                for source, seen in sorted(policy.last_seen.items())
            },
            resyncs=dict(self.resyncs),
            levels=[policy.config.warning, policy.config.critical, policy.config.emergency],
            last_error=self.last_error,
        )
        attention = policy.attention(now)
        ack = attention.ack_level
        doc["ack"] = None if ack is None else {
            "level": ack.value, "t_ms": attention.ack_ms, "incident": attention.ack_incident
        }
        doc["snooze_until"] = (
            attention.snooze_until_ms if attention.snooze_level is not None else None
        )
        counters = self.timeline.replay.counters
        doc["events"] = dict(sorted(counters.items()))
        doc["collateral_prices"] = self._collateral_prices(now)
        # The entry's schema (docs/schemas/status.schema.json) covers the calc keys as well.
        doc["schema_version"] = STATUS_SCHEMA_VERSION
        units: dict[str, str] = doc.setdefault("units", {})
        units.update(sources="s", levels="fraction", updated_ms="ms")
        return doc

    def _collateral_prices(self, now: int) -> dict[str, dict[str, Any]]:
        """PM: where each collateral asset's USD price comes from, and how old it is."""
        replay = self.timeline.replay
        out: dict[str, dict[str, Any]] = {}
        for asset, source in sorted(replay.pricer.sources().items()):
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

    def _streams(self, now: int) -> list[dict[str, Any]]:
        out = []
        supervisors = dict(self.feed.streams()) if self.feed is not None else {}
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
            decode = self.timeline.replay.counters
            if name.startswith("market"):
                entry["decode_errors"] = decode.get("market_decode_errors", 0)
            elif name == "user":
                entry["decode_errors"] = decode.get("user_decode_errors", 0)
            out.append(entry)
        return out
