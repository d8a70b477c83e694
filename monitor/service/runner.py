"""`marginwatch run`: the daemon with its HTTP endpoint, metrics, health, systemd and signals.

`serve` wires the pieces around a `Daemon`: secrets registered for redaction, Prometheus
metrics fed from the pipelines (alerts, stream lifecycle, resyncs, figures once a second, tick
latency), the HTTP server (`/healthz`, `/metrics`, `/status`), the health evaluator and the
systemd notify protocol. `READY=1` is sent once the HTTP endpoint is bound (not when Binance
answers: an unreachable exchange is something to report, not a failed start). The systemd
watchdog is pinged while the event loop is responsive and the daemon's clock keeps ticking —
a wedged daemon gets restarted, but an exchange outage does not cause a restart loop (that is
what the "monitor blind" alert and `/healthz` are for). With `[heartbeat]`, an outside
dead-man's switch is pinged on the same verdict (`heartbeat.py`). SIGTERM or SIGINT stop
everything in under 10 s; queued alerts stay in the outbox for the next start. A start that
cannot happen (HTTP port taken, state directory or recording not writable) raises
`StartupError` with one line for the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor import __version__
from monitor.alerts.redact import url_secrets
from monitor.binance import egress
from monitor.binance.rest import weight_pool
from monitor.binance.stream import StreamSupervisor
from monitor.config import Config
from monitor.core.health import FeedHealth, HealthKind, ResyncReason
from monitor.service import logs, sdnotify
from monitor.service.control import Control, ControlApi
from monitor.service.daemon import (
    OUTBOX_NAME,
    Daemon,
    DaemonOptions,
    StartupError,
    describe_os_error,
)
from monitor.service.delivery_tally import DeliveryTally
from monitor.service.health import HealthEvaluator
from monitor.service.heartbeat import Heartbeat, Verdict
from monitor.service.http import HttpServer, is_loopback
from monitor.service.metrics import Metrics
from monitor.service.telegram_bot import TelegramBot

log = logging.getLogger(__name__)

#: The daemon's clock must have ticked this recently for the watchdog to be pinged.
CLOCK_STALL_S = 10.0
#: How long the whole shutdown may take before we give up waiting (systemd allows 10 s+).
STOP_BUDGET_S = 8.0

#: Feed health kinds counted as `bad_input` (their values are the metric's `kind` labels).
_BAD_INPUT_KINDS = frozenset({HealthKind.RESYNC_FAILED, HealthKind.REST_ERROR})
#: Ingest counters of frames that did not decode, by stream.
_DECODE_COUNTERS = (("market", "market_decode_errors"), ("user", "user_decode_errors"))
#: Ingest counters of decoded input not applied (`bad_input` kinds): rejected whole by the
#: engine, rejected REST snapshots, user updates older than the state they would overwrite.
_REJECTION_COUNTERS = ("engine_errors", "snapshot_errors", "user_stale_updates")


class MetricsBridge:
    """Feeds the Prometheus metrics from the daemon's hooks and its one-second clock.

    Connection counters come from each stream supervisor's own `StreamStats`, once per
    connection (a market connection shared by several accounts is counted once); resyncs from
    each account's applied snapshots (the start-up snapshot included, as `startup`); REST
    requests and the used request weight from the REST clients' `on_request` callback; alert
    deliveries per destination from the outbox's own records (`delivery_tally`).
    """

    def __init__(self, daemon: Daemon, metrics: Metrics) -> None:
        self.daemon = daemon
        self.metrics = metrics
        #: Connection name → (its supervisor, stats counters already reported).
        self._streams: dict[str, tuple[StreamSupervisor, tuple[int, ...]]] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._resyncs: dict[tuple[str, ResyncReason], int] = {}
        self.last_tick = time.monotonic()
        #: Alert deliveries come from what the outbox recorded (its history is the baseline).
        self.deliveries = (
            DeliveryTally(Path(daemon.config.state.dir) / OUTBOX_NAME)
            if daemon.options.deliver
            else None
        )

    def on_health(self, account: str, event: FeedHealth) -> None:
        # Stream lifecycle reaches every account sharing a connection: counted per connection
        # in `tick` from the supervisors' stats instead, never here.
        if event.kind in _BAD_INPUT_KINDS:
            self.metrics.bad_input(account, event.kind.value)

    def on_rest(
        self, account: str, path: str, status: int | None, used_weight: int | None
    ) -> None:
        self.metrics.rest_request(account, path, status)
        if used_weight is not None:
            self.metrics.set_rest_weight(account, weight_pool(path), used_weight)

    def tick(self) -> None:
        """Once a second: the daemon's clock is alive (`clock_alive`, the systemd watchdog).

        Figures, levels, data ages, connection counters and deliveries are brought up to date
        when the metrics are scraped (`refresh`, a `Metrics.before_scrape` hook), not every
        second: with a fleet, reading every account's figures once a second cost about half the
        daemon's CPU (py-spy, 400 accounts), for values read every 15 s or so."""
        self.last_tick = time.monotonic()

    def refresh(self) -> None:
        """Every metric up to date with the daemon (called at each scrape)."""
        m = self.metrics
        now = self.daemon.now_ms()
        connections: dict[str, StreamSupervisor] = {}
        for name, slot in self.daemon.slots.items():
            runtime = slot.runtime
            core = runtime.core
            book = core.book
            m.set_up(name, runtime.state(now) == "live")
            m.set_level(name, None if core.level is None else core.level.value)
            if book is not None:
                snap = book.snapshot()
                m.observe_figures(
                    name,
                    book.mode.value,
                    snap.risk,
                    None if snap.uni_mmr is not None else snap.risk,
                    snap.uni_mmr,
                    snap.equity,
                    snap.maint_margin,
                    unit=snap.unit,
                    updated_s=None if runtime.updated_ms is None else runtime.updated_ms / 1000,
                )
            for source, seen in core.last_seen.items():
                m.set_data_age(name, source, max(0.0, (now - seen) / 1000))
            if slot.feed is not None:
                for stream, sup in slot.feed.streams():
                    connections[sup.config.name] = sup
                    m.set_stream_connection(name, stream, sup.config.name)
            for reason, count in list(runtime.resync_reasons.items()):
                done = self._resyncs.get((name, reason), 0)
                if count > done:
                    for _ in range(count - done):
                        m.resync(name, reason.value)
                    self._resyncs[(name, reason)] = count
            counters = core.counters
            for stream, kind in _DECODE_COUNTERS:
                key = (name, kind)
                count = counters.get(kind, 0)
                for _ in range(count - self._errors.get(key, 0)):
                    m.decode_error(name, stream, "malformed")
                self._errors[key] = count
            for kind in _REJECTION_COUNTERS:
                key = (name, kind)
                count = counters.get(kind, 0)
                for _ in range(count - self._errors.get(key, 0)):
                    m.bad_input(name, kind)
                self._errors[key] = count
        self._connection_counters(connections)
        outbox, worker = self.daemon.outbox, self.daemon.worker
        self._deliveries()
        if outbox is not None:
            m.set_outbox_depth(outbox.queued())
            if worker is not None:
                stats = worker.stats
                m.observe_delivery(
                    outbox.write_failures, outbox.held, stats.unknown, stats.possible_duplicates
                )

    def _deliveries(self) -> None:
        """Alert deliveries per destination, as the outbox recorded them since the last tick."""
        m, worker = self.metrics, self.daemon.worker
        if worker is not None:
            for dest in worker.destinations:  # every destination's series from the start
                m.destination_info(dest.dest_id, dest.scheme)
                m.send_failures(dest.dest_id, 0)
        if self.deliveries is None:
            return
        new = self.deliveries.new()
        for (dest_id, account, kind, state), n in sorted(new.alerts.items()):
            m.alert(dest_id, account, kind, state, n)
        for dest_id, n in sorted(new.send_failures.items()):
            m.send_failures(dest_id, n)

    def close(self) -> None:
        if self.deliveries is not None:
            self.deliveries.close()

    def _connection_counters(self, connections: dict[str, StreamSupervisor]) -> None:
        """Each connection's counters once; a rebuilt supervisor (feed restart) counts anew."""
        m = self.metrics
        for conn, sup in connections.items():
            stats = sup.stats
            now = (stats.frames, stats.reconnects, stats.watchdog_fires, stats.rotations,
                   stats.unrouted)
            seen, before = self._streams.get(conn, (sup, (0, 0, 0, 0, 0)))
            if seen is not sup:
                before = (0, 0, 0, 0, 0)
            deltas = [max(0, a - b) for a, b in zip(now, before, strict=True)]
            adders = (m.frames, m.reconnect, m.watchdog_fire, m.rotation, m.unrouted_frames)
            for add, n in zip(adders, deltas, strict=True):
                add(conn, n)  # 0 too: a connection's series exist from its first tick
            self._streams[conn] = (sup, now)
            m.set_connected(conn, sup.connected)
        for conn in self._streams.keys() - connections.keys():
            m.set_connected(conn, False)  # closed (no account wants it any more)

    def clock_alive(self) -> dict[str, tuple[bool, list[str]]]:
        """The watchdog's liveness: the daemon's clock is still ticking."""
        age = time.monotonic() - self.last_tick
        if age > CLOCK_STALL_S:
            return {"daemon": (False, [f"daemon clock stalled for {age:.0f} s"])}
        return {"daemon": (True, [])}


