"""Deposit, cut and withdrawable amounts against hand-computed vectors.

Expected values are written out from the pool formulas (margin-math.md §1.1, §2, §3.2, §5.2,
§5.4); each is then applied to a copy of the account and the resulting risk checked.
"""

from __future__ import annotations

import math
from decimal import Decimal as D

from monitor.engine.brackets import BracketTable
from monitor.engine.collateral import CollateralTier, CollateralTiers
from monitor.engine.model import AccountState, Mode, Position
from monitor.engine.restore import Cut, Deposit, cut_to_target, deposit_to_target, max_withdrawable
from monitor.engine.valuation import evaluate
from tests.engine.test_liquidation import UM_TIERS, hedged_pm_book, hold, linear, seed_multi_assets

REL = 1e-9


def cross_book() -> AccountState:
    """USDT cross: BTC long 10 @ 31,000 (mark 30,000, tier 3), ETH short 10 @ 2,000 (flat 1 %)."""
    state = AccountState(Mode.USDM)
    state.asset("USDT").cross_wallet = 13_000.0
    hold(state, linear("BTCUSDT", "BTC", UM_TIERS), 30_000.0,
         Position("BTCUSDT", "BOTH", 10.0, 31_000.0))
    hold(state, linear("ETHUSDT", "ETH", BracketTable.flat(0.01)), 2_000.0,
         Position("ETHUSDT", "BOTH", -10.0, 2_000.0))
    return state


# equity = 13,000 + 10·(30,000 − 31,000) = 3,000; MM = 300,000·1 % − 1,300 + 20,000·1 % = 1,900
CROSS_EQUITY, CROSS_MM = D(3000), D(300000) * D("0.01") - D(1300) + D(20000) * D("0.01")


def test_deposit_futures_cross_is_linear() -> None:
    state = cross_book()
    want = CROSS_MM / D("0.5") - CROSS_EQUITY  # 3,800 − 3,000 = 800 USDT
    got = deposit_to_target(state, 0.5)
    assert got.asset == "USDT" and got.pool == "USDT"
    assert math.isclose(got.amount, float(want), rel_tol=REL)
    state.asset("USDT").cross_wallet += got.amount
    assert math.isclose(evaluate(state).risk, 0.5, rel_tol=REL)
    assert deposit_to_target(state, 0.9) == Deposit("USDT", 0.0, "USDT")


def test_deposit_isolated_leg_adds_isolated_margin() -> None:
    state = cross_book()
    state.asset("USDT").cross_wallet = 100_000.0
    hold(state, linear("SOLUSDT", "SOL", BracketTable.flat(0.02)), 90.0,
         Position("SOLUSDT", "BOTH", 100.0, 100.0, isolated=True, isolated_wallet=1_100.0))
    # isolated equity 1,100 − 1,000 = 100; MM 9,000·2 % = 180 → need 180/0.5 − 100 = 260
    got = deposit_to_target(state, 0.5)
    assert got == Deposit("USDT", 260.0, "SOLUSDT:BOTH")
    state.positions[("SOLUSDT", "BOTH")].isolated_wallet += got.amount
    assert math.isclose(evaluate(state).risk, 0.5, rel_tol=REL)


def test_deposit_multi_assets_pays_off_negative_usdt_at_ask() -> None:
    state = seed_multi_assets()
    # equity 321.515, MM 199.6162 USD; need equity 399.2324. USDT equity −300 (valued −298.485
    # at ask); −298.485 + 77.7174 = −220.7676 USD is still negative → USDT −220.7676/0.99495.
    value = D("-298.485") + (D("199.6162") / D("0.5") - D("321.515"))
    want = value / D("0.99495") + 300
    got = deposit_to_target(state, 0.5)
    assert got.asset == "USDT" and math.isclose(got.amount, float(want), rel_tol=REL)
    state.asset("USDT").cross_wallet += got.amount
    assert math.isclose(evaluate(state).risk, 0.5, rel_tol=REL)


def test_deposit_multi_assets_positive_usdt_at_bid() -> None:
    state = seed_multi_assets()
    state.asset("USDT").cross_wallet = 600.0  # USDT equity 100 > 0
    # equity = 100·0.9801 + 620 = 718.01; need 199.6162/0.2 = 998.081 → 280.071 USD at bid
    want = (D("199.6162") / D("0.2") - (100 * D("0.9801") + 620)) / D("0.9801")
    got = deposit_to_target(state, 0.2)
    assert math.isclose(got.amount, float(want), rel_tol=REL)


