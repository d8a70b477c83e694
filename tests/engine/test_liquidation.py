"""Liquidation prices and distance to liquidation against hand-computed vectors.

Every expected value is written out from Binance's formula (margin-math.md §1.2, §2, §4.2) or
derived by hand from the piecewise-linear health function (§6), never taken from the engine.
"""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine.brackets import Bracket, BracketTable
from monitor.engine.collateral import CollateralTier, CollateralTiers
from monitor.engine.contracts import maint_margin
from monitor.engine.liquidation import (
    Distance,
    distance,
    distance_scan,
    distances,
    held_underlyings,
    liquidation_price,
    liquidation_prices,
)
from monitor.engine.model import AccountState, Contract, ContractKind, Mode, Position
from monitor.engine.risk import RiskSnapshot
from monitor.engine.valuation import Move, evaluate
from tests.budgets import examples
from tests.engine.strategies import PRICE, bracket_tables, collateral_tiers

REL = 1e-9

#: USDⓈ-M tiers with Binance's cum rule: cum_k = floor_k·(mmr_k − mmr_{k−1}) + cum_{k−1}.
#: 50,000·(0.5 % − 0.4 %) + 0 = 50; 250,000·(1 % − 0.5 %) + 50 = 1,300 (Binance's published
#: level-3 figure); 1,000,000·(2.5 % − 1 %) + 1,300 = 16,300.
UM_TIERS = BracketTable(
    [
        Bracket(0.0, 50_000.0, 0.004, 0.0),
        Bracket(50_000.0, 250_000.0, 0.005, 50.0),
        Bracket(250_000.0, 1_000_000.0, 0.01, 1_300.0),
        Bracket(1_000_000.0, math.inf, 0.025, 16_300.0),
    ]
)

#: COIN-M tiers in BTC: 5·(0.5 % − 0.4 %) = 0.005; 10·(1 % − 0.5 %) + 0.005 = 0.055.
CM_TIERS = BracketTable(
    [
        Bracket(0.0, 5.0, 0.004, 0.0),
        Bracket(5.0, 10.0, 0.005, 0.005),
        Bracket(10.0, math.inf, 0.01, 0.055),
    ]
)


def linear(symbol: str, base: str, table: BracketTable, settle: str = "USDT") -> Contract:
    return Contract(symbol, ContractKind.LINEAR, settle, base, table)


def inverse(symbol: str, base: str, table: BracketTable, size: float) -> Contract:
    return Contract(symbol, ContractKind.INVERSE, base, base, table, size, "CM")


def hold(state: AccountState, contract: Contract, mark: float, *legs: Position) -> None:
    state.contracts[contract.symbol] = contract
    state.marks[contract.symbol] = mark
    for leg in legs:
        state.positions[leg.key] = leg


def pool_risk_at(state: AccountState, symbol: str, price: float, pool: str) -> float:
    """Risk of `pool` with only `symbol`'s mark set to `price` (everything else frozen)."""
    moved = state.copy()
    moved.marks[symbol] = price
    return next(p.risk for p in evaluate(moved).pools if p.key == pool)


def pool_of(snap: RiskSnapshot, key: str) -> float:
    return next(p.risk for p in snap.pools if p.key == key)


# ---------------------------------------------------------------------------------------------
# USDⓈ-M cross and isolated


