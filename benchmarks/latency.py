"""Tick-to-alert latency over loopback: the real daemon, the fake exchange, a real receiver.

One event loop runs `FakeExchange` on the bundled `usdm` recording with playback never started
(`start_on_connect` with an unreachable client count: `start_on_connect=False` would start it at
`start()`), so only the frames pushed here move marks, and the real `Daemon` on a `custom`
account pointing at it. The benchmark alternates `push_market` mark frames of BTCUSDT between
the recorded mark (risk ≈ 16 %) and a price at risk 70 %, across a warning line at 50 %
(hysteresis 0, dwell 0, rapid rule out of reach), so every upward crossing is a level alert and
every way down an all-clear. For each crossing it times, from the push (`perf_counter`):

- persisted: `Daemon.alert_hooks` (called right after the alert is in the sqlite outbox);
- dispatch start: the delivery worker calling the destination's sender (the `Sender` the
  worker holds is wrapped; the destination is an Apprise `json://` URL on loopback);
- received: the HTTP request's arrival at that receiver (its own thread);
- a breakdown: push → the daemon starts on the frame (`Daemon.latency_hook`), the outbox write
  (the daemon's `Outbox`, subclassed only to time `enqueue`), the rest of the frame's processing
  before it (decode, engine, policy, heavy figures, rendering), and persisted → dispatch.

Each crossing waits until the previous deliveries finished. Delivery is the daemon's own
`Outbox` + `DeliveryWorker`, built here only to lift the per-destination rate limit (1 message/s,
burst 3 — a politeness limit, not latency: a crossing after a quiet spell finds a full bucket).

Peer baseline: a loop polling REST every 5 s sees a crossing at uniform random phase after
U(0, 5 s) plus one REST round trip; the round trip is measured here against the same fake's
`/fapi/v3/account` (signed, through the project's `RestClient`), and the distribution is the
exact convolution of the uniform phase (1,000 phases) with the measured samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.quantiles import quantile, summary_ms
from benchmarks.receiver import JsonReceiver
from benchmarks.usdm_snapshot import mark_text
from monitor import examples
from monitor.alerts.destinations import (
    build_destinations,
    build_routes,
    settings_of,
    targets_of,
)
from monitor.alerts.levels import AlertIntent, AlertKind
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox
from monitor.alerts.sender import Sender, SendResult
from monitor.alerts.worker import DeliveryWorker, WorkerConfig
from monitor.binance.endpoints import endpoints_for
from monitor.binance.rest import RestClient
from monitor.config import Config, load_config
from monitor.core.step import TimedAlert
from monitor.engine.book import Book
from monitor.service.daemon import OUTBOX_NAME, Daemon, DaemonOptions
from monitor.sim.server import FakeExchange

API_KEY = "bench-key-4Kd9Wq2Zr7"
API_SECRET = "bench-secret-Pz5Lx8Vn3Tb6"
SYMBOL = "BTCUSDT"
WARNING, CRITICAL, EMERGENCY = 0.50, 0.90, 0.97
HIGH_RISK = 0.70
POLL_S = 5.0
TARGET_P99_MS = 2.0
STEP_TIMEOUT_S = 15.0


class Probe:
    """Timestamps of persisted alerts and of dispatches; wakes the benchmark on each."""

    def __init__(self) -> None:
        self.persisted: list[tuple[float, AlertKind]] = []
        self.dispatched: list[tuple[float, str]] = []
        self.completed = 0
        self.frames: list[tuple[float, float]] = []  # (processing start, seconds)
        self.writes: list[tuple[AlertKind, float]] = []  # outbox enqueue (kind, seconds)
        self.changed = asyncio.Event()

    def on_frame(self, seconds: float) -> None:
        """`Daemon.latency_hook`: a market frame was processed in `seconds` (ending now)."""
        self.frames.append((time.perf_counter() - seconds, seconds))

    def on_alert(self, timed: TimedAlert) -> None:
        self.persisted.append((time.perf_counter(), timed.intent.kind))
        self.changed.set()

    def wrap(self, sender: Sender) -> Sender:
        return TimedSender(sender, self)


class TimedOutbox(Outbox):
    """The daemon's outbox, timing each `enqueue` (the sqlite transaction, fsync included)."""

    def __init__(self, path: Path, probe: Probe) -> None:
        super().__init__(path)
        self._probe = probe

    def enqueue(self, intent: AlertIntent, message: RenderedAlert, dest_ids: Iterable[str]) -> bool:
        start = time.perf_counter()
        try:
            return super().enqueue(intent, message, dest_ids)
        finally:
            self._probe.writes.append((intent.kind, time.perf_counter() - start))


