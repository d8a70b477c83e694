"""Tests for monitor/binance/schemas/: every sample decodes, coercions, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from monitor.binance.schemas import (
    coinm,
    common,
    dispatch,
    market_stream,
    portfolio,
    usdm,
    user_stream,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def load(name: str) -> object:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


REST_SAMPLES = [
    ("/fapi/v1/multiAssetsMargin", "multi_assets_margin_um.json", usdm.BinanceMultiAssetsMargin),
    ("/fapi/v1/positionSide/dual", "position_side_dual_um.json", common.BinancePositionSideDual),
    ("/dapi/v1/positionSide/dual", "position_side_dual_um.json", common.BinancePositionSideDual),
    ("/fapi/v2/account", "account_v2_um.json", usdm.BinanceUsdmAccountV2),
    ("/fapi/v3/account", "account_v3_um.json", usdm.BinanceUsdmAccountV3),
    ("/fapi/v3/account", "account_v3_um_multi_assets.json", usdm.BinanceUsdmAccountV3),
    ("/fapi/v2/positionRisk", "position_risk_v2_um.json", usdm.BinanceUsdmPositionRiskV2),
    ("/fapi/v2/positionRisk", "position_risk_v2_um_oneway.json", usdm.BinanceUsdmPositionRiskV2),
    ("/fapi/v3/positionRisk", "position_risk_v3_um.json", usdm.BinanceUsdmPositionRiskV3),
    ("/fapi/v1/leverageBracket", "leverage_bracket_um.json", usdm.BinanceUsdmLeverageBracket),
    (
        "/fapi/v1/leverageBracket",
        "leverage_bracket_um_symbol.json",
        usdm.BinanceUsdmLeverageBracket,
    ),
    ("/fapi/v1/assetIndex", "asset_index_um_rest.json", usdm.BinanceAssetIndex),
    ("/fapi/v1/premiumIndex", "premium_index_um.json", common.BinancePremiumIndex),
    ("/fapi/v1/exchangeInfo", "exchange_info_um.json", usdm.BinanceUsdmExchangeInfo),
    ("/fapi/v1/exchangeInfo", "exchange_info_um_live_2022.json", usdm.BinanceUsdmExchangeInfo),
    ("/dapi/v1/account", "account_cm.json", coinm.BinanceCoinmAccount),
    ("/dapi/v1/positionRisk", "position_risk_cm.json", coinm.BinanceCoinmPositionRisk),
    ("/dapi/v2/leverageBracket", "leverage_bracket_cm_v2.json", coinm.BinanceCoinmLeverageBracket),
    (
        "/dapi/v1/leverageBracket",
        "leverage_bracket_cm_v1_pair.json",
        coinm.BinanceCoinmPairLeverageBracket,
    ),
    ("/dapi/v1/exchangeInfo", "exchange_info_cm.json", coinm.BinanceCoinmExchangeInfo),
    ("/dapi/v1/premiumIndex", "premium_index_cm.json", common.BinancePremiumIndex),
    ("/papi/v1/account", "papi_account.json", portfolio.BinancePmAccount),
    ("/papi/v1/balance", "papi_balance.json", portfolio.BinancePmBalance),
    ("/papi/v1/balance", "papi_balance_live.json", portfolio.BinancePmBalance),
    ("/papi/v1/um/positionRisk", "papi_um_position_risk.json", portfolio.BinancePmUmPositionRisk),
    ("/papi/v1/cm/positionRisk", "papi_cm_position_risk.json", portfolio.BinancePmCmPositionRisk),
    (
        "/papi/v1/um/leverageBracket",
        "papi_um_leverage_bracket.json",
        usdm.BinanceUsdmLeverageBracket,
    ),
    (
        "/papi/v1/cm/leverageBracket",
        "papi_cm_leverage_bracket.json",
        coinm.BinanceCoinmLeverageBracket,
    ),
    (
        "/sapi/v1/portfolio/collateralRate",
        "collateral_rate_v1.json",
        portfolio.BinanceCollateralRate,
    ),
    (
        "/sapi/v2/portfolio/collateralRate",
        "collateral_rate_v2_tiered.json",
        portfolio.BinanceTieredCollateralRate,
    ),
    (
        "/sapi/v1/portfolio/asset-index-price",
        "asset_index_price_pm.json",
        portfolio.BinanceAssetIndexPrice,
    ),
]

USER_SAMPLES = [
    ("account_update_um.json", user_stream.BinanceFuturesAccountUpdateMsg),
    ("account_update_cm.json", user_stream.BinanceFuturesAccountUpdateMsg),
    ("account_update_bnfcr_um.json", user_stream.BinanceFuturesAccountUpdateMsg),
    ("account_update_um_live_2021.json", user_stream.BinanceFuturesAccountUpdateMsg),
    ("pm_account_update.json", user_stream.BinanceFuturesAccountUpdateMsg),
    ("order_trade_update_um.json", user_stream.BinanceFuturesOrderUpdateMsg),
    ("order_trade_update_cm.json", user_stream.BinanceFuturesOrderUpdateMsg),
    ("order_trade_update_um_live_2021.json", user_stream.BinanceFuturesOrderUpdateMsg),
    ("order_trade_update_um_live_2026.json", user_stream.BinanceFuturesOrderUpdateMsg),
    ("pm_order_trade_update.json", user_stream.BinanceFuturesOrderUpdateMsg),
    ("trade_lite_um.json", user_stream.BinanceTradeLiteMsg),
    ("trade_lite_um_live.json", user_stream.BinanceTradeLiteMsg),
    ("margin_call_um.json", user_stream.BinanceMarginCallMsg),
    ("margin_call_cm.json", user_stream.BinanceMarginCallMsg),
    ("account_config_update_leverage_um.json", user_stream.BinanceAccountConfigUpdateMsg),
    ("account_config_update_leverage_cm.json", user_stream.BinanceAccountConfigUpdateMsg),
    ("account_config_update_multi_assets_um.json", user_stream.BinanceAccountConfigUpdateMsg),
    ("pm_account_config_update.json", user_stream.BinanceAccountConfigUpdateMsg),
    ("listen_key_expired_um.json", user_stream.BinanceListenKeyExpiredMsg),
    ("listen_key_expired_cm.json", user_stream.BinanceListenKeyExpiredMsg),
    ("listen_key_expired_live.json", user_stream.BinanceListenKeyExpiredMsg),
    ("pm_listen_key_expired.json", user_stream.BinanceListenKeyExpiredMsg),
    ("pm_risk_level_change.json", user_stream.BinanceRiskLevelChangeMsg),
    ("pm_balance_update.json", user_stream.BinanceBalanceUpdateMsg),
    ("pm_outbound_account_position.json", user_stream.BinanceOutboundAccountPositionMsg),
    ("pm_liability_change.json", user_stream.BinanceLiabilityChangeMsg),
    ("pm_open_order_loss.json", user_stream.BinanceOpenOrderLossMsg),
]

STREAM_SAMPLES = [
    ("markPrice_um.json", market_stream.BinanceMarkPriceUpdateMsg),
    ("markPrice_um_with_st.json", market_stream.BinanceMarkPriceUpdateMsg),
    ("markPrice_arr_um.json", market_stream.BinanceMarkPriceUpdateMsg),
    ("markPrice_cm.json", market_stream.BinanceMarkPriceUpdateMsg),
    ("markPrice_pair_cm.json", market_stream.BinanceMarkPriceUpdateMsg),
    ("assetIndex_arr_um.json", market_stream.BinanceAssetIndexUpdateMsg),
    ("indexPrice_cm.json", market_stream.BinanceIndexPriceUpdateMsg),
    ("combined_stream_markPrice_um.json", market_stream.BinanceCombinedStreamMsg),
    ("ws_subscribe_response.json", market_stream.BinanceSubscriptionAck),
]

ERROR_SAMPLES = [
    ("error_1003_banned.json", -1003),
    ("error_1016_maintenance.json", -1016),
    ("error_1021_timestamp.json", -1021),
    ("error_2015_key.json", -2015),
    ("error_invalid_symbol.json", -1121),
]


def test_samples_directory_is_present() -> None:
    """Parametrized tests over an empty directory would pass silently: fail loudly instead."""
    assert SAMPLES.is_dir(), f"sample fixtures missing: {SAMPLES}"
    used = {f for _, f, _ in REST_SAMPLES} | {f for f, _ in USER_SAMPLES + STREAM_SAMPLES}
    missing = sorted(f for f in used | {f for f, _ in ERROR_SAMPLES} if not (SAMPLES / f).exists())
    assert not missing, f"sample fixtures missing: {missing}"


@pytest.mark.parametrize(("path", "name", "model"), REST_SAMPLES)
def test_rest_sample_decodes(path: str, name: str, model: type[BaseModel]) -> None:
    data = load(name)
    parsed = dispatch.parse_rest(path, data)
    if isinstance(data, list):
        assert isinstance(parsed, list)
        assert len(parsed) == len(data)
        assert all(type(item) is model for item in parsed)
    else:
        assert type(parsed) is model


@pytest.mark.parametrize(("name", "model"), USER_SAMPLES)
def test_user_sample_decodes(name: str, model: type[BaseModel]) -> None:
    assert type(dispatch.parse_user_event(load(name))) is model


@pytest.mark.parametrize(("name", "model"), STREAM_SAMPLES)
def test_stream_sample_decodes(name: str, model: type[BaseModel]) -> None:
    data = load(name)
    for item in data if isinstance(data, list) else [data]:
        assert type(common.validate(model, item, name)) is model


@pytest.mark.parametrize(("name", "code"), ERROR_SAMPLES)
def test_error_body_raises_exchange_error(name: str, code: int) -> None:
    with pytest.raises(common.ExchangeError) as info:
        dispatch.parse_rest("/fapi/v3/account", load(name))
    assert info.value.code == code
    assert info.value.path == "/fapi/v3/account"
    assert str(code) in str(info.value)


# ---------------------------------------------------------------------------------- coercions
def test_empty_strings_read_zero() -> None:
    account = dispatch.parse_rest("/papi/v1/account", load("papi_account.json"))
    assert isinstance(account, portfolio.BinancePmAccount)
    assert account.totalMarginOpenLoss == 0.0
    assert account.totalAvailableBalance == 0.0
    assert account.accountStatus == "NORMAL"
    (balance,) = dispatch.parse_rest_items(
        "/papi/v1/balance", load("papi_balance.json"), portfolio.BinancePmBalance
    )
    assert balance.cmUnrealizedPNL == 0.0
    assert balance.crossMarginInterest == pytest.approx(0.72469206)


def test_numeric_string_times() -> None:
    (live,) = dispatch.parse_rest_items(
        "/papi/v1/balance", load("papi_balance_live.json"), portfolio.BinancePmBalance
    )
    assert live.updateTime == 0
    assert live.umWalletBalance == pytest.approx(31.022612)
    string_e = dispatch.parse_user_event(load("listen_key_expired_um.json"))
    number_e = dispatch.parse_user_event(load("listen_key_expired_cm.json"))
    assert string_e.E == 1736996475556
    assert number_e.E == 1576653824250


def test_balance_as_object_when_asset_given() -> None:
    body = load("papi_balance.json")
    assert isinstance(body, list)
    parsed = dispatch.parse_rest("/papi/v1/balance", body[0])
    assert isinstance(parsed, portfolio.BinancePmBalance)
    assert dispatch.parse_rest_items("/papi/v1/balance", body[0], portfolio.BinancePmBalance) == [
        parsed
    ]


def test_bracket_spellings_and_coefficient_types() -> None:
    (dapi,) = dispatch.parse_rest_items(
        "/dapi/v2/leverageBracket",
        load("leverage_bracket_cm_v2.json"),
        coinm.BinanceCoinmLeverageBracket,
    )
    (papi,) = dispatch.parse_rest_items(
        "/papi/v1/cm/leverageBracket",
        load("papi_cm_leverage_bracket.json"),
        coinm.BinanceCoinmLeverageBracket,
    )
    assert dapi.brackets[0].qtyFloor == 0.0 and dapi.brackets[0].qtyCap == 50.0
    assert papi.brackets[0].qtyFloor == 0.0 and papi.brackets[0].maintMarginRatio == 0.004
    (fapi,) = dispatch.parse_rest_items(
        "/fapi/v1/leverageBracket",
        load("leverage_bracket_um.json"),
        usdm.BinanceUsdmLeverageBracket,
    )
    (pm,) = dispatch.parse_rest_items(
        "/papi/v1/um/leverageBracket",
        load("papi_um_leverage_bracket.json"),
        usdm.BinanceUsdmLeverageBracket,
    )
    assert fapi.notionalCoef == 1.5
    assert pm.notionalCoef == 4.0
    assert fapi.brackets[0].notionalCap == 10000.0


def test_string_booleans() -> None:
    rows = dispatch.parse_rest_items(
        "/fapi/v2/positionRisk", load("position_risk_v2_um.json"), usdm.BinanceUsdmPositionRiskV2
    )
    assert rows[0].isAutoAddMargin is False
    row = dict(load("position_risk_v2_um.json")[0])  # type: ignore[index]
    row["isAutoAddMargin"] = "true"
    (parsed,) = dispatch.parse_rest_items(
        "/fapi/v2/positionRisk", [row], usdm.BinanceUsdmPositionRiskV2
    )
    assert parsed.isAutoAddMargin is True


def test_large_integers_stay_exact() -> None:
    liability = dispatch.parse_user_event(load("pm_liability_change.json"))
    assert isinstance(liability, user_stream.BinanceLiabilityChangeMsg)
    assert liability.T == 1352286576452864727
    trade = dispatch.parse_user_event(load("trade_lite_um_live.json"))
    assert isinstance(trade, user_stream.BinanceTradeLiteMsg)
    assert trade.i == 8389765739703625592


def test_unknown_fields_are_ignored() -> None:
    event = dict(load("account_update_um.json"))  # type: ignore[call-overload]
    event["st"], event["zz"] = 1, {"nested": [1, 2]}
    parsed = dispatch.parse_user_event(event)
    assert isinstance(parsed, user_stream.BinanceFuturesAccountUpdateMsg)
    mark = common.validate(
        market_stream.BinanceMarkPriceUpdateMsg, load("markPrice_um_with_st.json"), "mark"
    )
    assert mark.st == 1
    assert mark.p == 11794.15


def test_missing_optional_fields_of_older_schema() -> None:
    event = dispatch.parse_user_event(load("account_update_um_live_2021.json"))
    assert isinstance(event, user_stream.BinanceFuturesAccountUpdateMsg)
    assert event.a.m == "ORDER"
    assert event.a.B[0].bc == 0.0
    assert event.a.P[0].ma == "USDT"
    assert event.a.P[0].bep == 0.0


def test_pm_positions_have_no_margin_type() -> None:
    event = dispatch.parse_user_event(load("pm_account_update.json"))
    assert isinstance(event, user_stream.BinanceFuturesAccountUpdateMsg)
    assert event.fs == "UM"
    assert {p.mt for p in event.a.P} == {"cross"}


def test_models_are_frozen() -> None:
    mark = common.validate(
        market_stream.BinanceMarkPriceUpdateMsg, load("markPrice_um.json"), "mark"
    )
    with pytest.raises(ValidationError):
        mark.p = 1.0


def test_user_event_in_stream_wrapper() -> None:
    wrapped = {"stream": "listenkey", "data": load("margin_call_um.json")}
    assert isinstance(dispatch.parse_user_event(wrapped), user_stream.BinanceMarginCallMsg)


def test_query_string_is_ignored() -> None:
    parsed = dispatch.parse_rest(
        "/fapi/v1/premiumIndex?symbol=BTCUSDT", load("premium_index_um.json")
    )
    assert isinstance(parsed, common.BinancePremiumIndex)


# ---------------------------------------------------------------------------------- bad input
def test_unknown_path() -> None:
    with pytest.raises(common.UnknownPath, match="/fapi/v9/nothing") as info:
        dispatch.parse_rest("/fapi/v9/nothing", {})
    assert info.value.path == "/fapi/v9/nothing"


def test_wrong_type_names_path_and_field() -> None:
    body = load("position_risk_v3_um.json")
    assert isinstance(body, list)
    body[1] = {**body[1], "positionAmt": "abc"}
    with pytest.raises(common.WireError) as info:
        dispatch.parse_rest("/fapi/v3/positionRisk", body)
    message = str(info.value)
    assert message.startswith("/fapi/v3/positionRisk[1]: positionAmt:")
    assert "abc" in message


def test_missing_field_names_nested_path() -> None:
    body = load("leverage_bracket_um_symbol.json")
    assert isinstance(body, dict)
    tier = {k: v for k, v in body["brackets"][0].items() if k != "maintMarginRatio"}
    with pytest.raises(common.WireError, match=r"brackets\[0\]\.maintMarginRatio: Field required"):
        dispatch.parse_rest("/fapi/v1/leverageBracket", {**body, "brackets": [tier]})


def test_many_errors_are_summarised() -> None:
    with pytest.raises(common.WireError, match=r"crossMarginInterest: Field required; and 3 more$"):
        dispatch.parse_rest("/papi/v1/balance", {"asset": "USDT"})


@pytest.mark.parametrize(
    "value", [None, True, [1], {"a": 1}, "NaN", "Infinity", "1e400", 10**400, "12abc"]
)
def test_bad_decimals_are_rejected(value: object) -> None:
    with pytest.raises(common.WireError, match="premiumIndex: markPrice"):
        dispatch.parse_rest("/fapi/v1/premiumIndex", {"symbol": "BTCUSDT", "markPrice": value})


@pytest.mark.parametrize("value", [True, 1.5, "12x", None])
def test_bad_integers_are_rejected(value: object) -> None:
    with pytest.raises(common.WireError, match="listenKeyExpired: E"):
        dispatch.parse_user_event({"e": "listenKeyExpired", "E": value})


def test_integral_float_time_is_accepted() -> None:
    event = dispatch.parse_user_event({"e": "listenKeyExpired", "E": 1576653824250.0})
    assert event.E == 1576653824250


def test_bad_boolean_is_rejected() -> None:
    with pytest.raises(common.WireError, match="multiAssetsMargin"):
        dispatch.parse_rest("/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": "yes"})


def test_shape_mismatch() -> None:
    with pytest.raises(common.WireError, match="expected a JSON object, got an array"):
        dispatch.parse_rest("/fapi/v3/account", [])
    with pytest.raises(common.WireError, match="expected a JSON array, got dict"):
        dispatch.parse_rest("/fapi/v3/positionRisk", {"symbol": "BTCUSDT"})
    with pytest.raises(common.WireError, match="/papi/v1/account: <root>"):
        dispatch.parse_rest("/papi/v1/account", "NORMAL")


def test_unknown_and_malformed_user_events() -> None:
    with pytest.raises(common.UnknownEvent) as info:
        dispatch.parse_user_event({"e": "SOMETHING_NEW", "E": 1})
    assert info.value.name == "SOMETHING_NEW"
    with pytest.raises(common.WireError, match="missing or non-string event type"):
        dispatch.parse_user_event({"E": 1})
    with pytest.raises(common.WireError, match="expected a JSON object, got list"):
        dispatch.parse_user_event([])
    with pytest.raises(common.WireError, match=r"ACCOUNT_UPDATE: a\.B\[0\]\.cw: Field required"):
        dispatch.parse_user_event(
            {"e": "ACCOUNT_UPDATE", "E": 1, "a": {"B": [{"a": "USDT", "wb": "1"}]}}
        )


def test_parse_rest_items_checks_the_model() -> None:
    with pytest.raises(TypeError, match="BinancePmBalance"):
        dispatch.parse_rest_items("/fapi/v3/account", {}, portfolio.BinancePmBalance)
