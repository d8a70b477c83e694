"""The dashboard's bounded memory: the risk ring buffer, the alert log and the one-update
mailbox of a live client."""

from __future__ import annotations

import math

from monitor.web.history import AlertEntry, AlertLog, RiskRing
from monitor.web.model import Subscriber


def test_the_ring_keeps_the_last_samples_in_order() -> None:
    ring = RiskRing(capacity=5)
    for t in range(12):
        ring.append(t * 1000, t / 10)
    assert len(ring) == 5
    assert ring.samples() == [(t * 1000, t / 10) for t in range(7, 12)]
    ring.append(3000, 9.9)  # the clock went backwards: ignored
    assert ring.samples()[-1] == (11000, 1.1)


def test_downsampling_keeps_every_bucket_peak() -> None:
    ring = RiskRing(capacity=10_000)
    for t in range(10_000):
        ring.append(t, 0.5 + (0.4 if t == 4321 else 0.0))
    points = ring.points(max_points=100)
    assert len(points) == 100
    assert max(r for _, r in points) == 0.9  # a one-sample spike survives
    assert [t for t, _ in points] == sorted(t for t, _ in points)


def test_no_maintenance_margin_is_a_gap_not_a_number() -> None:
    ring = RiskRing(capacity=3)
    ring.append(1, math.inf)
    ring.append(2, 0.3)
    assert ring.points() == [[1, None], [2, 0.3]]


def test_the_alert_log_is_bounded() -> None:
    log = AlertLog(capacity=3)
    for t in range(10):
        log.add(AlertEntry(t, "level", "warning", 0.7, ""))
    assert [e["t"] for e in log.entries()] == [7, 8, 9]


async def test_a_slow_client_holds_one_update_and_counts_the_dropped() -> None:
    sub = Subscriber()
    for k in range(1000):
        sub.offer(f"update {k}".encode())
    assert sub.dropped == 999
    assert await sub.wait(0.1) == b"update 999"
    assert await sub.wait(0.01) is None  # nothing new: a keep-alive is due
    sub.close()
    sub.offer(b"late")
    assert await sub.wait(1.0) is None