class TimedSender:
    """A `Sender` that notes when the worker starts and finishes each send."""

    def __init__(self, inner: Sender, probe: Probe) -> None:
        self._inner = inner
        self._probe = probe

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult:
        probe = self._probe
        probe.dispatched.append((time.perf_counter(), message.subject))
        try:
            return await self._inner.send(message, key=key)
        finally:
            probe.completed += 1
            probe.changed.set()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _config(directory: Path, fake: FakeExchange, sink_url: str) -> Config:
    path = directory / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "bench"
environment = "custom"
rest = "{fake.rest_url}"
ws = "{fake.ws_url}"
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"

[[notify]]
url = "{sink_url}"

[alerts]
levels = [{WARNING}, {CRITICAL}, {EMERGENCY}]
hysteresis = 0.0
dwell_s = 0
rapid_rise = 1.0
stale_after_s = 3600

[state]
dir = "{directory / 'state'}"
""",
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    return load_config(path)


def _frame(symbol: str, price: float) -> dict[str, Any]:
    now = int(time.time() * 1000)
    frame: dict[str, Any] = json.loads(mark_text(symbol, price, now))
    return frame


def price_for_risk(book: Book, symbol: str, risk: float) -> float:
    """The `symbol` mark (below the current one) at which the account's risk is `risk`."""
    state = book.state

    def risk_at(price: float) -> float:
        trial = Book(copy.deepcopy(state))
        trial.on_mark(symbol, price)
        return trial.risk

    high, low = state.marks[symbol], state.marks[symbol] * 0.5
    if not risk_at(high) < risk < risk_at(low):
        raise RuntimeError(f"{symbol} between {low:g} and {high:g} does not reach risk {risk}")
    for _ in range(60):
        mid = (high + low) / 2
        if risk_at(mid) < risk:
            high = mid
        else:
            low = mid
    return (high + low) / 2


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"latency benchmark: timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _step(probe: Probe, done: Callable[[], bool], what: str) -> None:
    """Wait (event-driven) until `done()`, with a deadline."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not done():
        probe.changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"latency benchmark: timed out waiting for {what}")
        try:
            await asyncio.wait_for(probe.changed.wait(), left)
        except TimeoutError:
            continue


def poll_baseline(rest_s: list[float], period_s: float = POLL_S, phases: int = 1000) -> list[float]:
    """Every (uniform phase wait + measured REST time), sorted, in seconds."""
    waits = [(k + 0.5) / phases * period_s for k in range(phases)]
    return sorted(w + r for w in waits for r in rest_s)


async def _rest_samples(fake: FakeExchange, n: int) -> list[float]:
    client = RestClient(endpoints_for("custom", fake.rest_url, fake.ws_url), API_KEY, API_SECRET)
    samples = []
    try:
        for i in range(n + 3):
            start = time.perf_counter()
            await client.get("/fapi/v3/account")
            if i >= 3:
                samples.append(time.perf_counter() - start)
    finally:
        await client.close()
    return samples


def _is_level(subject: str) -> bool:
    """The subject of a warning level alert (`[WARNING] …`; an all-clear reads `ALL CLEAR`)."""
    return "WARNING" in subject


async def _prepare(daemon: Daemon, fake: FakeExchange) -> tuple[float, float]:
    """Wait until the daemon evaluates levels; return (safe price, price at `HIGH_RISK`)."""
    timeline = daemon.slots["bench"].runtime.core
    await _until(lambda: timeline.book is not None, "the daemon's first snapshot")
    book = timeline.book
    assert book is not None
    marks = dict(book.state.marks)
    for symbol in sorted(timeline.held_symbols):  # levels wait for every held mark

        def subscribed(symbol: str = symbol) -> bool:
            return fake.push_market(_frame(symbol, marks[symbol])) > 0

        await _until(subscribed, f"the daemon's {symbol} subscription")
    await _until(lambda: timeline.evaluating, "the policy to evaluate (user stream seen)")
    return marks[SYMBOL], price_for_risk(book, SYMBOL, HIGH_RISK)


async def _cross(
    fake: FakeExchange, probe: Probe, rx: JsonReceiver, price: float
) -> dict[str, float]:
    """Push one crossing; wait until its level alert was delivered; return its timings (s)."""
    n_persist, n_disp, n_rx = len(probe.persisted), len(probe.dispatched), rx.count()
    n_frames, n_writes = len(probe.frames), len(probe.writes)
    frame = _frame(SYMBOL, price)
    pushed = time.perf_counter()
    fake.push_market(frame)
    await _step(
        probe,
        lambda: any(k is AlertKind.LEVEL for _, k in probe.persisted[n_persist:])
        and any(_is_level(s) for _, s in probe.dispatched[n_disp:])
        and probe.completed == len(probe.dispatched),
        "the level alert",
    )
    persisted = next(t for t, k in probe.persisted[n_persist:] if k is AlertKind.LEVEL)
    j, dispatch = next(
        (j, t) for j, (t, s) in enumerate(probe.dispatched[n_disp:]) if _is_level(s)
    )
    began, seconds = probe.frames[n_frames]  # only pushed frames move: the next one is ours
    write = next(w for k, w in probe.writes[n_writes:] if k is AlertKind.LEVEL)
    out = {
        "persisted": persisted - pushed,
        "dispatch": dispatch - pushed,
        "frame_in": began - pushed,
        "before_outbox": persisted - began - write,
        "outbox_write": write,
        "persisted_to_dispatch": dispatch - persisted,
        "processing": seconds,
    }
    if n_rx + j < rx.count():
        out["received"] = rx.arrivals[n_rx + j] - pushed
    return out


async def _back_to_safety(fake: FakeExchange, probe: Probe, price: float) -> None:
    """Push the safe price; wait until the all-clear it causes was delivered."""
    n_persist, n_disp = len(probe.persisted), len(probe.dispatched)
    fake.push_market(_frame(SYMBOL, price))
    await _step(
        probe,
        lambda: len(probe.persisted) > n_persist and len(probe.dispatched) > n_disp
        and probe.completed == len(probe.dispatched),
        "the all-clear",
    )


async def _crossings(
    daemon: Daemon, fake: FakeExchange, probe: Probe, rx: JsonReceiver, n: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    safe, high = await _prepare(daemon, fake)
    samples: dict[str, list[float]] = {}
    for i in range(warmup + n):
        if i:
            await _back_to_safety(fake, probe, safe)
        await asyncio.sleep(0.001)  # let the loop settle after the all-clear's delivery
        timings = await _cross(fake, probe, rx, high)
        if i >= warmup:
            for key, value in timings.items():
                samples.setdefault(key, []).append(value)
    return samples, {"safe_price": safe, "high_price": high}


async def _session(n: int, warmup: int, rest_n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mw-bench-") as tmp, JsonReceiver() as rx:
        fake = FakeExchange.from_file(
            examples.path("usdm"), api_key=API_KEY, api_secret=API_SECRET,
            start_on_connect=True, start_after_clients=1_000_000_000,  # playback never starts
        )
        await fake.start()
        try:
            config = _config(Path(tmp), fake, rx.url)
            state_dir = Path(config.state.dir)
            state_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - set-up, not timed
            probe = Probe()
            outbox = TimedOutbox(state_dir / OUTBOX_NAME, probe)
            routes = [
                (d, probe.wrap(sender))
                for d, sender in build_routes(
                    build_destinations(targets_of(config)), settings_of(config)
                )
            ]
            worker = DeliveryWorker(outbox, routes, WorkerConfig(rate_per_s=1e9, burst=1e9))
            daemon = Daemon(config, DaemonOptions(deliver=False))
            daemon.outbox, daemon.worker = outbox, worker
            daemon.alert_hooks.append(probe.on_alert)
            daemon.latency_hook = probe.on_frame
            delivery = asyncio.create_task(worker.run(), name="bench delivery")
            try:
                await daemon.start()
                samples, prices = await _crossings(daemon, fake, probe, rx, n, warmup)
                rest = await _rest_samples(fake, rest_n)
            finally:
                await daemon.stop()
                delivery.cancel()
                await asyncio.gather(delivery, return_exceptions=True)
        finally:
            await fake.stop()
    poll = poll_baseline(rest)
    dispatch = summary_ms(samples["dispatch"])
    baseline = {
        "p50_ms": quantile(poll, 0.5) * 1000.0,
        "p99_ms": quantile(poll, 0.99) * 1000.0,
        "rest_p50_ms": summary_ms(rest)["p50_ms"],
        "rest_samples": len(rest),
        "poll_period_s": POLL_S,
    }
    return {
        "crossings": len(samples["dispatch"]),
        "persisted": summary_ms(samples["persisted"]),
        "dispatch_start": dispatch,
        "received": summary_ms(samples["received"]) if "received" in samples else None,
        "breakdown": {
            key: summary_ms(samples[key])
            for key in ("frame_in", "before_outbox", "outbox_write", "persisted_to_dispatch",
                        "processing")
        },
        "baseline_rest_poll_5s": baseline,
        "ratio": {
            "p50": baseline["p50_ms"] / dispatch["p50_ms"],
            "p99": baseline["p99_ms"] / dispatch["p99_ms"],
        },
        "target_p99_dispatch_ms": TARGET_P99_MS,
        "met": dispatch["p99_ms"] <= TARGET_P99_MS,
        **prices,
    }


@contextlib.contextmanager
def _quiet(name: str = "monitor") -> Iterator[None]:
    """The daemon's lifecycle warnings (streams closing at stop) stay out of the table."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def measure(crossings: int, warmup: int = 10, rest_samples: int = 100) -> dict[str, Any]:
    with _quiet():
        return asyncio.run(_session(crossings, warmup, rest_samples))


