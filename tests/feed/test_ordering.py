"""User updates are ordered by `E` per item: a late frame never rolls an item back, the items it
alone carries still apply, a resync's REST rows floor the stamps at their `updateTime`, and any
delivery order ends in the state of the newest updates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.ingest import Replay
from monitor.engine.events import EngineEvent, FuturesWallet, MarkPrice, PositionUpdate
from monitor.feed.ordering import EventOrder, item_key, rest_stamps
from monitor.feed.recording import Line, Meta, RestLine, WsLine
from tests.budgets import examples
from tests.recordings import snapshot


def _update(e: int, *, usdt: float | None = None, btc_qty: float | None = None,
            eth_qty: float | None = None) -> WsLine:
    balances = [] if usdt is None else [{"a": "USDT", "wb": f"{usdt}", "cw": f"{usdt}", "bc": "0"}]
    positions: list[dict[str, Any]] = []
    for symbol, qty in (("BTCUSDT", btc_qty), ("ETHUSDT", eth_qty)):
        if qty is not None:
            positions.append({"s": symbol, "pa": f"{qty}", "ep": "50000" if symbol == "BTCUSDT"
                              else "2000", "cr": "0", "up": "0", "mt": "cross", "iw": "0",
                              "ps": "BOTH"})
    data = {"e": "ACCOUNT_UPDATE", "E": e, "T": e,
            "a": {"m": "ORDER", "B": balances, "P": positions}}
    return WsLine(e, "user", data)


def _replay(lines: list[Line]) -> Replay:
    replay = Replay(Meta(account="t"))
    replay.run(lines)
    assert replay.book is not None
    return replay


def _qty(replay: Replay, symbol: str) -> float:
    assert replay.book is not None
    pos = replay.book.state.positions.get((symbol, "BOTH"))
    return 0.0 if pos is None else pos.qty


def _wallet(replay: Replay) -> float:
    assert replay.book is not None
    return replay.book.state.assets["USDT"].cross_wallet


def test_a_late_update_does_not_roll_a_position_back() -> None:
    newer = _update(300, btc_qty=0.25)
    older = _update(200, btc_qty=2.0)
    replay = _replay([*snapshot(1), newer, older])
    assert _qty(replay, "BTCUSDT") == 0.25
    assert replay.counters["user_stale_updates"] == 1
    assert replay.order.dropped == 1


def test_a_late_frame_still_applies_the_items_it_alone_carries() -> None:
    newer = _update(300, btc_qty=0.25)
    older = _update(200, btc_qty=2.0, usdt=9_000.0)
    replay = _replay([*snapshot(1), newer, older])
    assert _qty(replay, "BTCUSDT") == 0.25  # the newer frame set it
    assert _wallet(replay) == 9_000.0  # only the older frame names USDT: nothing newer to keep
    assert replay.counters["user_stale_updates"] == 1


def test_a_repeated_frame_applies_again_and_is_not_counted() -> None:
    first = _update(300, btc_qty=0.5, usdt=9_500.0)
    replay = _replay([*snapshot(1), first, first])
    assert _qty(replay, "BTCUSDT") == 0.5 and _wallet(replay) == 9_500.0
    assert replay.counters["user_stale_updates"] == 0


def test_stamps_outlive_a_resync() -> None:
    newer = _update(300, btc_qty=0.25)
    older = _update(200, btc_qty=2.0)
    replay = _replay([*snapshot(1), newer, *snapshot(400, qty=0.25), older])
    assert _qty(replay, "BTCUSDT") == 0.25
    assert replay.counters["resyncs"] == 1
    assert replay.counters["user_stale_updates"] == 1


def test_a_resync_floors_the_stamps_at_its_rows_update_times() -> None:
    """An update older than the snapshot's own rows is older than the snapshot, even for an
    item no update has touched: REST `updateTime` raises the stamps."""
    lines = snapshot(1, qty=0.25)
    for line in lines:
        if isinstance(line, RestLine) and line.path == "/fapi/v3/positionRisk":
            line.data[0]["updateTime"] = 500
        if isinstance(line, RestLine) and line.path == "/fapi/v3/account":
            line.data["assets"][0]["updateTime"] = "700"  # a string on some endpoints
    replay = _replay([*lines, _update(400, btc_qty=2.0, usdt=1.0), _update(600, usdt=2.0)])
    assert _qty(replay, "BTCUSDT") == 0.25  # 400 < the row's 500
    assert _wallet(replay) == 10_000.0  # 400 and 600 < the asset row's 700
    assert replay.counters["user_stale_updates"] == 3
    assert replay.order.stamp(("position", "BTCUSDT", "BOTH")) == 500
    replay.feed(_update(800, btc_qty=0.5))
    assert _qty(replay, "BTCUSDT") == 0.5  # newer than the snapshot: applied


def test_rest_stamps_read_every_row_kind() -> None:
    rest = {
        "/fapi/v3/positionRisk": [{"symbol": "A", "positionSide": "LONG", "updateTime": 5},
                                  {"symbol": "B", "positionSide": "BOTH", "updateTime": 0},
                                  {"symbol": "C", "updateTime": True}],
        "/dapi/v1/account": {"assets": [{"asset": "BTC", "updateTime": 7}],
                             "positions": [{"symbol": "BTCUSD_PERP", "positionSide": "BOTH",
                                            "updateTime": 9}]},
        "/papi/v1/balance": [{"asset": "ETH", "updateTime": "11"}],
        "/fapi/v1/premiumIndex": [{"symbol": "A", "time": 99, "updateTime": 99}],
    }
    assert rest_stamps(rest) == {
        ("position", "A", "LONG"): 5,
        ("wallet", "CM", "BTC"): 7,
        ("position", "BTCUSD_PERP", "BOTH"): 9,
        ("wallet", "UM", "ETH"): 11,
        ("wallet", "CM", "ETH"): 11,
        ("margin", "ETH"): 11,
        ("liability", "ETH"): 11,
    }


def test_a_rejected_frame_stamps_nothing() -> None:
    order = EventOrder()
    events: list[EngineEvent] = [PositionUpdate("BTCUSDT", "BOTH", 1.0, 50_000.0)]
    kept, dropped = order.fresh(events, 500)
    assert kept == events and dropped == 0
    assert order.stamp(("position", "BTCUSDT", "BOTH")) is None  # not committed
    order.commit(kept, 500, dropped)
    assert order.stamp(("position", "BTCUSDT", "BOTH")) == 500


def test_frames_without_event_time_and_non_item_events_pass() -> None:
    order = EventOrder()
    order.commit([FuturesWallet("USDT", 1.0)], 900, 0)
    late = [FuturesWallet("USDT", 2.0), MarkPrice("BTCUSDT", 1.0)]
    assert order.fresh(late, None) == (late, 0)
    kept, dropped = order.fresh(late, 100)
    assert kept == [MarkPrice("BTCUSDT", 1.0)] and dropped == 1
    assert item_key(MarkPrice("BTCUSDT", 1.0)) is None


@st.composite
def _deliveries(draw: st.DrawFn) -> tuple[list[WsLine], dict[str, float]]:
    """Updates with distinct event times, each setting a random subset of three items, and
    the final values the newest update of each item sets; delivered in a random order."""
    n = draw(st.integers(1, 12))
    times = draw(st.lists(st.integers(10, 10_000), min_size=n, max_size=n, unique=True))
    frames: list[tuple[int, dict[str, float]]] = []
    for e in times:
        items = draw(st.dictionaries(st.sampled_from(["usdt", "btc_qty", "eth_qty"]),
                                     st.integers(1, 40).map(lambda k: k / 4), min_size=1))
        frames.append((e, items))
    newest: dict[str, tuple[int, float]] = {}
    for e, items in frames:
        for name, value in items.items():
            if name not in newest or newest[name][0] < e:
                newest[name] = (e, value)
    order = draw(st.permutations(frames))
    lines = [_update(e, **items) for e, items in order]
    return lines, {name: value for name, (_, value) in newest.items()}


@settings(max_examples=examples(200), deadline=None)
@given(_deliveries())
def test_any_delivery_order_ends_in_the_newest_values(
    case: tuple[list[WsLine], dict[str, float]],
) -> None:
    lines, final = case
    replay = _replay([*snapshot(1), *lines])
    expected_wallet = final.get("usdt", 10_000.0)
    assert _wallet(replay) == pytest.approx(expected_wallet)
    assert _qty(replay, "BTCUSDT") == final.get("btc_qty", 1.0)
    assert _qty(replay, "ETHUSDT") == final.get("eth_qty", 0.0)
    in_order = _replay([*snapshot(1), *sorted(lines, key=lambda ln: ln.t)])
    assert in_order.counters["user_stale_updates"] == 0
    assert replay.book is not None and in_order.book is not None
    assert replay.book.snapshot() == in_order.book.snapshot()