def test_one_way_cross_lp_uses_other_contracts_mm_and_upnl() -> None:
    state = AccountState(Mode.USDM)
    state.asset("USDT").cross_wallet = 5_000.0
    hold(state, linear("BTCUSDT", "BTC", UM_TIERS), 29_000.0,
         Position("BTCUSDT", "BOTH", 1.0, 30_000.0))
    hold(state, linear("ETHUSDT", "ETH", BracketTable.flat(0.01)), 2_100.0,
         Position("ETHUSDT", "BOTH", -10.0, 2_000.0))
    hold(state, linear("SOLUSDT", "SOL", BracketTable.flat(0.01)), 90.0,
         Position("SOLUSDT", "BOTH", 100.0, 100.0, isolated=True, isolated_wallet=2_000.0))
    # TMM1 = 10·2100·1 % = 210; UPNL1 = −10·(2100 − 2000) = −1000; the isolated SOL leg is out.
    wb, tmm1, upnl1 = D(5000), D(10) * D(2100) * D("0.01"), D(-10) * (D(2100) - D(2000))
    # LP = (WB − TMM1 + UPNL1 + cumB − Side·Pos·EP) / (Pos·MMR_B − Side·Pos), tier 1 (26k < 50k)
    want = (wb - tmm1 + upnl1 + 0 - 1 * D(1) * D(30000)) / (D(1) * D("0.004") - 1 * D(1))
    got = liquidation_price(state, "BTCUSDT", "BOTH")
    assert got is not None
    assert math.isclose(got, float(want), rel_tol=REL)  # 26,315.26…
    snap = evaluate(state, Move(got / 29_000.0, "BTC"))
    assert math.isclose(pool_of(snap, "USDT"), 1.0, rel_tol=REL)
    # The isolated SOL long: (iw + cum − Pos·EP) / (Pos·MMR − Pos) = (2000 − 10000) / (1 − 100).
    sol = liquidation_prices(state)[("SOLUSDT", "BOTH")]
    assert sol is not None and math.isclose(sol, -8_000.0 / -99.0, rel_tol=REL)


def test_hedge_cross_lp_repicks_the_bracket_at_the_liquidation_price() -> None:
    state = AccountState(Mode.USDM)
    state.asset("USDT").cross_wallet = 30_000.0
    hold(state, linear("BTCUSDT", "BTC", UM_TIERS), 30_000.0,
         Position("BTCUSDT", "LONG", 10.0, 30_000.0), Position("BTCUSDT", "SHORT", -4.0, 32_000.0))
    # Now: LONG notional 300,000 (tier 3: 1 %, cum 1,300); SHORT 120,000 (tier 2: 0.5 %, cum 50).
    wb = D(30000)
    fixed_ep = -D(10) * D(30000) + D(4) * D(32000)  # − Pos_L·EP_L + Pos_S·EP_S
    naive = (wb + D(1300) + D(50) + fixed_ep) / (D(10) * D("0.01") + D(4) * D("0.005") - 10 + 4)
    # naive = 23,920.07 → LONG notional 239,201 < 250,000: tier 2 at the LP. Recompute:
    repicked = (wb + D(50) + D(50) + fixed_ep) / (D(10) * D("0.005") + D(4) * D("0.005") - 10 + 4)
    assert D(10) * naive < 250_000 and D(10) * repicked < 250_000 and D(4) * repicked > 50_000
    long_lp = liquidation_price(state, "BTCUSDT", "LONG")
    short_lp = liquidation_price(state, "BTCUSDT", "SHORT")
    assert long_lp is not None and long_lp == short_lp  # cross hedge legs share one price
    assert math.isclose(long_lp, float(repicked), rel_tol=REL)  # 23,929.17…
    assert not math.isclose(long_lp, float(naive), rel_tol=1e-6)
    snap = evaluate(state, Move(long_lp / 30_000.0, "BTC"))
    assert math.isclose(pool_of(snap, "USDT"), 1.0, rel_tol=REL)


