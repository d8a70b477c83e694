"""The replay driver: REST groups (resync vs targeted refresh), streams, bad input counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.binance.schemas import WireError
from monitor.engine.model import Mode
from monitor.feed.recording import Line, Meta, NoteLine, RestLine, WsLine
from monitor.feed.replay import Replay

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def _exchange_info() -> dict[str, Any]:
    return {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "pair": "BTCUSDT",
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
            },
            {
                "symbol": "ETHUSDT",
                "pair": "ETHUSDT",
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": "ETH",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
            },
        ],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-100"}],
    }


def _brackets(mmr: float) -> list[dict[str, Any]]:
    return [
        {
            "symbol": s,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 50,
                    "notionalCap": 1e9,
                    "notionalFloor": 0,
                    "maintMarginRatio": mmr,
                    "cum": 0,
                }
            ],
        }
        for s in ("BTCUSDT", "ETHUSDT")
    ]


def _account(wallet: float) -> dict[str, Any]:
    asset = {
        "asset": "USDT",
        "walletBalance": str(wallet),
        "unrealizedProfit": "0",
        "marginBalance": str(wallet),
        "maintMargin": "0",
        "initialMargin": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "crossWalletBalance": str(wallet),
        "crossUnPnl": "0",
        "availableBalance": str(wallet),
        "maxWithdrawAmount": str(wallet),
        "updateTime": 1,
    }
    return {
        "totalInitialMargin": "0",
        "totalMaintMargin": "0",
        "totalWalletBalance": str(wallet),
        "totalUnrealizedProfit": "0",
        "totalMarginBalance": str(wallet),
        "totalPositionInitialMargin": "0",
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": str(wallet),
        "totalCrossUnPnl": "0",
        "availableBalance": str(wallet),
        "maxWithdrawAmount": str(wallet),
        "assets": [asset],
        "positions": [],
    }


def _position_risk(qty: float, entry: float, mark: float) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "BTCUSDT",
            "positionSide": "BOTH",
            "positionAmt": str(qty),
            "entryPrice": str(entry),
            "breakEvenPrice": str(entry),
            "markPrice": str(mark),
            "unRealizedProfit": str(qty * (mark - entry)),
            "liquidationPrice": "0",
            "isolatedMargin": "0",
            "notional": str(qty * mark),
            "marginAsset": "USDT",
            "isolatedWallet": "0",
            "initialMargin": "0",
            "maintMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "adl": 1,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": 1,
        }
    ]


def _snapshot(t: int, wallet: float = 10_000.0, qty: float = 1.0) -> list[Line]:
    return [
        RestLine(t, "GET", "/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": False}),
        RestLine(t, "GET", "/fapi/v1/exchangeInfo", _exchange_info()),
        RestLine(t, "GET", "/fapi/v1/leverageBracket", _brackets(0.01)),
        RestLine(t, "GET", "/fapi/v3/account", _account(wallet)),
        RestLine(t, "GET", "/fapi/v3/positionRisk", _position_risk(qty, 50_000.0, 50_000.0)),
    ]


def _mark(t: int, symbol: str, price: float) -> WsLine:
    data = {
        "e": "markPriceUpdate",
        "E": t,
        "s": symbol,
        "p": f"{price:.8f}",
        "i": f"{price:.8f}",
        "P": "0",
        "r": "0.0001",
        "T": t + 1000,
        "st": 1,
    }
    return WsLine(t, "market", {"stream": f"{symbol.lower()}@markPrice@1s", "data": data})


def _replay(lines: list[Line]) -> Replay:
    replay = Replay(Meta(account="t"))
    replay.run(lines)
    return replay


def test_snapshot_then_marks_move_the_figures() -> None:
    replay = _replay([*_snapshot(1), _mark(2, "BTCUSDT", 49_000.0), _mark(3, "ETHUSDT", 1.0)])
    book = replay.book
    assert book is not None and book.mode is Mode.USDM
    snap = book.snapshot()
    assert snap.equity == pytest.approx(10_000 - 1_000)
    assert snap.maint_margin == pytest.approx(490.0)
    assert replay.counters["market_frames"] == 2


def test_refresh_only_group_keeps_stream_updates_but_resync_replaces_them() -> None:
    user = {
        "e": "ACCOUNT_UPDATE",
        "E": 5,
        "T": 5,
        "a": {
            "m": "DEPOSIT",
            "B": [{"a": "USDT", "wb": "12000", "cw": "12000", "bc": "2000"}],
            "P": [],
        },
    }
    lines: list[Line] = [*_snapshot(1), WsLine(5, "user", user)]
    lines.append(RestLine(6, "GET", "/fapi/v1/leverageBracket", _brackets(0.02)))
    lines.append(NoteLine(7, "bracket refresh"))
    replay = _replay(lines)
    assert replay.book is not None
    snap = replay.book.snapshot()
    assert snap.equity == pytest.approx(12_000.0)  # the deposit survived the refresh
    assert snap.maint_margin == pytest.approx(1_000.0)  # brackets refreshed: 50,000 × 2 %
    assert replay.counters["resyncs"] == 0
    replay.feed(RestLine(8, "GET", "/fapi/v3/account", _account(7_000.0)))
    replay.flush()
    assert replay.counters["resyncs"] == 1
    assert replay.book.snapshot().equity == pytest.approx(7_000.0)


def test_bad_input_is_counted_and_survived() -> None:
    lines: list[Line] = [
        *_snapshot(1),
        WsLine(2, "market", {"e": "markPriceUpdate", "s": "BTCUSDT", "p": "not-a-number"}),
        WsLine(3, "user", {"e": "ACCOUNT_UPDATE", "E": "x"}),
        WsLine(4, "user", {"e": "SOMETHING_NEW", "E": 4}),
        RestLine(5, "GET", "/fapi/v9/unknown", {}),
        RestLine(6, "GET", "/fapi/v3/account", {"code": -1003, "msg": "banned"}, status=418),
        _mark(7, "BTCUSDT", 51_000.0),
    ]
    replay = _replay(lines)
    assert replay.counters["market_decode_errors"] == 1
    assert replay.counters["user_decode_errors"] == 1
    assert replay.counters["signal_UnknownUserEvent"] == 1
    assert replay.counters["rest_unknown_path"] == 1
    assert replay.counters["rest_error_status"] == 1
    assert "ignored unknown REST path /fapi/v9/unknown" in replay.warnings
    assert replay.book is not None
    assert replay.book.snapshot().equity == pytest.approx(11_000.0)


def test_stream_lines_before_any_snapshot_are_counted() -> None:
    replay = Replay(Meta())
    replay.feed(_mark(1, "BTCUSDT", 1.0))
    assert replay.counters["ws_before_snapshot"] == 1
    with pytest.raises(WireError, match="no usable REST snapshot"):
        replay.run([])


def test_sample_user_events_replay_without_errors() -> None:
    lines: list[Line] = list(_snapshot(1))
    for name in (
        "account_update_um.json",
        "order_trade_update_um_live_2026.json",
        "trade_lite_um_live.json",
        "margin_call_um.json",
        "account_config_update_leverage_um.json",
        "listen_key_expired_live.json",
    ):
        lines.append(WsLine(2, "user", json.loads((SAMPLES / name).read_text())))
    replay = _replay(lines)
    assert replay.counters["user_decode_errors"] == 0
    assert replay.counters["user_events"] == 6
    assert replay.book is not None
    assert replay.book.state.status == "MARGIN_CALL"
