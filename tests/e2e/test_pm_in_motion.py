"""Issue 13, done means: a hedged Portfolio Margin book in motion is valued on every tick.

The recording (`pm_motion_recording.py`): long BTC collateral + USDT loan, short BTCUSDT and
BTCUSD_PERP, BTC swinging ±2 % a minute, asset index prices polled every 10 s, a loan repayment
in the middle. Risk stays around 46-51 %, far from every alert line, while pricing the BTC
collateral only at the polls would saw it by several points.

- Live: `serve` (the real daemon, HTTP API included) against `FakeExchange` playing the
  recording over loopback. `/status` is sampled every ~0.5 s and the account's risk compared
  with the exchange's own figure at that moment (`/papi/v1/account` `uniMMR`, signed REST):
  within 0.5 risk points at every sample. No level, rapid or drift alert.
- Replay: `AccountCore` over the same lines: no level, rapid or drift alert, and the risk
  series within 0.5 points of the builder's exact continuous risk at every tick.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.alerts.levels import AlertKind
from monitor.config import load_config
from monitor.core.account_core import AccountCore
from monitor.core.step import TimedAlert
from monitor.feed.live import LiveSettings
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.service.http import HttpServer
from monitor.service.runner import serve
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink
from tests.e2e.harness import API_KEY, API_SECRET, until, write_config
from tests.e2e.pm_motion_recording import DURATION_S, MotionRecording, build
from tests.sim.helpers import signed_query

#: Playback speed: the 80 s recording plays in 40 s.
SPEED = 2.0
#: 0.5 risk points, as a fraction.
TOLERANCE = 0.005
SAMPLE_EVERY_S = 0.5
FORBIDDEN = {AlertKind.LEVEL, AlertKind.RAPID, AlertKind.DRIFT}

#: Mainnet timings with the pollers scaled by the playback speed (as `marginwatch demo` does);
#: the reconciliation (drift check) every 3 s so that it runs a dozen times during playback.
SETTINGS = LiveSettings(
    asset_index_poll_s=10.0 / SPEED,
    open_loss_min_interval_s=2.0 / SPEED,
    reconcile_s=3.0,
    market_idle_s=5.0,
    user_idle_s=120.0,
    keepalive_s=30.0,
    ping_interval_s=5.0,
    ping_timeout_s=5.0,
    user_connect_wait_s=3.0,
)


@pytest.fixture(scope="module")
def motion() -> MotionRecording:
    return build()


def _pts(x: float) -> str:
    return f"{x * 100:.3f}"


def test_the_book_stays_clear_of_the_lines_but_polled_pricing_would_saw(
    motion: MotionRecording,
) -> None:
    """The recording is not vacuous: continuous risk 40-60 % and calm (no line, no rapid
    rise), while BTC valued at the 10 s polls would be off by more than a point."""
    exact = [r for _, r in motion.exact]
    assert min(exact) > 0.40 and max(exact) < 0.60, (min(exact), max(exact))
    assert max(exact) - min(exact) < 0.10
    saw = max(abs(e - p) for (_, e), (_, p) in zip(motion.exact, motion.polled, strict=True))
    assert saw > 0.01, f"the old polled pricing would saw only {_pts(saw)} points"
    swing = [float(i) for i in motion.index]
    assert max(swing) / min(swing) > 1.035  # ±2 %


@dataclass(frozen=True)
class Sample:
    t_before: float  # playback time (recording ms) of the exchange read before /status
    t_after: float
    before: float  # the exchange's risk (1.05 / uniMMR) read right before /status
    local: float  # the daemon's risk in /status
    after: float  # the exchange's risk read right after /status
    btc: str  # where the daemon's BTC collateral price comes from (/status), for the report

    @property
    def gap(self) -> float:
        return min(abs(self.local - self.before), abs(self.local - self.after))


async def _exchange_risk(session: aiohttp.ClientSession, fake: FakeExchange) -> float:
    query = signed_query([], secret=API_SECRET)
    async with session.get(
        f"{fake.rest_url}/papi/v1/account?{query}", headers={"X-MBX-APIKEY": API_KEY}
    ) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    return 1.05 / float(body["uniMMR"])


def _btc_source(account: dict[str, Any]) -> str:
    source = (account.get("collateral_prices") or {}).get("BTC")
    if not source:
        return "none"
    return f"{source['source']}, basis {source['basis']}"


def _exact_at(motion: MotionRecording, t: float) -> float:
    """The builder's continuous risk after the last ws line at or before playback time `t`."""
    k = bisect.bisect_right([line_t for line_t, _ in motion.exact], t) - 1
    return motion.exact[max(k, 0)][1]