def test_isolated_long_and_short() -> None:
    state = AccountState(Mode.USDM)
    state.asset("USDT").cross_wallet = 10.0
    hold(state, linear("BTCUSDT", "BTC", UM_TIERS), 20_500.0,
         Position("BTCUSDT", "BOTH", 0.5, 20_000.0, isolated=True, isolated_wallet=1_000.0))
    hold(state, linear("ETHUSDT", "ETH", BracketTable.flat(0.005)), 1_950.0,
         Position("ETHUSDT", "BOTH", -10.0, 2_000.0, isolated=True, isolated_wallet=2_000.0))
    hold(state, linear("SOLUSDT", "SOL", BracketTable.flat(0.01)), 100.0,
         Position("SOLUSDT", "BOTH", 50.0, 100.0))
    # LP = (iw + cum − side·|q|·EP) / (|q|·mmr − side·|q|)
    want_long = (D(1000) + 0 - D("0.5") * D(20000)) / (D("0.5") * D("0.004") - D("0.5"))
    want_short = (D(2000) + 0 + D(10) * D(2000)) / (D(10) * D("0.005") + D(10))
    lps = liquidation_prices(state)
    got_long, got_short = lps[("BTCUSDT", "BOTH")], lps[("ETHUSDT", "BOTH")]
    assert got_long is not None and math.isclose(got_long, float(want_long), rel_tol=REL)
    assert got_short is not None and math.isclose(got_short, float(want_short), rel_tol=REL)
    assert math.isclose(pool_risk_at(state, "BTCUSDT", got_long, "BTCUSDT:BOTH"), 1.0, rel_tol=REL)
    assert math.isclose(pool_risk_at(state, "ETHUSDT", got_short, "ETHUSDT:BOTH"), 1.0, rel_tol=REL)


def test_lp_is_none_where_binance_shows_dashes() -> None:
    state = AccountState(Mode.USDM)
    state.asset("USDT").cross_wallet = 1_000_000.0
    hold(state, linear("BTCUSDT", "BTC", UM_TIERS), 30_000.0,
         Position("BTCUSDT", "BOTH", 1.0, 30_000.0))
    # (1,000,000 − 30,000) / (0.004 − 1) < 0 in every tier combination: no liquidation price.
    assert liquidation_price(state, "BTCUSDT", "BOTH") is None
    assert liquidation_price(state, "BTCUSDT", "LONG") is None  # no such leg


# ---------------------------------------------------------------------------------------------
# COIN-M


def test_coinm_contract_size_100_matches_binance_mm_example() -> None:
    contract = inverse("BTCUSD_PERP", "BTC", CM_TIERS, 100.0)
    # margin-math §4.1: 100 contracts at 25,000 → 100·100/25,000 = 0.4 BTC, MM = 0.4·0.4 % = 0.0016
    assert math.isclose(maint_margin(contract, 100.0, 25_000.0), 0.0016, rel_tol=REL)


def test_coinm_cross_per_coin_and_isolated() -> None:
    state = AccountState(Mode.COINM)
    state.asset("BTC").cross_wallet = 0.1
    state.asset("ETH").cross_wallet = 0.001
    hold(state, inverse("BTCUSD_PERP", "BTC", CM_TIERS, 100.0), 25_000.0,
         Position("BTCUSD_PERP", "BOTH", 100.0, 25_000.0))
    hold(state, inverse("BTCUSD_240628", "BTC", BracketTable.flat(0.005), 100.0), 25_500.0,
         Position("BTCUSD_240628", "BOTH", -50.0, 26_000.0))
    hold(state, inverse("ETHUSD_PERP", "ETH", BracketTable.flat(0.005), 10.0), 2_000.0,
         Position("ETHUSD_PERP", "BOTH", -20.0, 2_000.0, isolated=True, isolated_wallet=0.05))
    # Other BTC-margined contract: TMM1 = 50·100/25,500·0.5 %, UPNL1 = −50·100·(1/26,000 − 1/25,500)
    tmm1 = D(50) * D(100) / D(25500) * D("0.005")
    upnl1 = D(-50) * D(100) * (1 / D(26000) - 1 / D(25500))
    # LP = (B·MMR_B + Side·B) / ((WB − TMM1 + UPNL1 + cum_B)/CS + Side·B/EP_B), tier 1
    want = (D(100) * D("0.004") + D(100)) / (
        (D("0.1") - tmm1 + upnl1 + 0) / D(100) + D(100) / D(25000)
    )
    got = liquidation_price(state, "BTCUSD_PERP", "BOTH")
    assert got is not None and math.isclose(got, float(want), rel_tol=REL)  # 19,971.…
    assert 100 * 100 / got < 5.0  # tier 1 at the LP
    assert math.isclose(pool_risk_at(state, "BTCUSD_PERP", got, "BTC"), 1.0, rel_tol=REL)
    # Isolated short, 20 contracts of 10 USD: (S·MMR − S) / ((iw + cum)/CS − S/EP)
    want_eth = (D(20) * D("0.005") - D(20)) / ((D("0.05") + 0) / D(10) - D(20) / D(2000))
    got_eth = liquidation_price(state, "ETHUSD_PERP", "BOTH")
    assert got_eth is not None and math.isclose(got_eth, float(want_eth), rel_tol=REL)  # 3,980
    assert math.isclose(
        pool_risk_at(state, "ETHUSD_PERP", got_eth, "ETHUSD_PERP:BOTH"), 1.0, rel_tol=REL
    )


