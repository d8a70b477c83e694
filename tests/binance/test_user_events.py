"""Tests for monitor/binance/decode/user_events.py: user events → engine events and signals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.binance.decode.user_events import (
    NOTHING,
    ExchangeSignal,
    ListenKeyExpired,
    OpenLossRefresh,
    ResnapshotNeeded,
    Translation,
    UnknownUserEvent,
    translate,
    translate_frame,
)
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.dispatch import parse_user_event
from monitor.engine.book import Book
from monitor.engine.brackets import BracketTable
from monitor.engine.events import (
    AccountStatus,
    FuturesWallet,
    MarginBalance,
    MarginLiability,
    PositionUpdate,
)
from monitor.engine.model import AccountState, Asset, Contract, ContractKind, Mode

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def run(name: str, mode: Mode) -> Translation:
    return translate(parse_user_event(load(name)), mode)


def test_samples_directory_is_present() -> None:
    assert SAMPLES.is_dir(), f"sample fixtures missing: {SAMPLES}"


USER_SAMPLES = [
    ("account_update_um.json", Mode.USDM),
    ("account_update_cm.json", Mode.COINM),
    ("account_update_bnfcr_um.json", Mode.USDM),
    ("account_update_um_live_2021.json", Mode.USDM_MULTI_ASSETS),
    ("pm_account_update.json", Mode.PORTFOLIO_MARGIN),
    ("order_trade_update_um.json", Mode.USDM),
    ("order_trade_update_cm.json", Mode.COINM),
    ("order_trade_update_um_live_2021.json", Mode.USDM),
    ("order_trade_update_um_live_2026.json", Mode.USDM),
    ("pm_order_trade_update.json", Mode.PORTFOLIO_MARGIN),
    ("trade_lite_um.json", Mode.USDM),
    ("trade_lite_um_live.json", Mode.PORTFOLIO_MARGIN),
    ("margin_call_um.json", Mode.USDM),
    ("margin_call_cm.json", Mode.COINM),
    ("account_config_update_leverage_um.json", Mode.USDM),
    ("account_config_update_leverage_cm.json", Mode.COINM),
    ("account_config_update_multi_assets_um.json", Mode.USDM),
    ("pm_account_config_update.json", Mode.PORTFOLIO_MARGIN),
    ("listen_key_expired_um.json", Mode.USDM),
    ("listen_key_expired_cm.json", Mode.COINM),
    ("listen_key_expired_live.json", Mode.USDM),
    ("pm_listen_key_expired.json", Mode.PORTFOLIO_MARGIN),
    ("pm_risk_level_change.json", Mode.PORTFOLIO_MARGIN),
    ("pm_balance_update.json", Mode.PORTFOLIO_MARGIN),
    ("pm_outbound_account_position.json", Mode.PORTFOLIO_MARGIN),
    ("pm_liability_change.json", Mode.PORTFOLIO_MARGIN),
    ("pm_open_order_loss.json", Mode.PORTFOLIO_MARGIN),
]


@pytest.mark.parametrize(("name", "mode"), USER_SAMPLES)
def test_every_user_sample_translates(name: str, mode: Mode) -> None:
    result = translate_frame(load(name), mode)
    assert isinstance(result, Translation)
    assert not any(isinstance(sig, UnknownUserEvent) for sig in result.signals)


# ---------------------------------------------------------------------------------- ACCOUNT_UPDATE
def test_account_update_um_uses_cross_wallet() -> None:
    result = run("account_update_um.json", Mode.USDM)
    assert result.signals == ()
    assert result.events == (
        FuturesWallet("USDT", 100.12345678, "UM"),
        FuturesWallet("BUSD", 0.0, "UM"),
        PositionUpdate("BTCUSDT", "BOTH", 0.0, 0.0, True, 0.0),
        PositionUpdate("BTCUSDT", "LONG", 20.0, 6563.665, True, 13200.70726908),
        PositionUpdate("BTCUSDT", "SHORT", -10.0, 6563.86, True, 6570.42511771),
    )


def test_account_update_cm_is_cm_product() -> None:
    result = run("account_update_cm.json", Mode.COINM)
    assert result.events[0] == FuturesWallet("BTC", 100.12345678, "CM")
    assert PositionUpdate("BTCUSD_200925", "SHORT", -10.0, 6563.8, True, 6570.42511771) in (
        result.events
    )


def test_account_update_pm_uses_wallet_balance_and_fs() -> None:
    result = run("pm_account_update.json", Mode.PORTFOLIO_MARGIN)
    assert result.events[:2] == (
        FuturesWallet("USDT", 122624.12345678, "UM"),
        FuturesWallet("BUSD", 1.0, "UM"),
    )
    assert result.events[3] == PositionUpdate("BTCUSDT", "LONG", 20.0, 6563.665, False, 0.0)
    cm = {**load("pm_account_update.json"), "fs": "CM"}
    assert translate_frame(cm, Mode.PORTFOLIO_MARGIN).events[0] == FuturesWallet(
        "USDT", 122624.12345678, "CM"
    )


def test_funding_fee_has_balances_only() -> None:
    result = run("account_update_bnfcr_um.json", Mode.USDM)
    assert result.events == (FuturesWallet("BNFCR", 5001.28983031, "UM"),)


def test_account_update_drives_the_book() -> None:
    """The 2021 live capture opens BTCUSDT 5 @ 39,560.5 with 41,155.75 USDT cross wallet."""
    state = AccountState(
        Mode.USDM,
        contracts={
            "BTCUSDT": Contract(
                "BTCUSDT", ContractKind.LINEAR, "USDT", "BTC", BracketTable.flat(0.004)
            )
        },
        marks={"BTCUSDT": 39842.0},
        assets={"USDT": Asset("USDT", cross_wallet=1000.0)},
    )
    book = Book(state)
    for event in run("account_update_um_live_2021.json", Mode.USDM).events:
        book.apply(event)
    assert state.positions[("BTCUSDT", "BOTH")].qty == 5.0
    assert ("BTCUSDT", "LONG") not in state.positions
    upnl = 5.0 * (39842.0 - 39560.5)
    assert book.risk == pytest.approx(5.0 * 39842.0 * 0.004 / (41155.75036105 + upnl), rel=1e-12)


# ---------------------------------------------------------------------------------- other events
def test_margin_call() -> None:
    result = run("margin_call_um.json", Mode.USDM)
    assert result.events == (AccountStatus("MARGIN_CALL"),)
    (signal,) = result.signals
    assert isinstance(signal, ExchangeSignal)
    assert (signal.kind, signal.event_time) == ("MARGIN_CALL", 1587727187525)
    assert "ETHUSDT LONG mm 1.61444" in signal.detail and "cross wallet 3.16812" in signal.detail


def test_margin_call_isolated_without_positions() -> None:
    event = {"e": "MARGIN_CALL", "E": 5, "p": []}
    (signal,) = translate_frame(event, Mode.COINM).signals
    assert signal == ExchangeSignal("MARGIN_CALL", "no positions listed", 5)


def test_risk_level_change() -> None:
    result = run("pm_risk_level_change.json", Mode.PORTFOLIO_MARGIN)
    assert result.events == (AccountStatus("MARGIN_CALL"),)
    (signal,) = result.signals
    assert isinstance(signal, ExchangeSignal)
    assert signal.kind == "MARGIN_CALL"
    assert signal.detail.startswith("uniMMR 2, equity 30.2342 USD")


def test_config_updates() -> None:
    assert run("account_config_update_leverage_um.json", Mode.USDM) == NOTHING
    assert run("pm_account_config_update.json", Mode.PORTFOLIO_MARGIN) == NOTHING
    result = run("account_config_update_multi_assets_um.json", Mode.USDM)
    assert result.signals == (ResnapshotNeeded("Multi-Assets mode switched on", 1611646737479),)
    off = {**load("account_config_update_multi_assets_um.json"), "ai": {"j": False}}
    assert translate_frame(off, Mode.USDM_MULTI_ASSETS).signals[0] == ResnapshotNeeded(
        "Multi-Assets mode switched off", 1611646737479
    )


@pytest.mark.parametrize(
    "name", ["order_trade_update_um.json", "pm_order_trade_update.json", "trade_lite_um.json"]
)
def test_orders_refresh_open_loss_in_pm_only(name: str) -> None:
    pm = run(name, Mode.PORTFOLIO_MARGIN)
    assert pm.events == ()
    (signal,) = pm.signals
    assert isinstance(signal, OpenLossRefresh)
    assert run(name, Mode.USDM) == NOTHING


@pytest.mark.parametrize(
    ("name", "time"),
    [
        ("listen_key_expired_um.json", 1736996475556),
        ("listen_key_expired_cm.json", 1576653824250),
        ("listen_key_expired_live.json", 1693427319838),
        ("pm_listen_key_expired.json", 1576653824250),
    ],
)
def test_listen_key_expired(name: str, time: int) -> None:
    assert run(name, Mode.USDM).signals == (ListenKeyExpired(time),)


def test_margin_leg_events() -> None:
    mode = Mode.PORTFOLIO_MARGIN
    assert run("pm_outbound_account_position.json", mode).events == (
        MarginBalance("ETH", 10000.0, 0.0),
    )
    # `l` (1.03476851), the total liability after the change, not `p`, this borrow's principal
    assert run("pm_liability_change.json", mode).events == (
        MarginLiability("BTC", 1.03476851, 0.0, "BORROW"),
    )
    assert run("pm_balance_update.json", mode) == NOTHING
    assert run("pm_open_order_loss.json", mode).signals == (OpenLossRefresh(1678710578788),)


# ---------------------------------------------------------------------------------- frames
def test_unknown_and_ignored_events() -> None:
    unknown = translate_frame({"e": "uniMMRDrop", "E": "17"}, Mode.PORTFOLIO_MARGIN)
    assert unknown.signals == (UnknownUserEvent("uniMMRDrop", 17),)
    wrapped = translate_frame({"stream": "k", "data": {"e": "NEW", "E": 3}}, Mode.USDM)
    assert wrapped.signals == (UnknownUserEvent("NEW", 3),)
    assert translate_frame({"e": "NEW", "E": "x"}, Mode.USDM).signals == (
        UnknownUserEvent("NEW", None),
    )
    assert translate_frame({"e": "ALGO_UPDATE", "E": 1}, Mode.USDM) == NOTHING


def test_malformed_frames_raise() -> None:
    with pytest.raises(WireError, match="ACCOUNT_UPDATE: a: Field required"):
        translate_frame({"e": "ACCOUNT_UPDATE", "E": 1}, Mode.USDM)
    with pytest.raises(WireError, match="missing or non-string event type"):
        translate_frame({"E": 1}, Mode.USDM)
