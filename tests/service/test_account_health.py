"""Health tells the current truth (issue 19, item 6): a failed resync makes the account blind at
once, with its reason, on a real `/healthz`; a problem clears when its cause does; the
restored span is never negative.

The real daemon pipeline (config → `Daemon` → `AccountRuntime` → policy, `HealthEvaluator`,
`HttpServer` on loopback) is fed the bundled USDⓈ-M recording's REST snapshot and the feed's
own `FeedHealth` reports, on a settable clock.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from monitor import examples
from monitor.alerts.policy_events import Seen
from monitor.config import load_config
from monitor.core.health import WAITING_FOR_BUDGET, FeedHealth, HealthKind, ResyncReason
from monitor.core.step import TimedAlert
from monitor.feed.recording import RestLine, read_recording
from monitor.service.account import AccountRuntime
from monitor.service.daemon import Daemon
from monitor.service.health import HealthEvaluator, LoopLagProbe
from monitor.service.http import HttpServer
from monitor.service.metrics import Metrics
from tests.test_config import KEY_ENV, SECRET_ENV, config_text, dummy, write

S = 1000
META, LINES = read_recording(examples.path("usdm"))
SNAPSHOT = [line for line in LINES if isinstance(line, RestLine)]
T0 = max(line.t for line in SNAPSHOT)


@dataclass
class Clock:
    t: int = T0

    def __call__(self) -> int:
        return self.t


@dataclass
class Rig:
    clock: Clock
    daemon: Daemon
    base: str
    session: aiohttp.ClientSession
    alerts: list[TimedAlert] = field(default_factory=list)

    @property
    def runtime(self) -> AccountRuntime:
        return self.daemon.slots["main"].runtime

    def snapshot(self, reason: str, t: int | None = None) -> None:
        shift = (self.clock.t if t is None else t) - T0
        lines = [RestLine(line.t + shift, line.method, line.path, line.data, line.params,
                          line.status) for line in SNAPSHOT]
        self.runtime.rest_group(lines, reason, ResyncReason.OTHER)

    def all_fresh(self) -> None:
        """Every watched source delivers now (marks, user stream)."""
        policy = self.runtime.core._policy
        for source in policy.last_seen:
            policy.seen(source, self.clock.t)

    def tick(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.t += S
            self.runtime.tick(self.clock.t)

    def report(self, kind: str, detail: str) -> None:
        self.runtime.health(FeedHealth(HealthKind(kind), "rest", detail, self.clock.t))

    async def healthz(self) -> tuple[int, list[str]]:
        async with self.session.get(f"{self.base}/healthz") as resp:
            body = await resp.json()
            return resp.status, body["problems"]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    env = {KEY_ENV: dummy(), SECRET_ENV: dummy()}
    config = load_config(write(tmp_path, config_text(account='mode = "usdm"')), env)
    clock = Clock()
    daemon = Daemon(config, now_ms=clock)
    evaluator = HealthEvaluator(daemon.freshness, probe=LoopLagProbe(0.01), startup_grace_s=0)
    evaluator.start()
    server = HttpServer(
        "127.0.0.1", 0, health=evaluator.evaluate, status=lambda: {}, metrics=Metrics()
    )
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            rig = Rig(clock, daemon, f"http://127.0.0.1:{server.bound_port}", session)
            daemon.alert_hooks.append(rig.alerts.append)
            rig.snapshot("start-up snapshot")
            rig.all_fresh()
            yield rig
    finally:
        await server.stop()
        await evaluator.stop()


async def test_rest_priority_is_the_last_risk_and_unknown_goes_first(rig: Rig) -> None:
    rig.tick(2)
    known = rig.runtime.rest_priority()
    assert known == rig.runtime.risk and 0.0 < known < 1.0
    fresh = AccountRuntime(META, rig.runtime.core.config, on_alert=rig.alerts.append)  # no risk
    assert fresh.rest_priority() == float("inf") > known


async def test_live_account_is_healthy(rig: Rig) -> None:
    assert rig.runtime.state(rig.clock.t) == "live"
    assert await rig.healthz() == (200, [])


async def test_failed_resync_is_blind_at_once_with_its_reason(rig: Rig) -> None:
    """Before: /healthz said 200 for the ~31 s until the sources went stale."""
    rig.report("resync_failed", "user stream reconnected: HTTP 503 from /fapi/v3/account")
    assert rig.runtime.state(rig.clock.t) == "blind"
    status, problems = await rig.healthz()
    assert status == 503
    assert problems == [
        "account main: blind: resync failed: user stream reconnected: HTTP 503"
        " from /fapi/v3/account"
    ]
    assert rig.daemon.status()[0]["state"] == "blind"


async def test_a_landed_resync_clears_the_failure(rig: Rig) -> None:
    rig.report("resync_failed", "user stream reconnected: timed out")
    rig.tick(2)
    rig.snapshot("user stream reconnected")
    rig.report("resync", "user stream reconnected")
    rig.all_fresh()
    assert rig.runtime.last_error is None
    assert rig.daemon.status()[0]["last_error"] is None
    assert await rig.healthz() == (200, [])


async def test_a_stale_error_does_not_stand_in_for_a_new_cause(rig: Rig) -> None:
    """A resync fails, then lands; later the marks go silent: the problem names the silence,
    not the resync that failed minutes ago."""
    rig.report("resync_failed", "user stream reconnected: timed out")
    rig.snapshot("user stream reconnected")
    rig.report("resync", "user stream reconnected")
    rig.all_fresh()
    rig.tick(20)  # nothing arrives: the 15 s staleness limit passes
    status, problems = await rig.healthz()
    assert status == 503
    [problem] = problems
    assert "resync failed" not in problem and "timed out" not in problem
    assert re.match(r"account main: blind: no fresh data for over 15 s: ", problem)
    assert "mark:" in problem


async def test_a_failed_poll_clears_when_a_poll_succeeds(rig: Rig) -> None:
    rig.report("rest_error", "/fapi/v3/account: HTTP 502")
    assert rig.runtime.last_error == "/fapi/v3/account: HTTP 502"
    assert rig.runtime.state(rig.clock.t) == "live"  # a failed poll alone is not blindness
    rig.snapshot("reconciliation")
    assert rig.runtime.last_error is None


async def test_a_stopped_feed_clears_with_the_next_snapshot(rig: Rig) -> None:
    rig.runtime.last_error = "ConnectionResetError: peer reset"  # what the daemon's supervisor sets
    assert rig.runtime.last_error == "ConnectionResetError: peer reset"
    rig.snapshot("start-up snapshot")
    assert rig.runtime.last_error is None


async def test_restored_after_a_late_snapshot_is_never_negative(rig: Rig) -> None:
    """The REST group that ends a blind spell may carry times from before the blind start (it
    was fetched across it): RESTORED said "blind for -47 s"."""
    rig.tick(20)
    blind = [a.intent for a in rig.alerts if a.intent.kind == "blind"]
    assert len(blind) == 1
    rig.snapshot("user stream reconnected", t=blind[0].t_ms - 47 * S)
    policy = rig.runtime.core._policy
    for source in policy.last_seen:
        policy.seen(source, blind[0].t_ms - 47 * S)
    restored = [a.intent for a in rig.alerts if a.intent.kind == "restored"]
    assert restored, [a.intent.kind for a in rig.alerts]
    for intent in restored:
        span = re.match(r"blind for (-?\d+) s", intent.detail)
        assert span and int(span.group(1)) >= 0, intent.detail
        assert intent.t_ms >= blind[0].t_ms


async def test_a_failed_resync_sends_the_blind_alert_at_once(rig: Rig) -> None:
    """The BLIND alert itself (not only /healthz) fires at the failure, naming it; the resync
    that lands restores sight."""
    rig.report("resync_failed", "user stream reconnected: HTTP 503 from /fapi/v3/account")
    blind = [a.intent for a in rig.alerts if a.intent.kind == "blind"]
    assert len(blind) == 1
    assert blind[0].t_ms == rig.clock.t  # at the failure, not 15 s later
    assert blind[0].detail == (
        "user_stream: resync failed: user stream reconnected: HTTP 503 from /fapi/v3/account"
    )
    rig.report("resync_failed", "user stream reconnected: timed out")  # still blind: no repeat
    assert len([a for a in rig.alerts if a.intent.kind == "blind"]) == 1
    rig.tick(2)
    rig.snapshot("user stream reconnected")
    rig.report("resync", "user stream reconnected")
    timeline = rig.runtime.core
    after = [
        timed.intent
        for source in timeline.last_seen
        for timed in timeline.observe(Seen(source), rig.clock.t).alerts
    ]
    assert [i.kind for i in after] == ["restored"]
    assert after[0].detail.startswith("blind for 2 s")


async def test_a_resync_waiting_for_the_rest_budget_is_blind_with_that_reason(rig: Rig) -> None:
    """A resync queued behind the shared REST weight budget: blind at once, saying why, in
    /healthz, /status and the blind alert, until the resync runs and lands."""
    rig.report("resync_queued", WAITING_FOR_BUDGET)
    assert rig.runtime.state(rig.clock.t) == "blind"
    assert await rig.healthz() == (503, ["account main: blind: waiting for REST budget"])
    doc = rig.daemon.status()[0]
    assert (doc["state"], doc["last_error"]) == ("blind", "waiting for REST budget")
    blind = [a.intent for a in rig.alerts if a.intent.kind == "blind"]
    assert [i.detail for i in blind] == ["user_stream: waiting for REST budget"]
    rig.tick(2)
    rig.snapshot("user stream reconnected")
    rig.report("resync", "user stream reconnected")
    rig.all_fresh()
    assert rig.runtime.last_error is None
    assert await rig.healthz() == (200, [])


async def test_a_failed_resync_replaces_the_budget_wait(rig: Rig) -> None:
    rig.report("resync_queued", WAITING_FOR_BUDGET)
    rig.report("resync_failed", "drift from the exchange's figures: timed out")
    assert rig.runtime.last_error == "resync failed: drift from the exchange's figures: timed out"