def test_coinm_short_covered_by_its_coin_has_no_lp() -> None:
    state = AccountState(Mode.COINM)
    state.asset("BTC").cross_wallet = 1.0
    hold(state, inverse("BTCUSD_PERP", "BTC", CM_TIERS, 100.0), 25_000.0,
         Position("BTCUSD_PERP", "BOTH", -100.0, 25_000.0))
    # 100·(0.004 − 1) / (1 + 0 − 100·100/25,000) < 0: a 0.4 BTC short on 1 BTC never liquidates.
    assert liquidation_price(state, "BTCUSD_PERP", "BOTH") is None


# ---------------------------------------------------------------------------------------------
# Multi-Assets: the FAQ seed example (margin-math §3.3, scenario 3)


def seed_multi_assets() -> AccountState:
    state = AccountState(Mode.USDM_MULTI_ASSETS)
    usdt = state.asset("USDT")
    usdt.cross_wallet, usdt.bid_rate, usdt.ask_rate = 200.0, 0.9801, 0.99495
    state.asset("BUSD").cross_wallet = 220.0
    hold(state, linear("BTCUSDT", "BTC", BracketTable.flat(0.008)), 19_000.0,
         Position("BTCUSDT", "BOTH", 0.5, 20_000.0))
    hold(state, linear("ETHBUSD", "ETH", BracketTable.flat(0.01), "BUSD"), 620.0,
         Position("ETHBUSD", "BOTH", 20.0, 600.0))
    return state


def test_multi_assets_seed_uniform_distance() -> None:
    state = seed_multi_assets()
    # Both marks ×s. USDT equity 200 + 0.5·(19,000s − 20,000) = 9,500s − 9,800 (< 0 for
    # s < 1.0316: valued at ask 0.99495); BUSD 220 + 20·(620s − 600) = 12,400s − 11,780 (> 0 for
    # s > 0.95: at 1). MM = 0.5·19,000s·0.8 %·0.99495 + 20·620s·1 % = 199.6162s. On that piece
    # equity − MM = (9,500·0.99495 + 12,400 − 199.6162)s − (9,800·0.99495 + 11,780).
    slope = D(9500) * D("0.99495") + D(12400) - D("199.6162")
    const = D(9800) * D("0.99495") + D(11780)
    root = const / slope
    assert D("0.95") < root < D("1.0316")
    got = distance(state)
    assert got.up is None  # equity rises faster than MM above s = 1, on both pieces
    assert got.down is not None and math.isclose(got.down, float(root - 1), rel_tol=REL)
    assert math.isclose(evaluate(state, Move(1 + got.down)).risk, 1.0, rel_tol=REL)
    # At an alert level: 0.85·equity − MM = 0
    alert = D("0.85") * const / (D("0.85") * (slope + D("199.6162")) - D("199.6162"))
    at_85 = distance(state, threshold_risk=0.85)
    assert at_85.down is not None and math.isclose(at_85.down, float(alert - 1), rel_tol=REL)
    scan = distance_scan(state)
    assert scan.down is not None and math.isclose(scan.down, got.down, rel_tol=1e-9)


