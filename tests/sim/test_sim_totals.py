"""The fake exchange's own account totals (`monitor/sim/ledger_totals.py`) against Binance's
published worked examples (docs/margin-math.md), not against the engine.

The bodies are built with `monitor.sim.wire`; every expected figure is written out from the
example it comes from.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from monitor.sim.ledger_totals import Tier as TotalsTier
from monitor.sim.ledger_totals import collateral_value, maint_margin, patch_totals, pm_figures
from monitor.sim.wire.brackets import cm_brackets, tiers, um_brackets
from monitor.sim.wire.coinm import (
    CmLeg,
    cm_account,
    cm_exchange_info,
    cm_position_risk_row,
    cm_symbol,
)
from monitor.sim.wire.usdm import (
    UmLeg,
    asset_index_row,
    um_account_v3,
    um_exchange_info,
    um_position_risk_row,
    um_symbol,
)

D = Decimal


def _multi_assets_bodies(btc: str, eth: str) -> dict[str, Any]:
    """margin-math.md §3.3 ([B1]): 200 USDT + 220 BUSD; BTCUSDT long 0.5 @ 20,000 (mmr 0.8 %),
    ETHBUSD long 20 @ 600 (mmr 1 %); USDTUSD bid 0.9801 / ask 0.99495, BUSDUSD 1 / 1."""
    btc_table, eth_table = tiers([("0", "1e6", "0.008", 100)]), tiers([("0", "1e6", "0.01", 50)])
    legs = [
        UmLeg("BTCUSDT", "BOTH", D("0.5"), D("20000"), 100, btc_table, "USDT"),
        UmLeg("ETHBUSD", "BOTH", D("20"), D("600"), 50, eth_table, "BUSD"),
    ]
    marks = {"BTCUSDT": D(btc), "ETHBUSD": D(eth)}
    wallets = {"USDT": D(200), "BUSD": D(220)}
    symbols = [
        um_symbol("BTCUSDT", "BTC", "USDT", "USDT"),
        um_symbol("ETHBUSD", "ETH", "BUSD", "BUSD"),
    ]
    return {
        "/fapi/v1/exchangeInfo": um_exchange_info(0, ["USDT", "BUSD"], symbols),
        "/fapi/v1/leverageBracket": [
            um_brackets("BTCUSDT", btc_table),
            um_brackets("ETHBUSD", eth_table),
        ],
        "/fapi/v3/positionRisk": [um_position_risk_row(g, marks[g.symbol], 0.0, 0) for g in legs],
        # a stale account: the totals must come from the positions, not from here
        "/fapi/v3/account": um_account_v3(legs, {s: D(1) for s in marks}, wallets, None, 0),
        "/fapi/v1/assetIndex": [
            asset_index_row("USDTUSD", 0, ("0.99", "0.01", "0.005", "0.98010000", "0.99495000")),
            asset_index_row("BUSDUSD", 0, ("1", "0", "0", "1.00000000", "1.00000000")),
        ],
    }


def test_multi_assets_scenario_3_is_binances_worked_example() -> None:
    bodies = _multi_assets_bodies("19000", "620")
    assert patch_totals(bodies, "usdm_multi_assets", 3) == 1
    account = bodies["/fapi/v3/account"]
    # equity = min(−300 × 0.9801, −300 × 0.99495) + 620 = 321.515 USD
    assert account["totalMarginBalance"] == "321.51500000"
    # MM = 0.5 × 19,000 × 0.008 × 0.99495 + 20 × 620 × 0.01 = 199.6162 USD
    assert account["totalMaintMargin"] == "199.61620000"
    rows = {r["asset"]: r for r in account["assets"]}
    assert rows["USDT"]["marginBalance"] == "-300.00000000"  # asset units
    assert rows["USDT"]["maintMargin"] == "76.00000000"  # 0.5 × 19,000 × 0.008 USDT
    assert rows["BUSD"]["marginBalance"] == "620.00000000"


def test_multi_assets_scenario_2_maintenance_margin() -> None:
    bodies = _multi_assets_bodies("20000", "600")
    patch_totals(bodies, "usdm_multi_assets", 3)
    # MP = EP: MM = 0.5 × 20,000 × 0.008 × 0.99495 + 20 × 600 × 0.01 = 199.596; equity 416.02
    assert bodies["/fapi/v3/account"]["totalMaintMargin"] == "199.59600000"
    assert bodies["/fapi/v3/account"]["totalMarginBalance"] == "416.02000000"


def test_coinm_mm_is_binances_example() -> None:
    """[B3]: 100 BTCUSD contracts (CS 100) at mark 25,000 → 0.4 BTC, level 1 (0.4 %) → 0.0016."""
    table = tiers([("0", "5", "0.004", 125), ("5", "10", "0.005", 100)])
    leg = CmLeg("BTCUSD_PERP", D(100), D(25000), 20, table, "BTC", D(100))
    mark = D(25000)
    bodies: dict[str, Any] = {
        "/dapi/v1/exchangeInfo": cm_exchange_info(
            0, [cm_symbol("BTCUSD_PERP", "BTCUSD", "PERPETUAL", 0, 100, "BTC")]
        ),
        "/dapi/v2/leverageBracket": [cm_brackets("BTCUSD_PERP", table)],
        "/dapi/v1/positionRisk": [cm_position_risk_row(leg, mark, 0.0, 0)],
        "/dapi/v1/account": cm_account([leg], {"BTCUSD_PERP": D(30000)}, {"BTC": D(1)}, 0),
    }
    patch_totals(bodies, "coinm", 3)
    account = bodies["/dapi/v1/account"]
    assert account["assets"][0]["maintMargin"] == "0.00160000"
    assert account["positions"][0]["maintMargin"] == "0.00160000"
    assert account["assets"][0]["marginBalance"] == "1.00000000"  # mark = entry: no uPnL


def test_brackets_keep_binances_continuous_cum() -> None:
    """margin-math.md §0.2 ([B2]): level 3 cum = 250,000 × (1 % − 0.5 %) + 50 = 1,300."""
    table = [TotalsTier(D(0), D("0.004"), D(0)), TotalsTier(D(50000), D("0.005"), D(50)),
             TotalsTier(D(250000), D("0.01"), D(1300))]
    assert maint_margin(table, D(300000)) == D(300000) * D("0.01") - 1300
    assert maint_margin(table, D(10000)) == D(40)


def test_tiered_collateral_is_sliced_like_binances_example() -> None:
    """margin-math.md §5.3 ([B17]): 120,000,000 USD with 100 % to 100 M and 97.5 % above →
    119,500,000."""
    tiers_ = [(D(0), D(1)), (D(100_000_000), D("0.975"))]
    assert collateral_value(D(120_000_000), tiers_) == D(119_500_000)
    assert collateral_value(D(-5), tiers_) == D(-5)  # a liability counts in full


def test_pm_netting_before_the_haircut() -> None:
    """margin-math.md §5.2 ([B15]): 1 BTC in each of three wallets at 95 % → 2.85 BTC of value."""
    bodies: dict[str, Any] = {
        "/papi/v1/balance": [
            {"asset": "BTC", "crossMarginFree": "1", "crossMarginLocked": "0",
             "crossMarginBorrowed": "0", "crossMarginInterest": "0",
             "umWalletBalance": "1", "cmWalletBalance": "1"},
        ],
        "/sapi/v1/portfolio/asset-index-price": [{"asset": "BTC", "assetIndexPrice": "1"}],
        "/sapi/v1/portfolio/collateralRate": [{"asset": "BTC", "collateralRate": "0.95"}],
    }
    equity, maint = pm_figures(bodies, 3)
    assert (equity, maint) == (D("2.85"), D(0))