def status_document(daemon: Daemon, evaluator: HealthEvaluator) -> dict[str, Any]:
    """The `/status` JSON (see the README): health plus every account's entry."""
    health = evaluator.evaluate()
    return {
        "version": 1,
        "marginwatch": __version__,
        "t": daemon.now_ms(),
        "healthy": health.healthy,
        "problems": health.problems,
        "accounts": daemon.status(),
    }


def _observe_refused(daemon: Daemon, server: HttpServer, metrics: Metrics) -> None:
    """Refused commands (Telegram strangers, control API without a valid token) as metrics."""
    bot = daemon.telegram_bot
    if bot is not None:
        metrics.observe_refused("telegram", int(bot.ignored))
    if server.control is not None:
        metrics.observe_refused("api", server.control.refused)


async def serve(
    config: Config,
    options: DaemonOptions | None = None,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Daemon, HttpServer], None] | None = None,
    http: bool = True,
) -> int:
    """Run until `stop` is set (or SIGTERM / SIGINT); return the exit status. Raises
    `StartupError` when the daemon cannot start (port taken, state or recording unwritable)."""
    try:
        daemon = Daemon(config, options)
    except OSError as exc:
        raise StartupError(f"cannot write the recording: {describe_os_error(exc)}") from None
    metrics = Metrics(max_accounts=config.http.metrics_max_accounts)
    bridge = MetricsBridge(daemon, metrics)
    daemon.on_health = bridge.on_health
    daemon.tick_hooks.append(bridge.tick)
    metrics.before_scrape.append(bridge.refresh)
    daemon.latency_hook = metrics.tick_latency
    daemon.rest_hook = bridge.on_rest
    logs.add_secrets(daemon.secrets())
    for url, _ in config.notify_targets():
        logs.add_secrets(url_secrets(url))
    if config.heartbeat is not None and config.heartbeat.pings:
        logs.add_secrets(heartbeat_secrets(config.heartbeat.url_value()))

    evaluator = HealthEvaluator(
        daemon.freshness, metrics=metrics, daemon_problems=daemon.daemon_problems
    )
    watchdog = HealthEvaluator(bridge.clock_alive, probe=evaluator.probe)
    control = Control(
        lambda: {name: slot.runtime for name, slot in daemon.slots.items()},
        daemon.now_ms,
        daemon.persist_attention,
    )
    api_token = config.http.api_token()
    if api_token:
        logs.add_secrets([api_token])
    server = HttpServer(
        config.http.host,
        config.http.port,
        health=evaluator.evaluate,
        status=lambda: status_document(daemon, evaluator),
        metrics=metrics,
        control=ControlApi(control, api_token, is_loopback),
        dashboard=lambda: daemon.dashboard if daemon.dashboard_live else None,
    )
    daemon.tick_hooks.append(lambda: _observe_refused(daemon, server, metrics))
    # The shared REST weight and connection-attempt budgets (the clock task's egress).
    daemon.tick_hooks.append(
        lambda: metrics.observe_budgets(egress.current().weights, egress.current().attempts)
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    tasks: list[asyncio.Task[None]] = []
    try:
        if http:
            try:
                await server.start()
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {config.http.listen}: {describe_os_error(exc)}"
                    " (another marginwatch running? change [http] listen)"
                ) from None
            if not server_is_loopback(config):
                log.warning("HTTP endpoint on %s is reachable from other hosts", config.http.listen)
        evaluator.start()
        await daemon.start()
        tasks.append(asyncio.create_task(watchdog.run_watchdog(), name="systemd watchdog"))
        tasks.append(asyncio.create_task(_register_listen_keys(daemon), name="redaction"))
        telegram = config.telegram
        bot_token = telegram.bot_token() if telegram is not None else None
        if telegram is not None and telegram.commands and bot_token:
            logs.add_secrets([bot_token])
            bot = TelegramBot(
                bot_token,
                control,
                daemon.status,
                allowed_chats=telegram.allowed_chats,
                allowed_users=telegram.allowed_users,
                api_base=telegram.api_base,
                poll_timeout_s=telegram.poll_timeout_s,
            )
            daemon.telegram_bot = bot
            tasks.append(asyncio.create_task(bot.run(), name="telegram bot"))
        if config.heartbeat is not None and config.heartbeat.pings:
            beat = Heartbeat(
                config.heartbeat.url_value(),
                lambda: heartbeat_verdict(evaluator),
                interval_s=config.heartbeat.interval_s,
                timeout_s=config.heartbeat.timeout_s,
                user_agent=f"marginwatch/{__version__}",
            )
            tasks.append(asyncio.create_task(beat.run(), name="heartbeat"))
        sdnotify.ready()
        sdnotify.status(f"monitoring {len(daemon.slots)} account(s)")
        log.info(
            "marginwatch %s running: %d account(s)%s",
            __version__,
            len(daemon.slots),
            f", http://{config.http.listen}" if http else "",
        )
        if on_ready is not None:
            on_ready(daemon, server)
        await stop.wait()
        log.info("stopping")
        sdnotify.stopping()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(daemon.stop(), STOP_BUDGET_S)
        await evaluator.stop()
        if http:
            await server.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
        bridge.close()
    log.info("stopped")
    return 0