def test_deposit_portfolio_margin_uses_tiered_usdt_collateral() -> None:
    state = AccountState(Mode.PORTFOLIO_MARGIN)
    usdt = state.asset("USDT")
    usdt.margin_free = 150_000.0
    usdt.collateral = CollateralTiers(
        [CollateralTier(0.0, 100_000.0, 1.0), CollateralTier(100_000.0, math.inf, 0.8)]
    )
    hold(state, linear("BTCUSDT", "BTC", BracketTable.flat(0.2)), 30_000.0,
         Position("BTCUSDT", "BOTH", 10.0, 30_000.0))
    # equity = 100,000 + 50,000·0.8 = 140,000; MM = 60,000; risk = 1.05·60,000/140,000 = 0.45
    # target 0.3: equity 210,000 → 70,000 more collateral value at 80 % = 87,500 USDT
    got = deposit_to_target(state, 0.3)
    assert got == Deposit("USDT", 87_500.0, "USD")
    usdt.margin_free += got.amount
    assert math.isclose(evaluate(state).risk, 0.3, rel_tol=REL)


def test_deposit_portfolio_margin_hedged_book() -> None:
    state = hedged_pm_book()
    # equity 30,500, MM 26,050: need 1.05·26,050/0.5 − 30,500 = 24,205 USD; USDT is −247,000,
    # stays negative (100 %): 24,205 USDT.
    got = deposit_to_target(state, 0.5)
    assert math.isclose(got.amount, 24_205.0, rel_tol=REL)


def test_cut_lands_in_a_lower_bracket() -> None:
    state = cross_book()
    # risk 1,900/3,000. Target 0.3 → pool MM 900 → BTC MM 900 − 200 = 700. Tier 3 starts at
    # MM 250,000·1 % − 1,300 = 1,200 > 700, so tier 2: notional (700 + 50)/0.5 % = 150,000.
    btc_mm = D("0.3") * CROSS_EQUITY - D(200)
    keep = (btc_mm + D(50)) / D("0.005") / D(300000)
    got = cut_to_target(state, 0.3)
    assert got is not None and (got.symbol, got.side, got.sufficient) == ("BTCUSDT", "BOTH", True)
    assert math.isclose(got.fraction, float(1 - keep), rel_tol=REL)  # 0.5
    leg = state.positions[("BTCUSDT", "BOTH")]
    state.asset("USDT").cross_wallet += got.fraction * leg.qty * (30_000.0 - leg.entry_price)
    leg.qty *= 1.0 - got.fraction
    assert math.isclose(evaluate(state).risk, 0.3, rel_tol=REL)


def test_cut_not_enough_and_not_needed() -> None:
    state = cross_book()
    # target 0.05 → pool MM 150 < ETH's 200 alone: closing all BTC is not enough
    assert cut_to_target(state, 0.05) == Cut("BTCUSDT", "BOTH", 1.0, False)
    assert cut_to_target(state, 0.9) == Cut("BTCUSDT", "BOTH", 0.0, True)


def test_cut_multi_assets_values_mm_at_ask() -> None:
    state = seed_multi_assets()
    # ETH MM 124 USD > BTC 75.6162. Target 0.5: pool MM 160.7575 → ETH 85.1413 → notional
    # 8,514.13 of 12,400.
    eth_mm = D("0.5") * D("321.515") - D("75.6162")
    want = 1 - eth_mm / D("0.01") / D(12400)
    got = cut_to_target(state, 0.5)
    assert got is not None and got.symbol == "ETHBUSD"
    assert math.isclose(got.fraction, float(want), rel_tol=REL)


def test_max_withdrawable_single_asset_keeps_risk_at_most_one() -> None:
    state = cross_book()
    # cross wallet + min(uPnL, 0) − MM = 13,000 − 10,000 − 1,900 = 1,100 USDT
    got = max_withdrawable(state)
    assert math.isclose(got, 1_100.0, rel_tol=REL)
    state.asset("USDT").cross_wallet -= got
    assert math.isclose(evaluate(state).risk, 1.0, rel_tol=REL)
    profit = cross_book()
    profit.marks["BTCUSDT"] = 32_000.0  # uPnL +10,000 is not withdrawable
    want = D(13000) - (D(320000) * D("0.01") - D(1300) + D(200))
    assert math.isclose(max_withdrawable(profit), float(want), rel_tol=REL)
    assert max_withdrawable(profit, "USDC") == 0.0


def test_max_withdrawable_multi_assets_and_pm() -> None:
    ma = seed_multi_assets()
    # wallet 200·0.9801 + 220 = 416.02 USD, equity 321.515 → min − MM = 321.515 − 199.6162
    assert math.isclose(max_withdrawable(ma), 121.8988, rel_tol=REL)
    assert math.isclose(max_withdrawable(ma, "BUSD"), 121.8988, rel_tol=REL)
    assert max_withdrawable(ma, "USDT") == 121.8988 / 0.9801
    pm = hedged_pm_book()
    # 30,500 − 1.2·26,050 < 0
    assert max_withdrawable(pm) == 0.0
    pm.asset("USDT").margin_free = 10_000.0
    assert math.isclose(max_withdrawable(pm), 40_500.0 - 1.2 * 26_050.0, rel_tol=REL)