def test_multi_assets_lp_is_the_single_symbol_root() -> None:
    state = seed_multi_assets()
    # BTCUSDT alone ×s: USDT −ve at ask: 0.99495·(9,500s − 9,800) + 620 − (75.6162s + 124) = 0
    btc_s = (D("0.99495") * D(9800) - 620 + 124) / (D("0.99495") * D(9500) - D("75.6162"))
    # ETHBUSD alone ×s: −298.485 + (12,400s − 11,780) − (75.6162 + 124s) = 0
    eth_s = (D("298.485") + D(11780) + D("75.6162")) / (D(12400) - D(124))
    lps = liquidation_prices(state)
    assert math.isclose(lps[("BTCUSDT", "BOTH")] or 0.0, float(19_000 * btc_s), rel_tol=REL)
    assert math.isclose(lps[("ETHBUSD", "BOTH")] or 0.0, float(620 * eth_s), rel_tol=REL)
    report = distances(state)
    assert set(report["by_underlying"]) == {"BTC", "ETH"} == held_underlyings(state)
    assert math.isclose(report["by_underlying"]["BTC"].down or 0.0, float(btc_s - 1), rel_tol=REL)
    assert report["nearest_underlying"] == "ETH"  # −0.99 % beats −1.30 %
    assert report["uniform"] == distance(state)


# ---------------------------------------------------------------------------------------------
# Portfolio Margin: a hedged book whose health is not monotonic


def hedged_pm_book() -> AccountState:
    """10 BTC spot collateral (95 % up to 250k USD, 80 % above), short 9 BTCUSDT, 247k USDT loan."""
    state = AccountState(Mode.PORTFOLIO_MARGIN)
    btc = state.asset("BTC")
    btc.margin_free, btc.index_price = 10.0, 30_000.0
    btc.collateral = CollateralTiers(
        [CollateralTier(0.0, 250_000.0, 0.95), CollateralTier(250_000.0, math.inf, 0.8)]
    )
    state.asset("USDT").borrowed = 247_000.0
    state.margin_leverage = 3  # loan MMR 10 %
    hold(state, linear("BTCUSDT", "BTC", BracketTable.flat(0.005)), 30_000.0,
         Position("BTCUSDT", "BOTH", -9.0, 30_000.0))
    return state


def test_pm_hedged_book_nearest_root_is_up_and_health_is_not_monotonic() -> None:
    state = hedged_pm_book()
    # BTC value 300,000s: collateral 0.95·V below V = 250,000 (s < 5/6), 0.8·V + 37,500 above.
    # USDT: −247,000 − 9·(30,000s − 30,000) (negative on the whole range: 100 %).
    # MM = 9·30,000s·0.5 % + 247,000·10 % = 1,350s + 24,700; threshold 1.05.
    # s > 5/6: equity = 60,500 − 30,000s, health = 34,565 − 31,417.5s
    # s < 5/6: equity = 23,000 + 15,000s, health = −2,935 + 13,582.5s
    up = D(34565) / D("31417.5")
    down = D(2935) / D("13582.5")
    got = distance(state)
    assert got.up is not None and math.isclose(got.up, float(up - 1), rel_tol=REL)  # +10.02 %
    assert got.down is not None and math.isclose(got.down, float(down - 1), rel_tol=REL)
    assert got.nearest == got.up  # long spot, yet the nearer liquidation is a rise
    risks = [evaluate(state, Move(s)).risk for s in (0.3, 0.6, 5 / 6, 1.0, 1.05)]
    assert risks[0] > risks[1] > risks[2] < risks[3] < risks[4]  # falls, then rises
    for x in (got.up, got.down):
        assert math.isclose(evaluate(state, Move(1 + x)).risk, 1.0, rel_tol=REL)
    scan = distance_scan(state)
    assert scan.up is not None and scan.down is not None
    assert math.isclose(scan.up, got.up, rel_tol=1e-9)
    assert math.isclose(scan.down, got.down, rel_tol=1e-9)
    # Single underlying = the uniform move here (BTC is the only non-stable price).
    assert distance(state, "BTC") == got


def test_already_over_threshold_reports_zero() -> None:
    state = hedged_pm_book()
    # risk now = 1.05·26,050 / 30,500 = 0.8968… ≥ 0.85
    assert distance(state, threshold_risk=0.85) == Distance(0.0, 0.0)
    assert distance_scan(state, threshold_risk=0.85) == Distance(0.0, 0.0)


