"""Collateral tiers: slice-wise valuation, liabilities at 100 %."""

from __future__ import annotations

import pytest

from monitor.engine.collateral import CollateralTier, CollateralTiers


def test_cross_margin_published_slice_example() -> None:
    """Binance's haircut page: 6,000 BTC at 20,000 = 120 M USDT → 119.5 M (margin-math §5.3)."""
    tiers = CollateralTiers(
        [CollateralTier(0, 100_000_000, 1.0), CollateralTier(100_000_000, float("inf"), 0.975)]
    )
    assert tiers.value(120_000_000) == pytest.approx(119_500_000)
    assert tiers.cums == [0.0, pytest.approx(2_500_000)]


def test_value_is_continuous_at_tier_floors() -> None:
    tiers = CollateralTiers(
        [
            CollateralTier(0, 200_000, 1.0),
            CollateralTier(200_000, 400_000, 0.8),
            CollateralTier(400_000, 800_000, 0.7),
            CollateralTier(800_000, 1_000_000, 0.4),
            CollateralTier(1_000_000, float("inf"), 0.2),
        ]
    )
    for floor in (200_000, 400_000, 800_000, 1_000_000):
        assert tiers.value(floor) == pytest.approx(tiers.value(floor - 1e-6), abs=1e-5)
    # 200k·1 + 200k·0.8 + 400k·0.7 + 200k·0.4 + 500k·0.2 = 820k
    assert tiers.value(1_500_000) == pytest.approx(820_000)


def test_liabilities_are_not_haircut() -> None:
    assert CollateralTiers.flat(0.95).value(-1_000.0) == -1_000.0


def test_seed_example_three_btc_at_95_percent() -> None:
    """1 BTC each in cross margin, UM and CM wallets at CR 95 % → 2.85 BTC (seed 004)."""
    price = 30_000.0
    assert CollateralTiers.flat(0.95).value(3 * price) / price == pytest.approx(2.85)


def test_tiers_must_start_at_zero() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        CollateralTiers([CollateralTier(10, 20, 1.0)])
