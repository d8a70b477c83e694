"""What a fleet's accounts no longer hold each (issue 17): the dashboard's risk history grows
with its samples and takes a coarser step for a big fleet (each step's highest risk), and the
big identical REST tables are held once, not once per account."""

from __future__ import annotations

import math

from monitor.feed import shared_bodies
from monitor.feed.recording import RestLine
from monitor.web.history import RiskRing


def test_the_ring_grows_with_its_samples() -> None:
    ring = RiskRing(capacity=21_600)
    assert len(ring._t) == 0 and len(ring._r) == 0  # nothing allocated up front
    for t in range(10):
        ring.append(t * 1000, 0.5)
    assert len(ring._t) == 10 and ring.samples()[-1] == (9000, 0.5)
    small = RiskRing(capacity=3)
    for t in range(7):
        small.append(t, t / 10)
    assert small.samples() == [(4, 0.4), (5, 0.5), (6, 0.6)]  # then it wraps, as before


def test_a_step_keeps_each_steps_highest_risk() -> None:
    ring = RiskRing(capacity=100, step_ms=10_000)
    for t_s, risk in ((0, 0.3), (3, 0.9), (7, 0.4), (10, 0.2), (19, math.inf), (20, 0.5)):
        ring.append(t_s * 1000, risk)
    # One sample per 10 s step: the spike at 3 s survives; a step with no figure stays a gap.
    assert ring.points() == [[0, 0.9], [10_000, 0.2], [20_000, 0.5]]
    gap = RiskRing(capacity=10, step_ms=1000)
    gap.append(0, math.inf)
    gap.append(500, 0.7)
    assert gap.points() == [[0, 0.7]]


def test_equal_tables_are_held_once() -> None:
    shared_bodies.clear()
    rows = [{"symbol": f"S{i}USDT", "brackets": [{"bracket": 1, "notionalCap": 5000}]}
            for i in range(50)]
    first = RestLine(1, "GET", "/fapi/v1/leverageBracket", rows)
    second = RestLine(2, "GET", "/fapi/v1/leverageBracket", [dict(r) for r in rows])
    held = shared_bodies.shared_line("https://fapi", first)
    again = shared_bodies.shared_line("https://fapi", second)
    assert held.data is rows and again.data is rows and again.t == 2
    # A different table replaces the held one; another venue, a filtered answer, an error and
    # a per-account path are never shared.
    changed = [*rows[:-1], {"symbol": "S49USDT", "brackets": []}]
    assert shared_bodies.shared_line("https://fapi", RestLine(3, "GET", first.path,
                                                              changed)).data is changed
    other = shared_bodies.shared_line("https://other", RestLine(4, "GET", first.path, list(rows)))
    assert other.data is not rows
    one = RestLine(5, "GET", first.path, [rows[0]], {"symbol": "S0USDT"})
    assert shared_bodies.shared_line("https://fapi", one) is one
    account = RestLine(6, "GET", "/fapi/v3/account", {"assets": []})
    assert shared_bodies.shared_line("https://fapi", account) is account
    shared_bodies.clear()
