"""Real payload shapes that used to be misread silently (issue 13 item 5).

Each case starts from a public capture or a Binance docs example (tests/fixtures/samples, see
SOURCES.md there) and goes through the real decoders, snapshot builder and engine:

* a positionRisk row without `isolatedWallet` (2020-21 docs example): the wallet is derived as
  `isolatedMargin − unRealizedProfit`, not read as 0 (which made the leg look near-bankrupt);
* `multiAssetsMargin: true` on `/fapi/v2|v3/account` selects Multi-Assets mode when
  `/fapi/v1/multiAssetsMargin` was not fetched (which stays the authority when it was);
* PM `uniMMRDrop` (no payload example found) and the parts of an `ACCOUNT_UPDATE` the engine has
  no place for (options legs, unknown PM business units) are counted as unknown, while the
  futures wallets of the same message still apply.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.binance.decode.snapshot import build_state, infer_mode
from monitor.binance.decode.user_events import UnknownUserEvent, translate_frame
from monitor.engine.book import Book
from monitor.engine.events import FuturesWallet, PositionUpdate
from monitor.engine.model import Mode

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def exchange_info(*symbols: tuple[str, str, str]) -> Any:
    info = load("exchange_info_um.json")
    template = info["symbols"][0]
    info["symbols"] = [
        {**template, "symbol": s, "pair": s, "baseAsset": b, "marginAsset": m}
        for s, b, m in symbols
    ]
    return info


def brackets(*tables: tuple[str, list[tuple[float, float, float, float]]]) -> Any:
    template = load("leverage_bracket_um.json")[0]
    tier = template["brackets"][0]
    return [
        {
            **template,
            "symbol": sym,
            "brackets": [
                {**tier, "bracket": k + 1, "notionalFloor": f, "notionalCap": c,
                 "maintMarginRatio": m, "cum": cum}
                for k, (f, c, m, cum) in enumerate(tiers)
            ],
        }
        for sym, tiers in tables
    ]


#: BTCUSDT tiers as Binance publishes them (continuous MM: cum_k = floor_k·Δmmr + cum_{k−1}).
BTC_TIERS = [(0, 50000, 0.004, 0), (50000, 250000, 0.005, 50), (250000, 3000000, 0.01, 1300)]


def account(sample: str, wallets: dict[str, float], **top: Any) -> Any:
    body = load(sample)
    template = body["assets"][0]
    body["assets"] = [
        {**template, "asset": a, "crossWalletBalance": str(w), "walletBalance": str(w)}
        for a, w in wallets.items()
    ]
    body.update(top)
    return body


# ----------------------------------------------------------------------- isolatedWallet absent
def no_wallet_rest() -> dict[str, Any]:
    return {
        "/fapi/v1/multiAssetsMargin": {"multiAssetsMargin": False},
        "/fapi/v1/exchangeInfo": exchange_info(("BTCUSDT", "BTC", "USDT")),
        "/fapi/v1/leverageBracket": brackets(("BTCUSDT", BTC_TIERS)),
        "/fapi/v2/positionRisk": load("position_risk_v2_um_hedge_no_wallet.json")[:1],
        "/fapi/v3/account": account("account_v3_um.json", {"USDT": 1000.0}),
    }


def test_isolated_wallet_is_derived_when_the_row_has_none() -> None:
    rows = load("position_risk_v2_um_hedge_no_wallet.json")
    assert all("isolatedWallet" not in row for row in rows)  # the documented older shape
    rest = no_wallet_rest()
    rest["/fapi/v2/positionRisk"] = rows
    state = build_state(rest)
    long, short = state.positions[("BTCUSDT", "LONG")], state.positions[("BTCUSDT", "SHORT")]
    assert long.isolated and short.isolated
    assert long.isolated_wallet == pytest.approx(15517.54150468 - 2316.8342356, abs=1e-9)
    assert short.isolated_wallet == pytest.approx(5413.95799991 + 1156.4671178, abs=1e-9)


def test_isolated_leg_without_wallet_field_has_its_real_risk() -> None:
    book = Book(build_state(no_wallet_rest()))
    pools = {pool.key: pool for pool in book.snapshot().pools}
    pool = pools["BTCUSDT:LONG"]
    mark, qty = 6679.50671178, 20.0
    notional = qty * mark  # 133,590 → bracket 2 (mmr 0.5 %, cum 50)
    # The isolated pool's equity is isolatedMargin (wallet + uPnL) as Binance reported it.
    assert pool.equity == pytest.approx(15517.54150468, rel=1e-9)
    assert pool.maint_margin == pytest.approx(notional * 0.005 - 50, rel=1e-12)
    assert pool.risk == pytest.approx((notional * 0.005 - 50) / 15517.54150468, rel=1e-9)
    assert pool.risk < 0.05  # read as wallet 0 it was ≈ 0.27, a margin call that is not there


def test_an_explicit_isolated_wallet_is_still_taken_as_sent() -> None:
    rest = no_wallet_rest()
    rest["/fapi/v2/positionRisk"] = [{**rest["/fapi/v2/positionRisk"][0], "isolatedWallet": "99"}]
    assert build_state(rest).positions[("BTCUSDT", "LONG")].isolated_wallet == 99.0


def test_v3_row_without_isolated_wallet_is_derived_too() -> None:
    rest = no_wallet_rest()
    row = dict(load("position_risk_v3_um.json")[0])
    del row["isolatedWallet"]
    row |= {"symbol": "BTCUSDT", "positionSide": "LONG", "positionAmt": "20",
            "entryPrice": "6563.665", "markPrice": "6679.50671178",
            "isolatedMargin": "15517.54150468", "unRealizedProfit": "2316.8342356"}
    del rest["/fapi/v2/positionRisk"]
    rest["/fapi/v3/positionRisk"] = [row]
    leg = build_state(rest).positions[("BTCUSDT", "LONG")]
    assert leg.isolated
    assert leg.isolated_wallet == pytest.approx(13200.70726908, abs=1e-9)


# ------------------------------------------------------------------ multiAssetsMargin on account
def multi_assets_rest(account_path: str, flag: object) -> dict[str, Any]:
    """margin-math §3.3 seed (200 USDT + 220 BUSD; BTCUSDT 0.5 @ 20,000; ETHBUSD 20 @ 600),
    without `/fapi/v1/multiAssetsMargin`: the account body carries the mode flag."""
    index = load("asset_index_um_rest.json")[0]
    sample = "account_v2_um.json" if account_path == "/fapi/v2/account" else (
        "account_v3_um_multi_assets.json"
    )
    v3 = load("position_risk_v3_um.json")[0]
    return {
        "/fapi/v1/exchangeInfo": exchange_info(("BTCUSDT", "BTC", "USDT"),
                                               ("ETHBUSD", "ETH", "BUSD")),
        "/fapi/v1/leverageBracket": brackets(("BTCUSDT", [(0, 50000, 0.008, 0)]),
                                             ("ETHBUSD", [(0, 50000, 0.01, 0)])),
        "/fapi/v3/positionRisk": [
            {**v3, "symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.5",
             "entryPrice": "20000", "markPrice": "19000"},
            {**v3, "symbol": "ETHBUSD", "positionSide": "BOTH", "positionAmt": "20",
             "entryPrice": "600", "markPrice": "620"},
        ],
        account_path: account(sample, {"USDT": 200.0, "BUSD": 220.0}, multiAssetsMargin=flag),
        "/fapi/v1/assetIndex": [
            {**index, "symbol": "USDTUSD", "index": "0.99", "bidRate": "0.9801",
             "askRate": "0.99495"},
        ],
    }


@pytest.mark.parametrize("account_path", ["/fapi/v2/account", "/fapi/v3/account"])
def test_account_flag_is_the_mode_source_without_the_mode_endpoint(account_path: str) -> None:
    rest = multi_assets_rest(account_path, True)
    assert infer_mode(rest) is Mode.USDM_MULTI_ASSETS
    snap = Book(build_state(rest)).snapshot()
    assert snap.mode is Mode.USDM_MULTI_ASSETS
    (pool,) = snap.pools  # one USD pool: the assets back each other
    assert pool.equity == pytest.approx(321.515, rel=1e-12)
    assert snap.risk == pytest.approx(0.6208612351, rel=1e-9)


def test_account_flag_false_and_absent_stay_single_asset() -> None:
    assert infer_mode(multi_assets_rest("/fapi/v2/account", False)) is Mode.USDM
    rest = multi_assets_rest("/fapi/v3/account", None)
    del rest["/fapi/v3/account"]["multiAssetsMargin"]
    assert infer_mode(rest) is Mode.USDM


def test_the_mode_endpoint_stays_the_authority() -> None:
    rest = multi_assets_rest("/fapi/v2/account", True)
    rest["/fapi/v1/multiAssetsMargin"] = {"multiAssetsMargin": False}
    assert infer_mode(rest) is Mode.USDM
    rest = multi_assets_rest("/fapi/v3/account", False)
    rest["/fapi/v1/multiAssetsMargin"] = load("multi_assets_margin_um.json")
    assert load("multi_assets_margin_um.json")["multiAssetsMargin"] is True
    assert infer_mode(rest) is Mode.USDM_MULTI_ASSETS


# ------------------------------------------------------------------------------ new PM events
def test_uni_mmr_drop_is_counted_as_unknown_not_guessed() -> None:
    # No payload example of `uniMMRDrop` was found (only the change-log entry): whatever its
    # fields, it is counted and changes nothing.
    frame = {"e": "uniMMRDrop", "E": 1774229167996, "u": "1.35"}
    out = translate_frame(frame, Mode.PORTFOLIO_MARGIN)
    assert out.events == ()
    assert out.signals == (UnknownUserEvent("uniMMRDrop", 1774229167996),)


@pytest.mark.parametrize("reason", ["OPTIONS_PREMIUM_FEE", "OPTIONS_SETTLE_PROFIT"])
def test_options_reasons_apply_their_wallets(reason: str) -> None:
    frame = copy.deepcopy(load("account_update_um.json"))
    frame["a"]["m"] = reason
    frame["a"]["P"] = []  # a premium or settlement moves the wallet only
    out = translate_frame(frame, Mode.USDM)
    assert [type(e) for e in out.events] == [FuturesWallet] * len(frame["a"]["B"])
    assert out.signals == ()


def test_an_options_leg_is_skipped_and_counted_the_wallet_still_applies() -> None:
    frame = copy.deepcopy(load("pm_account_update.json"))
    frame["a"]["m"] = "OPTIONS_SETTLE_PROFIT"
    leg = frame["a"]["P"][0]
    frame["a"]["P"] = [{**leg, "s": "BTC-250328-100000-C"}, leg]
    out = translate_frame(frame, Mode.PORTFOLIO_MARGIN)
    wallets = [e for e in out.events if isinstance(e, FuturesWallet)]
    legs = [e for e in out.events if isinstance(e, PositionUpdate)]
    assert len(wallets) == len(frame["a"]["B"]) and wallets[0].product == frame["fs"]
    assert [p.symbol for p in legs] == [leg["s"]]
    assert out.signals == (UnknownUserEvent("ACCOUNT_UPDATE option leg", frame["E"]),)


def test_an_unknown_pm_business_unit_never_lands_in_a_futures_wallet() -> None:
    frame = copy.deepcopy(load("pm_account_update.json"))
    frame["fs"] = "OPTIONS"
    out = translate_frame(frame, Mode.PORTFOLIO_MARGIN)
    assert out.events == ()
    assert out.signals == (UnknownUserEvent("ACCOUNT_UPDATE fs=OPTIONS", frame["E"]),)
