"""The daemon: every configured account as a supervised pipeline, plus delivery and the clock.

`Daemon` builds, per account, its pure `AccountCore` (monitor/core: feed lines → engine →
policy), the `AccountRuntime` adapter over it (and a recorder that asks the core what it holds),
then a REST client and a `LiveFeed` whose sink is the runtime (nothing points back), and runs
each feed under its own supervisor: a crash or a start-up failure (bad key, exchange down)
restarts that account's feed with backoff and never touches the others; the runtime — book,
policy state — survives the restart, and the new feed's snapshot resyncs it. Alerts are
rendered and persisted in the sqlite outbox before any delivery is tried; the delivery worker
drains it. A one-second clock ticks every account's core (so silence is noticed) and the health
evaluator. `stop` closes streams, lets the outbox drain briefly, and returns well within
systemd's 10 s. A state directory or outbox that cannot be
opened fails `start` with a `StartupError` (one line for the operator, no traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from monitor.alerts.attention import Attention
from monitor.alerts.delivery import Destination
from monitor.alerts.destinations import build_destinations, build_routes, settings_of, targets_of
from monitor.alerts.messages import render
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import private_dir
from monitor.alerts.worker import DeliveryWorker
from monitor.base.backoff import Backoff
from monitor.base.clock import wall_ms
from monitor.binance import egress
from monitor.binance.budget import AttemptBudget, BudgetBook
from monitor.binance.endpoints import endpoints_for
from monitor.binance.rest import RestClient
from monitor.config import Account, Config
from monitor.core.health import FeedHealth
from monitor.core.step import TimedAlert
from monitor.feed.live import LiveFeed, LiveSettings, stream_timings, user_timings
from monitor.feed.market_hub import MarketHub
from monitor.feed.market_polls import MarketPolls
from monitor.feed.recorder import RecordingWriter
from monitor.feed.recording import Meta
from monitor.feed.user_hub import UserHub
from monitor.service import shard
from monitor.service.account import AccountRuntime, live_core, tracked_items
from monitor.service.digest import (
    DAY_MS,
    AccountLine,
    RiskPeaks,
    digest_message,
    next_digest_ms,
    parse_at,
)
from monitor.web import model as web

log = logging.getLogger(__name__)

OUTBOX_NAME = "outbox.sqlite3"
#: How often the outbox's write-ahead log is checkpointed (in a thread, off the alert path).
CHECKPOINT_EVERY_S = 30.0


class StartupError(Exception):
    """The daemon cannot start for a reason the operator must fix (state dir, port, files)."""


def describe_os_error(exc: OSError) -> str:
    """`exc` as a short phrase without a traceback: the reason, then the file if any."""
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)
    return f"{reason}: {exc.filename}" if exc.filename else reason


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """How this run differs from a plain `marginwatch run`."""

    #: Tee every account's lines into a recording (one file per account: NAME inserted).
    record: Path | None = None
    record_all_market: bool = False
    #: Print each alert's one-line form on `echo_to` (the demo, `record`).
    echo: bool = False
    echo_to: TextIO | None = None
    #: Deliver alerts (False: `record` only persists nothing and sends nothing).
    deliver: bool = True
    #: Extra Apprise URLs that hear every alert (`demo --notify URL`).
    notify: tuple[str, ...] = ()
    live: LiveSettings = field(default_factory=LiveSettings)
    tick_s: float = 1.0
    #: Longest time `stop` lets the outbox drain before closing it (queued alerts resume later).
    drain_s: float = 3.0
    #: The REST weight budgets every account shares (None: Binance's limits per minute) and
    #: the websocket connection-attempt budget (None: Binance's 300 per 5 minutes).
    budgets: BudgetBook | None = None
    attempts: AttemptBudget | None = None


@dataclass(slots=True)
class AccountSlot:
    """One account: its config, pipeline and current feed."""

    config: Account
    runtime: AccountRuntime
    feed: LiveFeed | None = None
    rest: RestClient | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0


def recording_path(base: Path, account: str, accounts: int) -> Path:
    """`base` for a single account; `base` with `.ACCOUNT` before the suffix otherwise."""
    if accounts == 1:
        return base
    stem, dot, rest = base.name.partition(".")
    return base.with_name(f"{stem}.{account}{dot}{rest}")


class Daemon:
    """All accounts of one config, their delivery, and the one-second clock."""

    def __init__(
        self,
        config: Config,
        options: DaemonOptions | None = None,
        *,
        now_ms: Callable[[], int] = wall_ms,
        on_health: Callable[[str, FeedHealth], None] | None = None,
    ) -> None:
        #: This instance's shard (`[shard]`): the other shards' accounts are left out.
        self.shard = shard.configured(config, shard.current_hostname())
        self.config = config = shard.restrict(config, self.shard)
        self.options = options or DaemonOptions()
        self.now_ms = now_ms
        #: Called with every feed health report (metrics); may be set after construction.
        self.on_health = on_health
        #: Called with the processing time (s) of every market frame (the latency histogram).
        self.latency_hook: Callable[[float], None] | None = None
        #: Called with (account, path, HTTP status or None, used weight or None) for every REST
        #: request an account's client sends (`marginwatch_rest_requests_total`).
        self.rest_hook: Callable[[str, str, int | None, int | None], None] | None = None
        self._tz = config.alerts.tz
        self.slots: dict[str, AccountSlot] = {}
        self.outbox: Outbox | None = None
        self._checkpoints: set[asyncio.Task[None]] = set()
        self.worker: DeliveryWorker | None = None
        #: Each account's highest risk over the last 24 h (the daily digest).
        self.risk_peaks = RiskPeaks()

        self._tasks: list[asyncio.Task[None]] = []
        #: One market connection per venue and product, shared by the accounts on it.
        self.market_hub = MarketHub(stream_timings(self.options.live))
        #: USDⓈ-M user streams, several accounts' listenKeys per connection (issue 17).
        self.user_hub = UserHub(user_timings(self.options.live))
        #: Market data only REST has (PM asset index prices), polled once per venue.
        self.market_polls = MarketPolls(self.options.live.asset_index_poll_s)
        self._recorders: list[RecordingWriter] = []
        self.tick_hooks: list[Callable[[], None]] = []
        #: Called with every alert after it was persisted (metrics, tests, the demo's console).
        self.alert_hooks: list[Callable[[TimedAlert], None]] = []
        self.alerts_handled = 0
        #: The Telegram command bot when `[telegram] commands` (set by `serve`; its counters).
        self.telegram_bot: Any = None
        for account in config.accounts:
            self.slots[account.name] = AccountSlot(account, self._runtime(account))
        #: The web dashboard's risk history, alert log and live updates (monitor/web).
        self.dashboard = web.Dashboard(self)
        #: Whether the dashboard is served (between `start` and `stop`).
        self.dashboard_live = False

    # ------------------------------------------------------------------ building
    def daemon_problems(self) -> list[str]:
        """What makes the whole daemon unhealthy, beyond its accounts (for `/healthz`)."""
        outbox = self.outbox
        if outbox is None or outbox.failing is None:
            return []
        return [
            f"alert outbox cannot be written ({outbox.held} alert write(s) held in memory and"
            f" still delivered): {outbox.failing}"
        ]

    def _runtime(self, account: Account) -> AccountRuntime:
        mode = account.fixed_mode
        meta = Meta(
            account=account.name,
            mode=None if mode is None else mode.value,
            environment=account.environment,
            started=self.now_ms(),
        )
        # The core first: the recorder asks it what the account holds, the runtime drives it.
        core = live_core(meta, self.config.policy_config(account), account.margin_leverage)
        recorder = None
        if self.options.record is not None:
            path = recording_path(self.options.record, account.name, len(self.config.accounts))
            recorder = RecordingWriter(
                path,
                meta,
                all_market=self.options.record_all_market,
                held=lambda: tracked_items(core),
            )
            self._recorders.append(recorder)
        runtime = AccountRuntime(
            meta,
            self.config.policy_config(account),
            margin_leverage=account.margin_leverage,
            on_alert=self._on_alert,
            recorder=recorder,
            now_ms=self.now_ms,
            on_health=self._health_hook(account.name),
            on_latency=self._latency,
            core=core,
        )
        runtime.expect_snapshot(self.now_ms())
        return runtime

    def _health_hook(self, account: str) -> Callable[[FeedHealth], None]:
        def report(event: FeedHealth) -> None:
            if self.on_health is not None:
                self.on_health(account, event)

        return report

    def _rest_reporter(self, account: str) -> Callable[[str, int | None, int | None], None]:
        def report(path: str, status: int | None, used_weight: int | None) -> None:
            if self.rest_hook is not None:
                self.rest_hook(account, path, status, used_weight)

        return report

    def _latency(self, seconds: float) -> None:
        if self.latency_hook is not None:
            self.latency_hook(seconds)

    def _destinations(self) -> list[Destination]:
        """`[[notify]]` (each with its own timeout), the Apprise config, `--notify` URLs."""
        return build_destinations(targets_of(self.config, self.options.notify))

    # ------------------------------------------------------------------ alerts
    def _on_alert(self, timed: TimedAlert) -> None:
        intent = timed.intent
        message = render(intent, timed.snapshot, timed.figures, self._tz)
        self.alerts_handled += 1
        if self.worker is not None:
            self.worker.submit(intent, message)  # persisted before any send
        if self.options.echo:
            stream = self.options.echo_to or sys.stdout
            print(message.line, file=stream, flush=True)
        for hook in self.alert_hooks:
            hook(timed)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the outbox, start delivery, every account's feed and the clock."""
        # Inherited by every task from here on: the source address, and the REST weight and
        # connection-attempt budgets all accounts on it share (monitor/binance/budget.py).
        opts = self.options
        egress.use(egress.Egress(
            self.config.network.source_address,
            opts.budgets if opts.budgets is not None else BudgetBook(),
            opts.attempts if opts.attempts is not None else AttemptBudget(),
        ))
        if self.options.deliver:
            state_dir = Path(self.config.state.dir)
            try:
                private_dir(state_dir)
                self.outbox = Outbox(state_dir / OUTBOX_NAME)
            except OSError as exc:
                raise StartupError(
                    f"cannot use the state directory {state_dir}: {describe_os_error(exc)}"
                ) from None
            except sqlite3.Error as exc:
                raise StartupError(
                    f"cannot open the outbox {state_dir / OUTBOX_NAME}: {exc}"
                ) from None
            routes = build_routes(self._destinations(), settings_of(self.config))
            self.worker = DeliveryWorker(self.outbox, routes)
            self._tasks.append(asyncio.create_task(self.worker.run(), name="delivery"))
            self._resume_ladders(self.outbox)
        for slot in self.slots.values():
            name = f"account {slot.config.name}"
            slot.task = asyncio.create_task(self._supervise(slot), name=name)
        self._tasks.append(asyncio.create_task(self._clock(), name="clock"))
        beat = self.config.heartbeat
        if beat is not None and beat.digest_at is not None and self.worker is not None:
            self._tasks.append(asyncio.create_task(self._digests(beat.digest_at), name="digest"))
        self.dashboard_live = True

    def _resume_ladders(self, outbox: Outbox) -> None:
        """Each account's policy continues from the last level alert persisted and the last
        exchange account status alerted (a restart announces neither again, only changes)."""
        for name, slot in self.slots.items():
            ladder = outbox.ladder(name)
            if ladder is not None:
                slot.runtime.core.resume(ladder, self.now_ms())
                log.info("account %s: alert ladder resumed at %s (%s), account status %s", name,
                         ladder.level or "no level", ladder.kind, ladder.status or "unknown")
            attention = outbox.attention(name)
            if attention is not None:  # acks and snoozes survive a restart
                slot.runtime.core.restore(attention, self.now_ms())

    def persist_attention(self, name: str, attention: Attention) -> None:
        """Save an account's ack / snooze (`monitor.service.control`) in the outbox."""
        if self.outbox is not None:
            self.outbox.save_attention(name, attention)

    async def _supervise(self, slot: AccountSlot) -> None:
        """Run the account's feed forever; rebuild it after any failure, with backoff."""
        backoff = Backoff(base_s=1.0, cap_s=60.0)
        account = slot.config
        while True:
            endpoints = endpoints_for(account.environment, account.rest, account.ws)
            rest = RestClient(
                endpoints,
                account.api_key_value(),
                account.api_secret_value(),
                on_request=self._rest_reporter(account.name),
                priority=slot.runtime.rest_priority,  # riskiest (or unknown) first
            )
            feed = LiveFeed(
                account.name,
                endpoints,
                rest,
                slot.runtime,
                mode=account.fixed_mode,
                settings=self.options.live,
                now_ms=self.now_ms,
                hub=self.market_hub,
                polls=self.market_polls,
                users=self.user_hub,
            )
            slot.feed, slot.rest = feed, rest
            started = time.monotonic()
            try:
                await feed.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                slot.restarts += 1
                slot.runtime.last_error = f"{type(exc).__name__}: {exc}"
                if time.monotonic() - started > 300:
                    backoff.reset()
                delay = backoff.next_delay()
                log.error(
                    "account %s: feed stopped (%s); restarting in %.1f s",
                    account.name, slot.runtime.last_error, delay,
                )
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await rest.close()

    async def _clock(self) -> None:
        tick = self.options.tick_s
        checkpoint_due = time.monotonic() + CHECKPOINT_EVERY_S
        while True:
            await asyncio.sleep(tick - (time.time() % tick))
            if self.outbox is not None and time.monotonic() >= checkpoint_due:
                checkpoint_due = time.monotonic() + CHECKPOINT_EVERY_S
                self._spawn_checkpoint(self.outbox)
            now = self.now_ms()
            for name, slot in self.slots.items():
                try:
                    alive = slot.feed is not None and slot.feed.user_alive
                    slot.runtime.tick(now, user_alive=alive)
                    risk = slot.runtime.risk
                    if risk is not None:
                        self.risk_peaks.observe(name, risk, now)
                except Exception:
                    log.exception("account %s: tick failed", slot.config.name)
            for hook in self.tick_hooks:
                try:
                    hook()
                except Exception:
                    log.exception("tick hook failed")

    async def _digests(self, at_text: str) -> None:
        """Send the daily digest at `[heartbeat] digest_at` (local time in `[alerts] tz`)."""
        at = parse_at(at_text)
        while True:
            now = self.now_ms()
            due = next_digest_ms(now, at, self._tz)
            await asyncio.sleep(max(0.0, (due - now) / 1000))
            try:
                self.send_digest(self.now_ms())
            except Exception:
                log.exception("the daily digest could not be built")

    def send_digest(self, now_ms: int) -> None:
        """Build the digest of the last 24 h and hand it to delivery (tagged destinations)."""
        beat = self.config.heartbeat
        if self.worker is None or self.outbox is None or beat is None:
            return
        lines = []
        for name, slot in sorted(self.slots.items()):
            runtime = slot.runtime
            lines.append(
                AccountLine(
                    name,
                    runtime.state(now_ms),
                    runtime.risk,
                    self.risk_peaks.peak(name, now_ms),
                    None if runtime.level is None else runtime.level.value,
                )
            )
        alerts = Counter(
            (kind, level) for _, kind, level in self.outbox.kinds_since(now_ms - DAY_MS)
        )
        intent, message = digest_message(now_ms, lines, alerts, beat.digest_tag, self._tz)
        self.worker.submit(intent, message)
        log.info("daily digest sent to destinations tagged %r", beat.digest_tag)

    def _spawn_checkpoint(self, outbox: Outbox) -> None:
        async def run() -> None:
            try:
                await asyncio.to_thread(outbox.checkpoint)
            except sqlite3.Error as exc:
                log.warning("outbox checkpoint failed (retried later): %s", exc)

        task = asyncio.create_task(run(), name="outbox checkpoint")
        self._checkpoints.add(task)
        task.add_done_callback(self._checkpoints.discard)

    async def stop(self) -> None:
        """Stop feeds (closing streams), drain the outbox briefly, close files."""
        self.dashboard_live = False
        self.dashboard.close()  # live clients are closed
        feeds = [slot.feed.stop() for slot in self.slots.values() if slot.feed is not None]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*feeds, return_exceptions=True), 4.0)
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        await asyncio.gather(
            *(s.task for s in self.slots.values() if s.task is not None), return_exceptions=True
        )
        if self.worker is not None and self.worker.pending:
            await self.worker.drain(self.options.drain_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.outbox is not None:
            self.outbox.close()
        for recorder in self._recorders:
            recorder.close()

    # ------------------------------------------------------------------ views
    def status(self, now_ms: int | None = None) -> list[dict[str, Any]]:
        now = self.now_ms() if now_ms is None else now_ms
        out = []
        for slot in self.slots.values():
            streams = slot.feed.streams() if slot.feed is not None else []
            doc = slot.runtime.status(slot.config.environment, now, streams)
            doc["restarts"] = slot.restarts
            out.append(doc)
        return out

    def freshness(self) -> Mapping[str, tuple[bool, list[str]]]:
        """Per account: (fresh, problems) — fresh once live and not blind."""
        out: dict[str, tuple[bool, list[str]]] = {}
        now = self.now_ms()
        for name, slot in self.slots.items():
            runtime = slot.runtime
            state = runtime.state(now)
            problems = []
            if state != "live":
                detail = f": {runtime.last_error}" if runtime.last_error else ""
                problems.append(f"account {name}: {state}{detail}")
            out[name] = (not problems, problems)
        return out

    def listen_keys(self) -> list[str]:
        """The listenKeys the accounts' feeds hold now."""
        return [slot.feed.listen_key for slot in self.slots.values()
                if slot.feed is not None and slot.feed.listen_key]

    def secrets(self) -> list[str]:
        """Every secret value this daemon holds (for redaction)."""
        values: list[str] = []
        for slot in self.slots.values():
            with contextlib.suppress(Exception):
                values += [slot.config.api_key_value(), slot.config.api_secret_value()]
            if slot.feed is not None and slot.feed.listen_key:
                values.append(slot.feed.listen_key)
        with contextlib.suppress(Exception):
            values += [url for url, _ in self.config.notify_targets()]
        values += list(self.options.notify)
        return [v for v in values if v]