def test_pm_alert_level_roots_on_both_sides() -> None:
    state = hedged_pm_book()
    # At alert level 0.95: 0.95·equity − 1.05·MM. Below s = 5/6 it is
    # 0.95·(23,000 + 15,000s) − 1.05·(1,350s + 24,700) = −4,085 + 12,832.5s; above,
    # 0.95·(60,500 − 30,000s) − 1.05·(…) = 31,540 − 29,917.5s; at s = 1: 1,622.5 > 0.
    got = distance(state, threshold_risk=0.95)
    assert got.up is not None
    assert math.isclose(got.up, float(D(31540) / D("29917.5") - 1), rel_tol=REL)
    assert got.down is not None
    assert math.isclose(got.down, float(D(4085) / D("12832.5") - 1), rel_tol=REL)


def test_two_roots_on_one_side_the_walk_takes_the_nearer() -> None:
    # With Binance's shapes (falling collateral rates, rising MMRs, bid ≤ ask) every pool's
    # health is concave in s, so one root per side. The walk does not rely on that: a rising
    # collateral schedule (50 % up to 400k USD, 100 % above) makes it convex at s = 4/3.
    state = AccountState(Mode.PORTFOLIO_MARGIN)
    btc = state.asset("BTC")
    btc.margin_free, btc.index_price = 10.0, 30_000.0
    btc.collateral = CollateralTiers(
        [CollateralTier(0.0, 400_000.0, 0.5), CollateralTier(400_000.0, math.inf, 1.0)]
    )
    state.asset("USDT").um_wallet = -140_000.0
    hold(state, linear("BTCUSDT", "BTC", BracketTable.flat(0.005)), 30_000.0,
         Position("BTCUSDT", "BOTH", -7.0, 30_000.0))
    # BTC value 300,000s → 150,000s below s = 4/3, 300,000s − 200,000 above.
    # USDT: −140,000 − 7·(30,000s − 30,000) = 70,000 − 210,000s.  MM = 1,050s; threshold 1.05.
    # s < 4/3: health = 70,000 − 61,102.5s (root 1.1456); s > 4/3: −130,000 + 88,897.5s (1.4624)
    first = D(70000) / D("61102.5")
    assert D(70000) - D("61102.5") * D(4) / 3 < 0 < D(-130000) + D("88897.5") * D("1.9")
    got = distance(state)
    assert got.down is None
    assert got.up is not None and math.isclose(got.up, float(first - 1), rel_tol=REL)
    assert evaluate(state, Move(1.8)).risk < 1.0 < evaluate(state, Move(1.3)).risk
    scan = distance_scan(state)
    assert scan.down is None and math.isclose(scan.up or 0.0, got.up, rel_tol=1e-9)


# ---------------------------------------------------------------------------------------------
# Properties: exact walk == dense bisection; risk == threshold at every returned distance


@st.composite
def small_books(draw: st.DrawFn) -> AccountState:
    """1–4 legs in one mode, leverage between ~1.5x and ~100x, random tiers with continuous cum."""
    mode = draw(st.sampled_from(list(Mode)))
    state = AccountState(mode)
    for _ in range(draw(st.integers(1, 4))):
        base = draw(st.sampled_from(sorted(PRICE)))
        coin = mode is Mode.COINM or (mode is Mode.PORTFOLIO_MARGIN and draw(st.booleans()))
        if coin:
            size_usd = 100.0 if base == "BTC" else 10.0
            contract = inverse(f"{base}USD_PERP", base, draw(bracket_tables(scale=5.0)), size_usd)
        else:
            settle = draw(st.sampled_from(["USDT", "USDC"]))
            contract = linear(f"{base}{settle}", base, draw(bracket_tables(scale=1e5)), settle)
        contract = state.contracts.setdefault(contract.symbol, contract)
        mark = state.marks.setdefault(contract.symbol, PRICE[base] * draw(st.floats(0.8, 1.2)))
        side = draw(st.sampled_from(["BOTH", "LONG", "SHORT"]))
        usd = draw(st.floats(1e3, 1e6))
        sign = {"LONG": 1.0, "SHORT": -1.0}.get(side) or draw(st.sampled_from([1.0, -1.0]))
        qty = sign * (usd / mark if not coin else max(1.0, round(usd / contract.contract_size)))
        settle_price = PRICE.get(contract.settle_asset, 1.0)
        isolated = mode in (Mode.USDM, Mode.COINM) and draw(st.booleans())
        wallet = usd * draw(st.floats(0.01, 0.7)) / settle_price
        state.positions[(contract.symbol, side)] = Position(
            contract.symbol, side, qty, mark * draw(st.floats(0.9, 1.1)), isolated,
            wallet if isolated else 0.0,
        )
        if not isolated:
            _fund(draw, state, contract.settle_asset, wallet)
    return state


