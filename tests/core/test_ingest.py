"""The replay driver: REST groups (resync vs targeted refresh), streams, bad input counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.binance.schemas.common import WireError
from monitor.core.ingest import Replay
from monitor.engine.model import Mode
from monitor.feed.recording import Line, Meta, NoteLine, RestLine, WsLine
from tests.recordings import account, brackets, mark, snapshot

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def _replay(lines: list[Line]) -> Replay:
    replay = Replay(Meta(account="t"))
    replay.run(lines)
    return replay


def test_snapshot_then_marks_move_the_figures() -> None:
    replay = _replay([*snapshot(1), mark(2, "BTCUSDT", 49_000.0), mark(3, "ETHUSDT", 1.0)])
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
    lines: list[Line] = [*snapshot(1), WsLine(5, "user", user)]
    lines.append(RestLine(6, "GET", "/fapi/v1/leverageBracket", brackets(0.02)))
    lines.append(NoteLine(7, "bracket refresh"))
    replay = _replay(lines)
    assert replay.book is not None
    snap = replay.book.snapshot()
    assert snap.equity == pytest.approx(12_000.0)  # the deposit survived the refresh
    assert snap.maint_margin == pytest.approx(1_000.0)  # brackets refreshed: 50,000 × 2 %
    assert replay.counters["resyncs"] == 0
    replay.feed(RestLine(8, "GET", "/fapi/v3/account", account(7_000.0)))
    replay.flush()
    assert replay.counters["resyncs"] == 1
    assert replay.book.snapshot().equity == pytest.approx(7_000.0)


def test_bad_input_is_counted_and_survived() -> None:
    lines: list[Line] = [
        *snapshot(1),
        WsLine(2, "market", {"e": "markPriceUpdate", "s": "BTCUSDT", "p": "not-a-number"}),
        WsLine(3, "user", {"e": "ACCOUNT_UPDATE", "E": "x"}),
        WsLine(4, "user", {"e": "SOMETHING_NEW", "E": 4}),
        RestLine(5, "GET", "/fapi/v9/unknown", {}),
        RestLine(6, "GET", "/fapi/v3/account", {"code": -1003, "msg": "banned"}, status=418),
        mark(7, "BTCUSDT", 51_000.0),
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
    replay.feed(mark(1, "BTCUSDT", 1.0))
    assert replay.counters["ws_before_snapshot"] == 1
    with pytest.raises(WireError, match="no usable REST snapshot"):
        replay.run([])


def test_sample_user_events_replay_without_errors() -> None:
    lines: list[Line] = list(snapshot(1))
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