def run(quick: bool) -> dict[str, Any]:
    return measure(200, 10, 50) if quick else measure(1000, 20, 200)


def table(result: dict[str, Any]) -> list[str]:
    lines = [f"{result['crossings']:,} crossings, push → …"
             f"{'p50 ms':>12}{'p99 ms':>10}{'max ms':>10}"]
    for key, label in (("persisted", "persisted (outbox)"), ("dispatch_start", "dispatch start"),
                       ("received", "received (HTTP)")):
        entry = result[key]
        if entry is not None:
            lines.append(f"  {label:<26}{entry['p50_ms']:>12.3f}{entry['p99_ms']:>10.3f}"
                         f"{entry['max_ms']:>10.3f}")
    parts = result["breakdown"]
    lines.append("  of which (p50/p99 ms): " + ", ".join(
        f"{label} {parts[key]['p50_ms']:.2f}/{parts[key]['p99_ms']:.2f}"
        for key, label in (("frame_in", "frame in"),
                           ("before_outbox", "decide+figures+render"),
                           ("outbox_write", "outbox write"),
                           ("persisted_to_dispatch", "to dispatch"))
    ))
    base = result["baseline_rest_poll_5s"]
    lines.append(f"  {'REST poll every 5 s':<26}{base['p50_ms']:>12.1f}{base['p99_ms']:>10.1f}"
                 f"{'':>10}  (REST p50 {base['rest_p50_ms']:.2f} ms)")
    verdict = "met" if result["met"] else "MISSED"
    lines.append(f"poll / push: p50 {result['ratio']['p50']:,.0f}×, p99"
                 f" {result['ratio']['p99']:,.0f}×;"
                 f" target p99 dispatch ≤ {result['target_p99_dispatch_ms']:.0f} ms: {verdict}")
    return lines