def _fund(draw: st.DrawFn, state: AccountState, asset: str, amount: float) -> None:
    rec = state.asset(asset)
    price = PRICE.get(asset, 1.0)
    if state.mode is Mode.PORTFOLIO_MARGIN:
        rec.index_price = price
        rec.collateral = draw(collateral_tiers())
        collateral = state.asset(draw(st.sampled_from(["BTC", "ETH", "USDT"])))
        collateral.index_price = PRICE.get(collateral.asset, 1.0)
        extra_usd = amount * price * draw(st.floats(0.0, 2.0))
        collateral.margin_free += extra_usd / collateral.index_price
        rec.borrowed += amount * draw(st.floats(0.0, 0.5))
        rec.margin_free += amount
    else:
        rec.cross_wallet += amount
        if state.mode is Mode.USDM_MULTI_ASSETS:
            rec.bid_rate = price * draw(st.floats(0.9, 1.0))
            rec.ask_rate = price * draw(st.floats(1.0, 1.05))


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_books(), st.sampled_from([1.0, 0.85, 0.5]), st.data())
def test_exact_walk_equals_dense_bisection(
    state: AccountState, threshold: float, data: st.DataObject
) -> None:
    underlying = data.draw(st.sampled_from([None, *sorted(held_underlyings(state))]))
    exact = distance(state, underlying, threshold)
    scan = distance_scan(state, underlying, threshold, steps=1500)
    for got, want in ((exact.down, scan.down), (exact.up, scan.up)):
        assert (got is None) == (want is None), (exact, scan)
        if got is None or want is None:
            continue
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (exact, scan)
        if got != 0.0:
            risk = evaluate(state, Move(1.0 + got, underlying)).risk
            assert math.isclose(risk, threshold, rel_tol=1e-7), (got, risk)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_books())
def test_closed_form_lp_is_the_nearest_price_at_risk_one(state: AccountState) -> None:
    """At the LP its pool's risk is 1; between the mark and the LP (and, with no LP, anywhere
    on a ×0.01…×100 grid) a pool that is safe now stays below 1."""
    if state.mode not in (Mode.USDM, Mode.COINM):
        state.mode = Mode.COINM if state.mode is Mode.PORTFOLIO_MARGIN else Mode.USDM
        keep = ContractKind.INVERSE if state.mode is Mode.COINM else ContractKind.LINEAR
        state.positions = {
            k: p for k, p in state.positions.items() if state.contracts[p.symbol].kind is keep
        }
    for (symbol, side), lp in liquidation_prices(state).items():
        pos = state.positions[(symbol, side)]
        pool = f"{symbol}:{side}" if pos.isolated else state.contracts[symbol].settle_asset
        mark = state.marks[symbol]
        if lp is not None:
            assert math.isclose(pool_risk_at(state, symbol, lp, pool), 1.0, rel_tol=1e-8)
        if pool_risk_at(state, symbol, mark, pool) >= 1.0:
            continue
        path = [mark + (lp - mark) * i / 50 for i in range(1, 50)] if lp else [
            mark * 10 ** (i / 10) for i in range(-20, 21)
        ]
        assert all(pool_risk_at(state, symbol, p, pool) < 1.0 for p in path)