def heartbeat_verdict(evaluator: HealthEvaluator) -> Verdict:
    """The heartbeat's verdict: `/healthz`'s, with the start-up grace marked."""
    return Verdict(evaluator.evaluate().healthy, starting=evaluator.in_grace())


def heartbeat_secrets(url: str) -> list[str]:
    """What of a heartbeat URL must never be logged: the URL and its token-like parts (short
    path words such as `ping` or `api` are left alone, or every log line would be masked)."""
    host = urlsplit(url).hostname or ""
    return [url, *(part for part in url_secrets(url) if len(part) >= 8 and part != host)]


def server_is_loopback(config: Config) -> bool:
    return config.http.is_loopback


async def _register_listen_keys(daemon: Daemon) -> None:
    """listenKeys appear at run time: register each for redaction as soon as it exists (checked
    every second; only values the registry does not hold yet are registered — a fleet's
    thousands of keys and secrets are not re-derived each time)."""
    for second in itertools.count():
        # Keys and URLs are fixed at start (all of them again each minute, to be safe).
        values = daemon.secrets() if second % 60 == 0 else daemon.listen_keys()
        registered = logs.registered_secrets()
        fresh = [value for value in values if value.strip() not in registered]
        if fresh:
            logs.add_secrets(fresh)
        await asyncio.sleep(1.0)
