"""The health verdict and the systemd watchdog loop (monitor/service/health.py).

Freshness comes from a plain callable; loop lag from a real probe task on the test's loop (the
loop is blocked with time.sleep to make it lag); watchdog pings arrive on a real AF_UNIX socket.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from monitor.service.health import Health, HealthEvaluator, LoopLagProbe
from monitor.service.metrics import Metrics

FAST = 0.01  # probe interval for the real-loop tests


class Accounts:
    """A settable freshness source."""

    def __init__(self) -> None:
        self.report: dict[str, tuple[bool, Sequence[str]]] = {"pm-main": (True, [])}

    def __call__(self) -> Mapping[str, tuple[bool, Sequence[str]]]:
        return self.report


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


@pytest.fixture
async def evaluator() -> AsyncIterator[tuple[HealthEvaluator, Accounts]]:
    accounts = Accounts()
    ev = HealthEvaluator(accounts, probe=LoopLagProbe(FAST), lag_threshold_s=0.2, startup_grace_s=0)
    ev.start()
    yield ev, accounts
    await ev.stop()


def pending(sock: socket.socket) -> list[bytes]:
    """Datagrams already received (non-blocking)."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096))
        except BlockingIOError:
            return out


async def eventually(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_fresh_accounts_and_a_responsive_loop_are_healthy(
    evaluator: tuple[HealthEvaluator, Accounts],
) -> None:
    ev, accounts = evaluator
    assert ev.evaluate() == Health(True, [])
    accounts.report = {"pm-main": (True, ["1 reconnect in the last hour"]), "um": (True, [])}
    assert ev.evaluate() == Health(True, ["account pm-main: 1 reconnect in the last hour"])


async def test_stale_account_is_unhealthy_with_its_problems(
    evaluator: tuple[HealthEvaluator, Accounts],
) -> None:
    ev, accounts = evaluator
    accounts.report = {
        "um": (False, []),
        "pm-main": (False, ["market stream silent 12 s", "user stream silent 40 s"]),
    }
    assert ev.evaluate() == Health(
        False,
        [
            "account pm-main: market stream silent 12 s",
            "account pm-main: user stream silent 40 s",
            "account um: data not fresh",
        ],
    )
    assert ev.evaluate().as_dict()["healthy"] is False


async def test_no_account_or_a_failing_source_is_unhealthy(
    evaluator: tuple[HealthEvaluator, Accounts], caplog: pytest.LogCaptureFixture
) -> None:
    ev, accounts = evaluator
    accounts.report = {}
    assert ev.evaluate() == Health(False, ["no account is monitored"])

    def broken() -> Mapping[str, tuple[bool, Sequence[str]]]:
        raise KeyError("boom")

    ev._freshness = broken
    assert ev.evaluate() == Health(False, ["freshness check failed: KeyError"])
    assert "freshness check failed" in caplog.text
    accounts.report = {"pm-main": None}  # type: ignore[dict-item]  # a malformed entry
    ev._freshness = accounts
    assert ev.evaluate() == Health(False, ["freshness check failed: TypeError"])


async def test_a_blocked_loop_is_unhealthy_until_it_recovers(
    evaluator: tuple[HealthEvaluator, Accounts],
) -> None:
    ev, _ = evaluator
    await eventually(lambda: ev.evaluate().healthy)
    time.sleep(0.35)  # the loop is blocked: the probe cannot run
    health = ev.evaluate()
    assert not health.healthy
    assert health.problems[0].startswith("event loop lagging")
    await eventually(lambda: ev.evaluate().healthy)


async def test_probe_measures_lag_and_reports_samples() -> None:
    seen: list[float] = []
    probe = LoopLagProbe(FAST, on_sample=seen.append)
    assert not probe.running
    probe.start()
    probe.start()  # idempotent
    await eventually(lambda: len(seen) >= 2)
    time.sleep(0.1)
    await eventually(lambda: max(seen) >= 0.05)
    await probe.stop()
    assert not probe.running


async def test_a_stopped_probe_is_unhealthy() -> None:
    ev = HealthEvaluator(Accounts(), probe=LoopLagProbe(FAST))
    assert ev.evaluate() == Health(False, ["event loop probe is not running"])


def test_lag_includes_an_overdue_wake_up() -> None:
    clock = Clock()
    probe = LoopLagProbe(0.25, clock=clock)
    assert probe.lag_s() == 0.0
    probe._due = clock.t + 0.25
    clock.t += 0.2
    assert probe.lag_s() == 0.0
    clock.t += 1.05
    assert probe.lag_s() == pytest.approx(1.0)


async def test_watchdog_pings_only_while_healthy(
    evaluator: tuple[HealthEvaluator, Accounts], notify_socket: socket.socket
) -> None:
    ev, accounts = evaluator
    assert ev.watchdog_step()
    assert pending(notify_socket) == [b"WATCHDOG=1"]
    accounts.report = {"pm-main": (False, ["user stream silent 40 s"])}
    assert not ev.watchdog_step()
    assert not ev.watchdog_step()
    assert pending(notify_socket) == []
    accounts.report = {"pm-main": (True, [])}
    assert ev.watchdog_step()
    assert pending(notify_socket) == [b"WATCHDOG=1"]


async def test_start_up_grace_pings_with_a_responsive_loop(
    notify_socket: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.service.health")
    clock = Clock()
    accounts = Accounts()
    accounts.report = {"pm-main": (False, ["starting"])}
    probe = LoopLagProbe(FAST, clock=clock)
    ev = HealthEvaluator(accounts, probe=probe, startup_grace_s=60, clock=clock)
    ev.start()
    try:
        assert ev.in_grace()
        assert not ev.evaluate().healthy  # /healthz says 503 while starting ...
        assert ev.watchdog_step()  # ... but systemd is told the process is alive
        clock.t += 61
        probe._due = clock.t + FAST  # the probe keeps its schedule on the fake clock
        assert not ev.in_grace()
        assert not ev.watchdog_step()
        assert pending(notify_socket) == [b"WATCHDOG=1"]
        assert "starting: not yet healthy" in caplog.text
        assert "unhealthy, not pinging" in caplog.text
    finally:
        await ev.stop()


async def test_run_watchdog_uses_half_of_watchdog_usec(
    evaluator: tuple[HealthEvaluator, Accounts],
    notify_socket: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ev, _ = evaluator
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # 40 ms: a ping every 20 ms
    received: list[bytes] = []
    task = asyncio.create_task(ev.run_watchdog())
    try:
        await eventually(lambda: len(received.__iadd__(pending(notify_socket))) >= 3)
    finally:
        task.cancel()
    assert set(received) == {b"WATCHDOG=1"}


async def test_run_watchdog_returns_when_systemd_has_no_watchdog(
    evaluator: tuple[HealthEvaluator, Accounts], notify_socket: socket.socket
) -> None:
    ev, _ = evaluator
    await asyncio.wait_for(ev.run_watchdog(), timeout=5)
    assert pending(notify_socket) == []


async def test_verdict_and_lag_reach_the_metrics() -> None:
    metrics = Metrics()
    accounts = Accounts()
    ev = HealthEvaluator(accounts, metrics=metrics, startup_grace_s=0)
    ev.probe.interval_s = FAST
    ev.start()
    try:
        ev.evaluate()
        await eventually(lambda: b"marginwatch_event_loop_lag_seconds " in metrics.render())
        assert b"marginwatch_healthy 1.0" in metrics.render()
        accounts.report = {}
        ev.evaluate()
        assert b"marginwatch_healthy 0.0" in metrics.render()
    finally:
        await ev.stop()


async def test_a_problem_already_naming_its_account_is_not_prefixed_twice(
    evaluator: tuple[HealthEvaluator, Accounts],
) -> None:
    ev, accounts = evaluator
    accounts.report = {"pm-main": (False, ["account pm-main: blind: resync failed: timed out"])}
    assert ev.evaluate().problems == ["account pm-main: blind: resync failed: timed out"]



async def test_a_daemon_problem_makes_it_unhealthy() -> None:
    """A daemon-wide problem (the alert outbox cannot be written, `Daemon.daemon_problems`)
    turns `/healthz` unhealthy even with every account fresh, and names it."""
    problems: list[str] = []
    ev = HealthEvaluator(Accounts(), startup_grace_s=0, daemon_problems=lambda: problems)
    ev.probe.interval_s = FAST
    ev.start()
    try:
        await eventually(lambda: ev.evaluate().healthy)
        problems.append("alert outbox cannot be written (3 alert write(s) held): disk full")
        health = ev.evaluate()
        assert not health.healthy
        assert health.problems == problems
        problems.clear()
        assert ev.evaluate().healthy
    finally:
        await ev.stop()
