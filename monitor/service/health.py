"""Is the daemon healthy? Data freshness per account plus event-loop responsiveness.

`HealthEvaluator.evaluate()` is the one verdict behind `/healthz`, `/status` and the systemd
watchdog: healthy when every account reports fresh data and the asyncio loop keeps its schedule
(`LoopLagProbe`). `run_watchdog()` sends `WATCHDOG=1` only while that verdict is healthy, so a
wedged or blind daemon stops pinging and systemd restarts it after `WatchdogSec=`. A start-up
grace (default 60 s) lets accounts connect first: during it, a responsive loop is enough to ping
(`/healthz` still says 503 until the data is fresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from monitor.service import sdnotify
from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)

#: {account: (fresh, problems)} — problems are short phrases like "market stream silent 12 s".
Freshness = Callable[[], Mapping[str, tuple[bool, Sequence[str]]]]

DEFAULT_LAG_THRESHOLD_S = 1.0
DEFAULT_PROBE_INTERVAL_S = 0.25
DEFAULT_STARTUP_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict: healthy or not, and every problem seen (also informative ones when healthy)."""

    healthy: bool
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"healthy": self.healthy, "problems": list(self.problems)}


class LoopLagProbe:
    """Measures how late the event loop wakes a task that sleeps `interval_s` at a time.

    `lag_s()` is the larger of the last measured lag and how overdue the next wake-up is now,
    so a probe that stopped being scheduled at all (a blocked loop) shows up as growing lag.
    `on_sample(lag_s)` is called after each measurement (e.g. `Metrics.set_loop_lag`).
    """

    def __init__(
        self,
        interval_s: float = DEFAULT_PROBE_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_sample: Callable[[float], None] | None = None,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._on_sample = on_sample
        self._last_lag_s = 0.0
        self._due: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start measuring in the running loop (idempotent)."""
        if not self.running:
            self._due = self._clock() + self.interval_s
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            self._due = self._clock() + self.interval_s
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, self._clock() - self._due)
            self._last_lag_s = lag
            if self._on_sample is not None:
                self._on_sample(lag)

    def lag_s(self) -> float:
        """The current scheduling lag in seconds."""
        overdue = 0.0 if self._due is None else self._clock() - self._due
        return max(self._last_lag_s, overdue, 0.0)


class HealthEvaluator:
    """Combines account freshness and loop lag into `Health`; drives the systemd watchdog."""

    def __init__(
        self,
        freshness: Freshness,
        *,
        probe: LoopLagProbe | None = None,
        lag_threshold_s: float = DEFAULT_LAG_THRESHOLD_S,
        startup_grace_s: float = DEFAULT_STARTUP_GRACE_S,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        daemon_problems: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self._freshness = freshness
        #: Problems of the daemon as a whole (the alert outbox cannot be written): unhealthy.
        self._daemon_problems = daemon_problems
        on_sample = None if metrics is None else metrics.set_loop_lag
        self.probe = probe or LoopLagProbe(clock=clock, on_sample=on_sample)
        self.lag_threshold_s = lag_threshold_s
        self.startup_grace_s = startup_grace_s
        self._metrics = metrics
        self._clock = clock
        self._started = clock()
        self._last_logged: tuple[bool, bool, tuple[str, ...]] | None = None

    def evaluate(self) -> Health:
        """The current verdict (cheap: call it per request and per watchdog interval)."""
        health = Health(*self._verdict())
        if self._metrics is not None:
            self._metrics.set_healthy(health.healthy)
        return health

    def _verdict(self) -> tuple[bool, list[str]]:
        loop_ok, problems = self._loop_problems()
        accounts_ok, account_problems = self._account_problems()
        daemon = list(self._daemon_problems()) if self._daemon_problems is not None else []
        return loop_ok and accounts_ok and not daemon, problems + daemon + account_problems

    def _loop_problems(self) -> tuple[bool, list[str]]:
        if not self.probe.running:
            return False, ["event loop probe is not running"]
        lag = self.probe.lag_s()
        if lag > self.lag_threshold_s:
            return False, [f"event loop lagging {lag:.2f} s (limit {self.lag_threshold_s:g} s)"]
        return True, []

    def _account_problems(self) -> tuple[bool, list[str]]:
        try:
            return self._judge(dict(self._freshness()))
        except Exception as exc:  # a bug in a freshness source must not break /healthz
            log.exception("freshness check failed")
            return False, [f"freshness check failed: {exc.__class__.__name__}"]

    @staticmethod
    def _judge(report: Mapping[str, tuple[bool, Sequence[str]]]) -> tuple[bool, list[str]]:
        if not report:
            return False, ["no account is monitored"]
        healthy, problems = True, []
        for account in sorted(report):
            fresh, found = report[account]
            healthy = healthy and bool(fresh)
            prefix = f"account {account}: "
            problems += [p if p.startswith(prefix) else prefix + p for p in found]
            if not fresh and not found:
                problems.append(f"account {account}: data not fresh")
        return healthy, problems

    def in_grace(self) -> bool:
        """True during the start-up grace period."""
        return self._clock() - self._started < self.startup_grace_s

    def should_ping(self, health: Health) -> bool:
        """Ping the watchdog: healthy, or (during the start-up grace) the loop is responsive."""
        if health.healthy:
            return True
        return self.in_grace() and self._loop_problems()[0]

    def start(self) -> None:
        """Start the loop probe (and the start-up grace period) in the running loop."""
        self._started = self._clock()
        self.probe.start()

    async def stop(self) -> None:
        await self.probe.stop()

    async def run_watchdog(self, interval_s: float | None = None) -> None:
        """Ping systemd's watchdog while healthy; returns at once when the watchdog is off.

        `interval_s` defaults to half of `$WATCHDOG_USEC` (see `sdnotify.watchdog_interval_s`).
        """
        interval = sdnotify.watchdog_interval_s() if interval_s is None else interval_s
        if interval is None:
            log.info("systemd watchdog is off ($WATCHDOG_USEC not set)")
            return
        log.info("systemd watchdog on: pinging every %.1f s while healthy", interval)
        while True:
            self.watchdog_step()
            await asyncio.sleep(interval)

    def watchdog_step(self) -> bool:
        """Evaluate once and ping when due; True when a ping was sent."""
        health = self.evaluate()
        ping = self.should_ping(health)
        self._log_changes(health, ping)
        return sdnotify.watchdog() if ping else False

    def _log_changes(self, health: Health, ping: bool) -> None:
        """Log when the verdict or its problems change (not on every interval)."""
        key = (health.healthy, ping, tuple(health.problems))
        if key == self._last_logged:
            return
        self._last_logged = key
        if health.healthy:
            log.info("healthy%s", _listed(health.problems))
        elif ping:
            log.info("starting: not yet healthy%s", _listed(health.problems))
        else:
            log.warning("unhealthy, not pinging the systemd watchdog%s", _listed(health.problems))


def _listed(problems: Sequence[str]) -> str:
    return (": " + "; ".join(problems)) if problems else ""