def test_coinm_cross_lp_matches_binance_calculator() -> None:
    """dev.binance.vision thread 6292 (margin-math [F1]): wallet 101 BTC, long 100,000 BTCUSD
    contracts (CS 100) @ 45,000 → Binance's calculator shows 33,599.40. The formula of §4.2
    gives it with the current table's 12.5 % tier and maintenance amount 11.605 BTC (the FAQ's
    newer figure; the older 11.81 gives the thread author's 33,578.86)."""
    floors = [0, 5, 10, 20, 50, 100, 200, 400]
    mmrs = [0.004, 0.005, 0.01, 0.025, 0.05, 0.10, 0.125, 0.15]
    tiers, cum = [], 0.0
    for k, floor in enumerate(floors):
        if k:
            cum += floor * (mmrs[k] - mmrs[k - 1])
        cap = floors[k + 1] if k + 1 < len(floors) else 1e9
        tiers.append(Bracket(floor, cap, mmrs[k], cum))
    assert tiers[6].cum == pytest.approx(11.605)
    state = AccountState(Mode.COINM)
    state.contracts["BTCUSD_PERP"] = Contract(
        "BTCUSD_PERP", ContractKind.INVERSE, "BTC", "BTC", BracketTable(tiers), 100.0, "CM"
    )
    state.asset("BTC").cross_wallet = 101.0
    state.positions[("BTCUSD_PERP", "BOTH")] = Position("BTCUSD_PERP", "BOTH", 100_000, 45_000.0)
    state.marks["BTCUSD_PERP"] = 45_000.0
    lp = liquidation_price(state, "BTCUSD_PERP", "BOTH")
    assert lp is not None
    assert round(lp, 1) == 33_599.4  # the UI rounds to the 0.1 tick


def _binance_published_example(isolated: bool) -> AccountState:
    """Binance's one-way example (liquidation-price FAQ [B2], as transcribed in freqtrade's
    `test_liquidation_price_binance` "From calc example" and ChartSniper): wallet 1,535,443.01
    USDT; ETHUSDT long 3,683.979 @ 1,456.84 (mark 1,335.18, mmr 10 %, cum 135,365); BTCUSDT long
    109.488 @ 32,481.98 (mark 31,967.27, mmr 2.5 %, cum 16,300)."""
    state = AccountState(Mode.USDM)
    legs = (
        ("ETHUSDT", "ETH", 3_683.979, 1_456.84, 1_335.18, 0.10, 135_365.0),
        ("BTCUSDT", "BTC", 109.488, 32_481.98, 31_967.27, 0.025, 16_300.0),
    )
    for symbol, base, qty, entry, mark, mmr, cum in legs:
        table = BracketTable([Bracket(0.0, 1e12, mmr, cum)])
        state.contracts[symbol] = Contract(symbol, ContractKind.LINEAR, "USDT", base, table)
        state.positions[(symbol, "BOTH")] = Position(
            symbol, "BOTH", qty, entry, isolated, 1_535_443.01 if isolated else 0.0
        )
        state.marks[symbol] = mark
    state.asset("USDT").cross_wallet = 0.0 if isolated else 1_535_443.01
    return state


@pytest.mark.parametrize(("symbol", "expected"), [("ETHUSDT", 1_153.26), ("BTCUSDT", 26_316.89)])
def test_usdm_cross_lp_matches_binance_published_example(symbol: str, expected: float) -> None:
    lp = liquidation_price(_binance_published_example(isolated=False), symbol, "BOTH")
    assert lp is not None and round(lp, 2) == expected


@pytest.mark.parametrize(("symbol", "expected"), [("ETHUSDT", 1_114.78), ("BTCUSDT", 18_778.73)])
def test_usdm_isolated_lp_matches_binance_published_example(symbol: str, expected: float) -> None:
    lp = liquidation_price(_binance_published_example(isolated=True), symbol, "BOTH")
    assert lp is not None and round(lp, 2) == expected
