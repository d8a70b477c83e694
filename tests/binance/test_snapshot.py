"""Tests for monitor/binance/decode/snapshot.py: REST responses → AccountState, per margin mode.

Responses are assembled from the real samples (tests/fixtures/samples), with symbols and
amounts changed where a scenario needs them; expected figures are computed by hand here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.binance.decode.snapshot import SnapshotError, build_state, infer_mode, rest_paths_for
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.dispatch import REST_SCHEMAS
from monitor.engine.book import Book
from monitor.engine.collateral import CollateralTier
from monitor.engine.model import ContractKind, EngineError, Mode

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def test_samples_directory_is_present() -> None:
    assert SAMPLES.is_dir(), f"sample fixtures missing: {SAMPLES}"


# ---------------------------------------------------------------------------------- builders
def um_exchange_info(*symbols: tuple[str, str, str]) -> Any:
    """exchange_info_um.json with its one symbol entry copied per (symbol, base, margin asset)."""
    info = load("exchange_info_um.json")
    template = info["symbols"][0]
    info["symbols"] = [
        {**template, "symbol": sym, "pair": sym, "baseAsset": base, "marginAsset": margin}
        for sym, base, margin in symbols
    ]
    return info


def cm_exchange_info(*symbols: tuple[str, float]) -> Any:
    info = load("exchange_info_cm.json")
    template = info["symbols"][0]
    info["symbols"] = [
        {**template, "symbol": sym, "pair": sym.split("_")[0], "contractSize": size}
        for sym, size in symbols
    ]
    return info


def um_brackets(name: str, *tables: tuple[str, list[tuple[float, float, float, float]]]) -> Any:
    """A leverage-bracket sample with its table replaced: (symbol, [(floor, cap, mmr, cum)])."""
    body = load(name)
    template = body[0]
    tier = template["brackets"][0]
    return [
        {
            **template,
            "symbol": sym,
            "brackets": [
                {
                    **tier,
                    "bracket": k + 1,
                    "notionalFloor": f,
                    "notionalCap": c,
                    "maintMarginRatio": m,
                    "cum": cum,
                }
                for k, (f, c, m, cum) in enumerate(tiers)
            ],
        }
        for sym, tiers in tables
    ]


def cm_brackets(name: str, key: str, *tables: tuple[str, float]) -> Any:
    """A COIN-M bracket sample with (symbol or pair, mmr) single-tier tables."""
    body = load(name)
    template = body[0]
    return [
        {**template, key: sym, "brackets": [{**template["brackets"][0], "maintMarginRatio": mmr}]}
        for sym, mmr in tables
    ]


def um_account(wallets: dict[str, float], sample: str = "account_v3_um.json") -> Any:
    account = load(sample)
    template = account["assets"][0]
    account["assets"] = [
        {**template, "asset": asset, "crossWalletBalance": str(w), "walletBalance": str(w)}
        for asset, w in wallets.items()
    ]
    return account


def v3_row(symbol: str, side: str, amt: str, entry: str, mark: str, **extra: str) -> Any:
    row = load("position_risk_v3_um.json")[0]
    return {
        **row,
        "symbol": symbol,
        "positionSide": side,
        "positionAmt": amt,
        "entryPrice": entry,
        "markPrice": mark,
        **extra,
    }


def v2_row(symbol: str, side: str, amt: str, entry: str, mark: str, **extra: str) -> Any:
    row = load("position_risk_v2_um_oneway.json")[0]
    return {
        **row,
        "symbol": symbol,
        "positionSide": side,
        "positionAmt": amt,
        "entryPrice": entry,
        "markPrice": mark,
        **extra,
    }


def hedge_v3_rest() -> dict[str, Any]:
    """The positionRisk v3 docs example (ADAUSDT LONG 30, COMPUSDT SHORT -1), 100 USDT cross."""
    return {
        "/fapi/v1/multiAssetsMargin": {"multiAssetsMargin": False},
        "/fapi/v1/exchangeInfo": um_exchange_info(
            ("ADAUSDT", "ADA", "USDT"), ("COMPUSDT", "COMP", "USDT"), ("BTCUSDT", "BTC", "USDT")
        ),
        "/fapi/v1/leverageBracket": um_brackets(
            "leverage_bracket_um.json",
            ("ADAUSDT", [(0, 5000, 0.0065, 0), (5000, 50000, 0.01, 17.5)]),
            ("COMPUSDT", [(0, 5000, 0.01, 0)]),
            ("BTCUSDT", [(0, 50000, 0.004, 0)]),
        ),
        "/fapi/v3/positionRisk": load("position_risk_v3_um.json"),
        "/fapi/v3/account": um_account({"USDT": 100.0}),
    }


# ---------------------------------------------------------------------------------- USDⓈ-M
def test_um_hedge_v3_positions_and_figures() -> None:
    state = build_state(hedge_v3_rest())
    assert state.mode is Mode.USDM
    ada, comp = state.positions[("ADAUSDT", "LONG")], state.positions[("COMPUSDT", "SHORT")]
    assert (ada.qty, ada.entry_price, ada.isolated) == (30.0, 0.385, False)
    assert (comp.qty, comp.entry_price) == (-1.0, 70.92841)
    assert state.marks["ADAUSDT"] == 0.4104759
    assert state.assets["USDT"].cross_wallet == 100.0
    contract = state.contracts["ADAUSDT"]
    assert (contract.kind, contract.settle_asset, contract.base_asset) == (
        ContractKind.LINEAR,
        "USDT",
        "ADA",
    )
    assert contract.brackets.floors == [0.0, 5000.0]

    snap = Book(state).snapshot()
    legs = {(leg.symbol, leg.side): leg for leg in snap.legs}
    ada_leg = legs[("ADAUSDT", "LONG")]
    # margin-math §1.4: notional 12.314277, MM 0.0800428 (mmr 0.65 %), uPnL 0.764277
    assert ada_leg.notional == pytest.approx(12.314277, rel=1e-12)
    assert ada_leg.maint_margin == pytest.approx(12.314277 * 0.0065, rel=1e-12)
    assert ada_leg.maint_margin == pytest.approx(0.0800428, abs=1e-9)  # API rounds to 8 places
    assert ada_leg.unrealized_pnl == pytest.approx(0.764277, rel=1e-12)
    comp_leg = legs[("COMPUSDT", "SHORT")]
    assert comp_leg.maint_margin == pytest.approx(0.4972023376, rel=1e-12)  # 49.72023376 × 1 %
    assert comp_leg.unrealized_pnl == pytest.approx(21.20817624, rel=1e-12)
    equity = 100.0 + 0.764277 + 21.20817624
    maint = 12.314277 * 0.0065 + 49.72023376 * 0.01
    assert snap.risk == pytest.approx(maint / equity, rel=1e-12)


def test_um_one_way_v2_isolated_with_premium_index_mark() -> None:
    rest = hedge_v3_rest()
    del rest["/fapi/v3/positionRisk"]
    rest["/fapi/v2/positionRisk"] = [
        v2_row(
            "BTCUSDT",
            "BOTH",
            "0.010",
            "11000",
            "6679.50671178",
            marginType="isolated",
            isolatedWallet="50",
            isolatedMargin="57.93",
        ),
        v2_row("ADAUSDT", "BOTH", "-100", "0.5", "0.4", marginType="cross"),
    ]
    rest["/fapi/v1/premiumIndex"] = load("premium_index_um.json")  # BTCUSDT 11793.63104562
    state = build_state(rest)
    btc = state.positions[("BTCUSDT", "BOTH")]
    assert (btc.qty, btc.isolated, btc.isolated_wallet) == (0.01, True, 50.0)
    assert state.positions[("ADAUSDT", "BOTH")].isolated is False
    assert state.positions[("ADAUSDT", "BOTH")].qty == -100.0
    assert state.marks["BTCUSDT"] == 11793.63104562  # premiumIndex wins over positionRisk

    book = Book(state)
    pools = {pool.key: pool for pool in book.snapshot().pools}
    mark = 11793.63104562
    iso_equity = 50.0 + 0.01 * (mark - 11000.0)
    assert pools["BTCUSDT:BOTH"].equity == pytest.approx(iso_equity, rel=1e-12)
    assert pools["BTCUSDT:BOTH"].risk == pytest.approx(0.01 * mark * 0.004 / iso_equity)
    cross_equity = 100.0 + (-100.0) * (0.4 - 0.5)
    assert pools["USDT"].risk == pytest.approx(100 * 0.4 * 0.0065 / cross_equity, rel=1e-12)


def test_v3_isolated_detection_and_preference_over_v2() -> None:
    rest = hedge_v3_rest()
    rest["/fapi/v3/positionRisk"] = [
        v3_row("BTCUSDT", "BOTH", "0.5", "20000", "19000", isolatedWallet="800"),
        v3_row("ADAUSDT", "BOTH", "10", "0.3", "0.4", isolatedMargin="2.5"),
        v3_row("COMPUSDT", "BOTH", "0", "0", "50"),
    ]
    rest["/fapi/v2/positionRisk"] = [v2_row("ETHUSDT", "BOTH", "1", "1000", "1000")]
    state = build_state(rest)
    assert set(state.positions) == {("BTCUSDT", "BOTH"), ("ADAUSDT", "BOTH")}
    assert state.positions[("BTCUSDT", "BOTH")].isolated_wallet == 800.0
    assert state.positions[("ADAUSDT", "BOTH")].isolated is True
    assert state.marks["COMPUSDT"] == 50.0  # zero legs are skipped, their marks kept


def test_hedge_leg_sign_comes_from_side() -> None:
    rest = hedge_v3_rest()
    rest["/fapi/v2/positionRisk"] = load("position_risk_v2_um.json")
    rest["/fapi/v2/positionRisk"][1]["positionAmt"] = "0.002"  # SHORT reported unsigned
    del rest["/fapi/v3/positionRisk"]
    state = build_state(rest)
    assert state.positions[("BTCUSDT", "LONG")].qty == 0.001
    assert state.positions[("BTCUSDT", "SHORT")].qty == -0.002


def test_v2_account_is_used_without_v3() -> None:
    rest = hedge_v3_rest()
    del rest["/fapi/v3/account"]
    rest["/fapi/v2/account"] = um_account({"USDT": 42.5, "BUSD": 1.0}, "account_v2_um.json")
    state = build_state(rest)
    assert state.assets["USDT"].cross_wallet == 42.5
    assert state.assets["BUSD"].cross_wallet == 1.0


# ---------------------------------------------------------------------------------- Multi-Assets
def multi_assets_rest() -> dict[str, Any]:
    """margin-math §3.3 seed: 200 USDT + 220 BUSD; BTCUSDT 0.5 @ 20,000; ETHBUSD 20 @ 600."""
    index = load("asset_index_um_rest.json")[0]
    return {
        "/fapi/v1/multiAssetsMargin": load("multi_assets_margin_um.json"),
        "/fapi/v1/exchangeInfo": um_exchange_info(
            ("BTCUSDT", "BTC", "USDT"), ("ETHBUSD", "ETH", "BUSD")
        ),
        "/fapi/v1/leverageBracket": um_brackets(
            "leverage_bracket_um.json",
            ("BTCUSDT", [(0, 50000, 0.008, 0)]),
            ("ETHBUSD", [(0, 50000, 0.01, 0)]),
        ),
        "/fapi/v3/positionRisk": [
            v3_row("BTCUSDT", "BOTH", "0.5", "20000", "19000"),
            v3_row("ETHBUSD", "BOTH", "20", "600", "620"),
        ],
        "/fapi/v3/account": um_account(
            {"USDT": 200.0, "BUSD": 220.0}, "account_v3_um_multi_assets.json"
        ),
        "/fapi/v1/assetIndex": [
            {
                **index,
                "symbol": "USDTUSD",
                "index": "0.99",
                "bidRate": "0.9801",
                "askRate": "0.99495",
            },
            {**index, "symbol": "ADAUSD"},
        ],
    }


def test_multi_assets_seed_example() -> None:
    state = build_state(multi_assets_rest())
    assert state.mode is Mode.USDM_MULTI_ASSETS
    usdt, busd = state.assets["USDT"], state.assets["BUSD"]
    assert (usdt.bid_rate, usdt.ask_rate) == (0.9801, 0.99495)
    assert (busd.bid_rate, busd.ask_rate) == (1.0, 1.0)  # USD-pegged, not in the index
    assert state.assets["ADA"].bid_rate == 1.73661633
    snap = Book(state).snapshot()
    (pool,) = snap.pools
    assert pool.equity == pytest.approx(321.515, rel=1e-12)
    assert pool.maint_margin == pytest.approx(199.6162, rel=1e-12)
    assert snap.risk == pytest.approx(0.6208612351, rel=1e-9)


def test_multi_assets_missing_rate_is_an_error() -> None:
    rest = multi_assets_rest()
    rest["/fapi/v3/account"] = um_account({"USDT": 200.0, "BUSD": 220.0, "BNB": 1.0})
    with pytest.raises(SnapshotError, match=r"/fapi/v1/assetIndex has no bid/ask rate .* BNB"):
        build_state(rest)


def test_multi_assets_rate_of_zero_for_a_held_asset_is_an_error() -> None:
    """A zero (or implausible) rate is no rate: a held asset needs a usable one."""
    rest = multi_assets_rest()
    rest["/fapi/v3/account"] = um_account({"USDT": 200.0, "BUSD": 220.0, "ADA": 1.0})
    rest["/fapi/v1/assetIndex"] = [
        {**row, "bidRate": "0"} if row["symbol"] == "ADAUSD" else row
        for row in rest["/fapi/v1/assetIndex"]
    ]
    with pytest.raises(SnapshotError, match=r"/fapi/v1/assetIndex has no bid/ask rate .* ADA"):
        build_state(rest)


@pytest.mark.parametrize("mark", ["1e300", "5e-324", "-1"])
def test_an_implausible_mark_price_is_an_error(mark: str) -> None:
    rest = multi_assets_rest()
    rest["/fapi/v3/positionRisk"][0] = v3_row("BTCUSDT", "BOTH", "0.5", "20000", mark)
    with pytest.raises(WireError, match="plausible"):
        build_state(rest)


# ---------------------------------------------------------------------------------- COIN-M
def coinm_rest() -> dict[str, Any]:
    """position_risk_cm.json: BTCUSD_201225 LONG 1 contract @ 11707.7, mark 11788.66626667."""
    return {
        "/dapi/v1/exchangeInfo": cm_exchange_info(("BTCUSD_201225", 100), ("BTCUSD_PERP", 100)),
        "/dapi/v2/leverageBracket": cm_brackets(
            "leverage_bracket_cm_v2.json",
            "symbol",
            ("BTCUSD_201225", 0.004),
            ("BTCUSD_PERP", 0.004),
        ),
        "/dapi/v1/positionRisk": load("position_risk_cm.json"),
        "/dapi/v1/account": load("account_cm.json"),
    }


def test_coinm_inverse_figures() -> None:
    state = build_state(coinm_rest())
    assert state.mode is Mode.COINM
    contract = state.contracts["BTCUSD_201225"]
    assert (contract.kind, contract.contract_size, contract.settle_asset, contract.product) == (
        ContractKind.INVERSE,
        100.0,
        "BTC",
        "CM",
    )
    assert contract.brackets.caps == [50.0]
    assert list(state.positions) == [("BTCUSD_201225", "LONG")]
    mark, entry, wallet = 11788.66626667, 11707.70000003, 0.00241969
    notional = 100.0 / mark
    upnl = 100.0 * (1.0 / entry - 1.0 / mark)
    assert upnl == pytest.approx(0.00005866, rel=1e-3)  # the sample's unRealizedProfit
    snap = Book(state).snapshot()
    (leg,) = snap.legs
    assert leg.notional == pytest.approx(notional, rel=1e-12)
    assert leg.maint_margin == pytest.approx(notional * 0.004, rel=1e-12)
    assert snap.risk == pytest.approx(notional * 0.004 / (wallet + upnl), rel=1e-12)


def test_coinm_pair_brackets_and_isolated_wallet_from_margin() -> None:
    rest = coinm_rest()
    del rest["/dapi/v2/leverageBracket"]
    rest["/dapi/v1/leverageBracket"] = cm_brackets(
        "leverage_bracket_cm_v1_pair.json", "pair", ("BTCUSD", 0.005)
    )
    rows = rest["/dapi/v1/positionRisk"]
    rows[1].update(marginType="isolated", isolatedMargin="0.01", unRealizedProfit="0.002")
    rest["/dapi/v1/premiumIndex"] = load("premium_index_cm.json")
    state = build_state(rest, Mode.COINM)
    assert state.contracts["BTCUSD_PERP"].brackets.mmrs == [0.005]
    assert state.contracts["BTCUSD_201225"].brackets.mmrs == [0.005]
    pos = state.positions[("BTCUSD_201225", "LONG")]
    assert pos.isolated is True
    assert pos.isolated_wallet == pytest.approx(0.008)  # isolatedMargin − unrealized PnL
    assert state.marks["BTCUSD_PERP"] == 11029.69574559


# ------------------------------------------------------------------------------ Portfolio Margin
def pm_rest() -> dict[str, Any]:
    usdt = load("papi_balance.json")[0]
    btc = {
        **usdt,
        "asset": "BTC",
        "crossMarginFree": "0.5",
        "crossMarginLocked": "0",
        "crossMarginBorrowed": "0",
        "crossMarginInterest": "0",
        "umWalletBalance": "0",
        "cmWalletBalance": "0.01",
        "cmUnrealizedPNL": "0",
    }
    return {
        "/papi/v1/account": {
            **load("papi_account.json"),
            "accountStatus": "MARGIN_CALL",
            "totalMarginOpenLoss": "1.5",
        },
        "/papi/v1/balance": [usdt, btc],
        "/papi/v1/um/positionRisk": load("papi_um_position_risk.json"),
        "/papi/v1/cm/positionRisk": load("papi_cm_position_risk.json"),
        "/papi/v1/um/leverageBracket": um_brackets(
            "papi_um_leverage_bracket.json", ("BTCUSDT", [(0, 50000, 0.004, 0)])
        ),
        "/papi/v1/cm/leverageBracket": cm_brackets(
            "papi_cm_leverage_bracket.json", "symbol", ("BTCUSD_201225", 0.004)
        ),
        "/fapi/v1/exchangeInfo": um_exchange_info(("BTCUSDT", "BTC", "USDT")),
        "/dapi/v1/exchangeInfo": cm_exchange_info(("BTCUSD_201225", 100)),
        "/sapi/v1/portfolio/asset-index-price": load("asset_index_price_pm.json"),
        "/sapi/v1/portfolio/collateralRate": [
            *load("collateral_rate_v1.json"),
            {"asset": "BTC", "collateralRate": "0.95"},
        ],
        "/fapi/v3/account": um_account({"USDT": 999.0}),  # ignored in PM
    }


def test_portfolio_margin_state() -> None:
    state = build_state(pm_rest(), margin_leverage=5)
    assert state.mode is Mode.PORTFOLIO_MARGIN
    assert state.margin_leverage == 5
    assert state.status == "MARGIN_CALL"
    assert state.open_loss_usd == 1.5
    usdt = state.assets["USDT"]
    assert (usdt.margin_free, usdt.margin_locked, usdt.borrowed) == (100.0, 3.0, 10.0)
    assert (usdt.interest, usdt.um_wallet, usdt.cm_wallet) == (0.72469206, 0.0, 23.72469206)
    assert usdt.cross_wallet == 0.0
    btc = state.assets["BTC"]
    assert (btc.index_price, btc.collateral.rates) == (28251.9136906, [0.95])
    assert state.contracts["BTCUSDT"].product == "UM"
    assert state.contracts["BTCUSD_201225"].product == "CM"
    assert set(state.positions) == {("BTCUSDT", "LONG"), ("BTCUSD_201225", "LONG")}


def test_portfolio_margin_uni_mmr_by_hand() -> None:
    state = build_state(pm_rest())
    p_btc = 28251.9136906
    um_mark, cm_mark = 21123.05052574, 11788.66626667
    um_upnl = 0.001 * (um_mark - 22185.2)
    cm_upnl = 100.0 * (1 / 11707.70000003 - 1 / cm_mark)
    x_usdt = 100 + 3 - 10 - 0.72469206 + 0 + 23.72469206 + um_upnl
    x_btc = 0.5 + 0.01 + cm_upnl
    equity = x_usdt * 1.0 + x_btc * p_btc * 0.95 - 1.5
    mm_usdt = 0.001 * um_mark * 0.004 + (10 + 0.72469206) * 0.10
    mm_btc = (100.0 / cm_mark) * 0.004
    maint = mm_usdt + mm_btc * p_btc
    risk = Book(state).snapshot().risk
    assert risk == pytest.approx(1.05 * maint / equity, rel=1e-12)


def test_portfolio_margin_tiered_collateral_and_normal_status() -> None:
    rest = pm_rest()
    rest["/papi/v1/account"] = load("papi_account.json")
    rest["/sapi/v2/portfolio/collateralRate"] = [
        *load("collateral_rate_v2_tiered.json"),
        {
            "asset": "BTC",
            "collateralInfo": [
                {"tierFloor": "0", "tierCap": "10000", "collateralRate": "1", "cum": "0"},
                {"tierFloor": "10000", "tierCap": "99999999", "collateralRate": "0.9", "cum": "0"},
            ],
        },
    ]
    state = build_state(rest)
    assert state.status == "ok"
    assert state.open_loss_usd == 0.0
    assert state.assets["BTC"].collateral.tiers == (
        CollateralTier(0.0, 10000.0, 1.0),
        CollateralTier(10000.0, 99999999.0, 0.9),
    )
    assert state.assets["BNB"].collateral.rates == [1.0, 0.9]


def test_portfolio_margin_missing_index_price() -> None:
    rest = pm_rest()
    rest["/sapi/v1/portfolio/asset-index-price"] = []
    with pytest.raises(SnapshotError, match=r"asset-index-price has no index price .* BTC"):
        build_state(rest)


def test_portfolio_margin_bad_tiers() -> None:
    rest = pm_rest()
    rest["/sapi/v2/portfolio/collateralRate"] = [
        {
            "asset": "BTC",
            "collateralInfo": [{"tierFloor": "5", "tierCap": "10", "collateralRate": "1"}],
        }
    ]
    with pytest.raises(WireError, match=r"collateralRate: asset BTC: .*start at 0"):
        build_state(rest)


# -------------------------------------------------------------------------- modes, paths, errors
@pytest.mark.parametrize(
    ("paths", "mode"),
    [
        ({"/papi/v1/balance": [], "/fapi/v3/account": {}}, Mode.PORTFOLIO_MARGIN),
        ({"/fapi/v1/multiAssetsMargin": {"multiAssetsMargin": True}}, Mode.USDM_MULTI_ASSETS),
        ({"/fapi/v1/multiAssetsMargin": {"multiAssetsMargin": False}}, Mode.USDM),
        ({"/dapi/v1/account": {}, "/dapi/v1/positionRisk": []}, Mode.COINM),
        ({"/dapi/v1/positionRisk": [], "/fapi/v2/account": {}}, Mode.USDM),
        ({}, Mode.USDM),
    ],
)
def test_infer_mode(paths: dict[str, Any], mode: Mode) -> None:
    assert infer_mode(paths) is mode


def test_explicit_mode_wins() -> None:
    rest = multi_assets_rest()
    state = build_state(rest, Mode.USDM)
    assert state.mode is Mode.USDM
    assert state.assets["USDT"].bid_rate == 1.0  # rates are a Multi-Assets matter


@pytest.mark.parametrize("mode", list(Mode))
def test_rest_paths_for_every_mode_decode(mode: Mode) -> None:
    paths = rest_paths_for(mode)
    assert paths and len(set(paths)) == len(paths)
    assert all(path in REST_SCHEMAS for path in paths)


def test_rest_paths_per_mode() -> None:
    assert "/fapi/v1/assetIndex" in rest_paths_for(Mode.USDM_MULTI_ASSETS)
    assert "/fapi/v1/assetIndex" not in rest_paths_for(Mode.USDM)
    assert all(p.startswith("/dapi/") for p in rest_paths_for(Mode.COINM))
    assert {"/papi/v1/balance", "/sapi/v1/portfolio/asset-index-price"} <= set(
        rest_paths_for(Mode.PORTFOLIO_MARGIN)
    )


def test_held_symbol_without_contract_is_left_for_validate() -> None:
    rest = hedge_v3_rest()
    rest["/fapi/v1/exchangeInfo"] = um_exchange_info(("COMPUSDT", "COMP", "USDT"))
    state = build_state(rest)
    assert "ADAUSDT" not in state.contracts
    with pytest.raises(EngineError, match="ADAUSDT has no contract data"):
        state.validate()


def test_held_symbol_without_brackets_is_left_for_validate() -> None:
    rest = hedge_v3_rest()
    rest["/fapi/v1/leverageBracket"] = um_brackets(
        "leverage_bracket_um.json", ("ADAUSDT", [(0, 5000, 0.0065, 0)])
    )
    state = build_state(rest)
    assert "COMPUSDT" not in state.contracts
    with pytest.raises(EngineError, match="COMPUSDT has no contract data"):
        Book(state)


@pytest.mark.parametrize(
    ("mode", "drop", "message"),
    [
        (Mode.USDM, "/fapi/v3/positionRisk", "/fapi/v3/positionRisk or /fapi/v2/positionRisk"),
        (Mode.USDM, "/fapi/v3/account", "/fapi/v3/account or /fapi/v2/account"),
        (Mode.COINM, "/dapi/v1/account", "coinm snapshot needs /dapi/v1/account"),
        (Mode.COINM, "/dapi/v1/positionRisk", "needs /dapi/v1/positionRisk"),
        (Mode.PORTFOLIO_MARGIN, "/papi/v1/balance", "needs /papi/v1/balance"),
        (Mode.PORTFOLIO_MARGIN, "/papi/v1/cm/positionRisk", "needs /papi/v1/cm/positionRisk"),
        (Mode.PORTFOLIO_MARGIN, "/papi/v1/um/positionRisk", "needs /papi/v1/um/positionRisk"),
    ],
)
def test_missing_required_path(mode: Mode, drop: str, message: str) -> None:
    rest = {Mode.USDM: hedge_v3_rest, Mode.COINM: coinm_rest, Mode.PORTFOLIO_MARGIN: pm_rest}[
        mode
    ]()
    del rest[drop]
    with pytest.raises(SnapshotError, match=message):
        build_state(rest, mode)


def test_malformed_body_names_the_path() -> None:
    rest = hedge_v3_rest()
    rest["/fapi/v3/account"] = copy.deepcopy(rest["/fapi/v3/account"])
    rest["/fapi/v3/account"]["assets"][0]["crossWalletBalance"] = {"oops": 1}
    with pytest.raises(WireError, match=r"/fapi/v3/account: assets\[0\]\.crossWalletBalance"):
        build_state(rest)


def test_unrelated_paths_are_ignored() -> None:
    rest = hedge_v3_rest()
    rest["/fapi/v1/time"] = {"serverTime": 1}
    rest["/dapi/v1/account"] = "not even an object"
    assert build_state(rest).mode is Mode.USDM
