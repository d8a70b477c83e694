"""Bracket lookup and MM continuity, with Binance's published maintenance amounts."""

from __future__ import annotations

import pytest

from monitor.engine.brackets import Bracket, BracketTable

# USDⓈ-M example tiers (margin-math §0.2): level 3 cum = 250,000 × (1 % − 0.5 %) + 50 = 1,300.
UM = BracketTable(
    [
        Bracket(0, 10_000, 0.004, 0),
        Bracket(10_000, 250_000, 0.005, 10),
        Bracket(250_000, 1_000_000, 0.01, 1_260),
    ]
)


def test_published_cum_rule_for_level_three() -> None:
    assert 250_000 * (0.01 - 0.005) + 50 == 1_300
    # our level 2 cum is 10 (= 10,000 × 0.1 %), so level 3 = 250,000 × 0.5 % + 10 = 1,260
    assert UM.continuity_gaps() == []


def test_lookup_picks_the_tier_whose_floor_is_below() -> None:
    assert UM.index(0) == 0
    assert UM.index(9_999.99) == 0
    assert UM.index(10_000) == 1
    assert UM.index(300_000) == 2
    assert UM.index(5e9) == 2  # beyond the last cap: the last tier still applies


def test_mm_is_continuous_at_every_boundary() -> None:
    for floor in (10_000, 250_000):
        below, above = UM.maint_margin(floor - 1e-6), UM.maint_margin(floor)
        assert above == pytest.approx(below, abs=1e-6)


def test_mm_values() -> None:
    assert UM.maint_margin(5_000) == pytest.approx(20.0)
    assert UM.maint_margin(100_000) == pytest.approx(100_000 * 0.005 - 10)
    assert UM.maint_margin(400_000) == pytest.approx(400_000 * 0.01 - 1_260)


def test_coinm_published_level_five_cum() -> None:
    """COIN-M BTCUSD level 5: 50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC (margin-math §0.2)."""
    table = BracketTable([Bracket(0, 50, 0.025, 0.56), Bracket(50, 100, 0.05, 1.81)])
    assert table.maint_margin(50) == pytest.approx(50 * 0.05 - 1.81)
    assert pytest.approx(1.81) == 50 * (0.05 - 0.025) + 0.56


def test_discontinuous_table_is_reported() -> None:
    bad = BracketTable([Bracket(0, 100, 0.01, 0), Bracket(100, 1e9, 0.02, 0)])
    assert bad.continuity_gaps() == [(1, pytest.approx(1.0))]


def test_unsorted_input_is_sorted() -> None:
    table = BracketTable(list(reversed(UM.brackets)))
    assert table.floors == [0, 10_000, 250_000]