async def test_live_risk_matches_the_exchange_at_every_sample(
    tmp_path: Path, motion: MotionRecording
) -> None:
    fake = FakeExchange(motion.meta, list(motion.lines), speed=SPEED,
                        api_key=API_KEY, api_secret=API_SECRET)
    sink = HttpSink()
    await sink.start()
    await fake.start()
    alerts: list[TimedAlert] = []
    ready: list[tuple[Daemon, HttpServer]] = []

    def on_ready(daemon: Daemon, server: HttpServer) -> None:
        # Called right after `Daemon.start()`, which only creates tasks: no line has been
        # applied yet, so no alert can precede this hook.
        daemon.alert_hooks.append(alerts.append)
        ready.append((daemon, server))

    config = load_config(write_config(tmp_path, fake.rest_url, fake.ws_url, sink.json_url(),
                                      mode="portfolio_margin"))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, DaemonOptions(live=SETTINGS), stop=stop,
                                     on_ready=on_ready))
    samples: list[Sample] = []
    started = time.monotonic()
    try:
        await until(lambda: bool(ready) or task.done(), "the daemon to start")
        assert not task.done(), task.result()
        daemon, server = ready[0]
        status_url = f"http://127.0.0.1:{server.bound_port}/status"
        await until(lambda: daemon.status()[0].get("risk") is not None, "the start-up snapshot")
        async with aiohttp.ClientSession() as session:
            while not fake.finished.is_set():
                # Sampling races, handled honestly: the exchange moves on every frame it plays
                # and the daemon applies that frame a moment later, so one exchange read can
                # never be "the same moment" as the /status read. The exchange's figure is read
                # right before and right after /status; a tick can land between the reads, so
                # the daemon's value must be within 0.5 points of either (not of a blend).
                t_before = fake.clock.now_t() or 0.0
                before = await _exchange_risk(session, fake)
                async with session.get(status_url) as resp:
                    assert resp.status == 200
                    doc = await resp.json()
                after = await _exchange_risk(session, fake)
                t_after = fake.clock.now_t() or 0.0
                account = doc["accounts"][0]
                if account.get("risk") is not None and not fake.finished.is_set():
                    samples.append(Sample(t_before, t_after, before, float(account["risk"]),
                                          after, _btc_source(account)))
                await asyncio.sleep(SAMPLE_EVERY_S)
        status = daemon.status()[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await fake.stop()
        await sink.stop()
    elapsed = time.monotonic() - started

    t0 = motion.meta.started or 0
    # Coverage: the whole swing at ~2 samples a second of wall time, both sides of the repayment.
    assert len(samples) >= 0.7 * DURATION_S / SPEED / SAMPLE_EVERY_S, (len(samples), elapsed)
    assert any(s.t_after < motion.repaid_t for s in samples)
    assert any(s.t_before > motion.repaid_t for s in samples)
    assert status["mode"] == "portfolio_margin"
    assert status["events"].get("market_decode_errors", 0) == 0

    bad = [s for s in samples if s.gap > TOLERANCE]
    problems = [
        f"  t={(s.t_before - t0) / 1000:6.2f}..{(s.t_after - t0) / 1000:6.2f} s: daemon "
        f"{_pts(s.local)} vs exchange {_pts(s.before)} / {_pts(s.after)} "
        f"(gap {_pts(s.gap)} points; exact continuous {_pts(_exact_at(motion, s.t_before))}; "
        f"daemon's BTC price: {s.btc})"
        for s in bad
    ]
    if bad:
        problems.insert(0, f"{len(bad)} of {len(samples)} samples off the exchange by more "
                           "than 0.5 points:")
    forbidden = [a.intent for a in alerts if a.intent.kind in FORBIDDEN]
    problems += [f"alert {a.kind} {a.level or ''} risk {a.risk}: {a.detail}" for a in forbidden]
    assert not problems, "\n".join(problems)


def test_replay_follows_the_continuous_risk(motion: MotionRecording) -> None:
    timeline = AccountCore(motion.meta)
    timeline.run(list(motion.lines))
    forbidden = [a.intent for a in timeline.alerts if a.intent.kind in FORBIDDEN]
    assert not forbidden, [(a.kind, a.level, a.risk, a.detail) for a in forbidden]
    assert len(timeline.risks) >= len(motion.exact)
    t0 = motion.meta.started or 0
    times = [t for t, _ in motion.exact]
    off = []
    for t, risk in timeline.risks:
        k = bisect.bisect_right(times, t) - 1
        assert k >= 0, f"a risk at {t - t0} ms, before the first frame"
        exact = motion.exact[k][1]
        if abs(risk - exact) > TOLERANCE:
            off.append(f"  t={(t - t0) / 1000:6.3f} s: replay {_pts(risk)} vs exact "
                       f"{_pts(exact)} (polled pricing {_pts(motion.polled[k][1])})")
    assert not off, (
        f"{len(off)} of {len(timeline.risks)} replayed risks off the exact continuous risk by "
        "more than 0.5 points:\n" + "\n".join(off)
    )
