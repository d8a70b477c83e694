"""The fake exchange's ledger: REST bodies follow what was played, so a resync from the fake's
REST gives the state a stream-following client has, and its account totals reconcile."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import aiohttp
import pytest

from monitor.binance.decode.snapshot import build_state
from monitor.core.ingest import Replay
from monitor.engine.book import Book
from monitor.engine.model import Mode
from monitor.engine.risk import RiskSnapshot
from monitor.examples import path as example
from monitor.feed.reconcile import account_path, drifted, figures
from monitor.feed.recording import Line, Meta, RestLine, WsLine, read_recording
from monitor.sim.ledger import Ledger
from monitor.sim.rest_schedule import RestSchedule
from tests.sim.conftest import MakeSim
from tests.sim.helpers import KEY, T0, mark, rest, signed_query, wait_until, ws, ws_connect

RECORDINGS = ("usdm", "usdm_multi_assets", "coinm", "portfolio_margin")
#: Besides after every user event: compare every this many market frames.
EVERY = 40


def _lines(name: str) -> tuple[Meta, list[Line]]:
    meta, lines = read_recording(example(name))
    return meta, list(lines)


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _resync_snapshot(ledger: Ledger, mode: Mode) -> RiskSnapshot:
    """What a client resyncing from the fake's REST right now computes."""
    return Book(build_state(ledger.bodies(), mode)).snapshot()


def _assert_same(resynced: RiskSnapshot, followed: RiskSnapshot, where: str) -> None:
    for name in ("risk", "equity", "maint_margin"):
        a, b = getattr(resynced, name), getattr(followed, name)
        assert _close(a, b), f"{where}: {name} {a!r} (resync) != {b!r} (stream)"
    assert resynced.status == followed.status, where
    pools_a = {p.key: p for p in resynced.pools}
    pools_b = {p.key: p for p in followed.pools}
    assert pools_a.keys() == pools_b.keys(), where
    for key, pool in pools_b.items():
        assert _close(pools_a[key].equity, pool.equity), f"{where}: pool {key} equity"
        assert _close(pools_a[key].maint_margin, pool.maint_margin), f"{where}: pool {key} MM"
    legs_a = {(leg.symbol, leg.side): leg.qty for leg in resynced.legs}
    assert legs_a == {(leg.symbol, leg.side): leg.qty for leg in followed.legs}, where


def _assert_reconciles(ledger: Ledger, snap: RiskSnapshot, where: str) -> None:
    path = account_path(snap.mode)
    found = ledger.answer(path)
    assert found is not None and found[1] == 200, where
    figs = figures(snap, path, found[0])
    assert figs, f"{where}: no comparable figures in {path}"
    bad = [f for f in figs if drifted(f, rel_tol=1e-9, abs_tol=1e-8)]
    assert not bad, f"{where}: drifted {bad}"


@pytest.mark.parametrize("name", RECORDINGS)
def test_resync_from_ledger_matches_stream_follower(name: str) -> None:
    meta, lines = _lines(name)
    ledger, replay = Ledger(meta), Replay(meta)
    user_events = checked_after_user = markets = pending_user = 0
    for i, line in enumerate(lines):
        ledger.feed(line)
        replay.feed(line)
        if isinstance(line, WsLine):
            if line.conn == "user":
                user_events += 1
                pending_user += 1
            else:
                markets += 1
        following = lines[i + 1] if i + 1 < len(lines) else None
        if isinstance(following, RestLine):
            continue  # the REST answers recorded right after an event belong to it
        if not (pending_user or markets % EVERY == 0 or following is None):
            continue
        if replay.settling:
            continue  # a held event group (liabilityChange …) is compared once it is applied
        replay.flush()
        if replay.book is None:
            continue
        where = f"{name} line {i + 2}"
        followed = replay.book.snapshot()
        _assert_same(_resync_snapshot(ledger, replay.book.mode), followed, where)
        _assert_reconciles(ledger, followed, where)
        checked_after_user += pending_user
        pending_user = 0
    assert checked_after_user == user_events
    assert ledger.counters["totals_unavailable"] == 0
    assert not any(key.startswith("bad_") for key in ledger.counters), ledger.counters


def test_usdm_bodies_after_the_recorded_user_events() -> None:
    meta, lines = _lines("usdm")
    ledger = Ledger(meta)
    for line in lines:
        ledger.feed(line)
    risk = ledger.answer("/fapi/v3/positionRisk")
    assert risk is not None
    rows = {(r["symbol"], r["positionSide"]): r for r in risk[0]}
    assert rows[("ETHUSDT", "SHORT")]["positionAmt"] == "-10.000"
    assert rows[("ETHUSDT", "SHORT")]["entryPrice"] == "3149.64000"
    assert ("ETHUSDT", "BOTH") not in rows  # a flat leg is not listed by v3
    sol = rows[("SOLUSDT", "LONG")]
    assert sol["isolatedWallet"] == "2896.93760000"
    mark_price, entry = float(sol["markPrice"]), float(sol["entryPrice"])
    assert float(sol["unRealizedProfit"]) == pytest.approx(110 * (mark_price - entry), abs=1e-8)
    assert float(sol["isolatedMargin"]) == pytest.approx(
        2896.9376 + float(sol["unRealizedProfit"]), abs=1e-8
    )
    account = ledger.answer("/fapi/v3/account")
    assert account is not None
    usdt = next(a for a in account[0]["assets"] if a["asset"] == "USDT")
    assert (usdt["walletBalance"], usdt["crossWalletBalance"]) == (
        "12887.55700000",
        "9990.61940000",
    )
    assert account[0]["totalMaintMargin"] == usdt["maintMargin"]  # single-asset: USDT totals


def test_coinm_isolated_wallet_survives_repricing() -> None:
    meta, lines = _lines("coinm")
    ledger = Ledger(meta)
    for line in lines:
        ledger.feed(line)
    risk = ledger.answer("/dapi/v1/positionRisk")
    assert risk is not None
    row = next(r for r in risk[0] if r["symbol"] == "BTCUSD_260925")
    assert row["markPrice"] != "96110.00000000"  # moved with the stream
    size, qty, entry = 100.0, 400.0, 95850.0
    expected = qty * size * (1 / entry - 1 / float(row["markPrice"]))
    assert float(row["unRealizedProfit"]) == pytest.approx(expected, abs=1e-8)
    assert float(row["notionalValue"]) == pytest.approx(qty * size / float(row["markPrice"]))
    # dapi rows carry no isolatedWallet: margin − uPnL must give the wallet back exactly
    wallet = float(row["isolatedMargin"]) - float(row["unRealizedProfit"])
    assert wallet == pytest.approx(0.05, abs=1e-15)


def test_pm_margin_events_and_open_loss_follow_the_exchange() -> None:
    meta, lines = _lines("portfolio_margin")
    ledger = Ledger(meta)
    later_accounts: list[dict[str, Any]] = []
    seen_open_loss = False
    for line in lines:
        if seen_open_loss and isinstance(line, RestLine) and line.path == "/papi/v1/account":
            later_accounts.append(line.data)
            break
        ledger.feed(line)
        if isinstance(line, WsLine) and line.data.get("e") == "openOrderLoss":
            seen_open_loss = True
            account = ledger.answer("/papi/v1/account")
            assert account is not None
            open_loss = account[0]["totalMarginOpenLoss"]
    # the daemon re-reads the account after openOrderLoss: the fake already has the new total
    assert open_loss == "1862.50000000" == later_accounts[0]["totalMarginOpenLoss"]
    balance = ledger.answer("/papi/v1/balance")
    assert balance is not None
    usdt = next(r for r in balance[0] if r["asset"] == "USDT")
    assert (usdt["crossMarginFree"], usdt["crossMarginLocked"]) == (
        "61500.00000000",
        "37250.00000000",
    )
    assert usdt["crossMarginAsset"] == "98750.00000000"  # free + locked, unchanged in total

    ledger = Ledger(meta)
    for line in lines:
        ledger.feed(line)
    account, balance = ledger.answer("/papi/v1/account"), ledger.answer("/papi/v1/balance")
    assert account is not None and balance is not None
    rows = {r["asset"]: r for r in balance[0]}
    assert rows["USDT"]["crossMarginBorrowed"] == "1341873.42000000"  # liabilityChange
    assert rows["USDT"]["crossMarginFree"] == "35000.00000000"  # outboundAccountPosition
    assert rows["USDT"]["umWalletBalance"] == "1521.63173600"  # ACCOUNT_UPDATE fs=UM
    assert rows["BTC"]["cmWalletBalance"] == "0.35017405"  # ACCOUNT_UPDATE fs=CM
    assert rows["BTC"]["totalWalletBalance"] == "12.35017405"  # moved by the same delta
    assert float(account[0]["uniMMR"]) > 1.05


def test_pm_balance_update_delta_then_absolute_and_risk_level() -> None:
    meta, lines = _lines("portfolio_margin")
    ledger = Ledger(meta)
    for line in lines:
        if isinstance(line, WsLine):
            break
        ledger.feed(line)
    ledger.apply_user({"e": "balanceUpdate", "E": T0, "a": "USDT", "d": "-500.00000000"})
    balance = ledger.answer("/papi/v1/balance")
    assert balance is not None
    usdt = next(r for r in balance[0] if r["asset"] == "USDT")
    assert usdt["crossMarginFree"] == "94500.00000000"
    assert usdt["crossMarginAsset"] == "98250.00000000"
    assert usdt["totalWalletBalance"] == "99500.00000000"
    outbound = {
        "e": "outboundAccountPosition",
        "E": T0,
        "u": T0,
        "U": 1,
        "B": [{"a": "USDT", "f": "94500.00000000", "l": "3750.00000000"}],
    }
    ledger.apply_user(outbound)  # the absolute balance Binance sends along: no double count
    assert usdt["crossMarginFree"] == "94500.00000000"
    assert usdt["totalWalletBalance"] == "99500.00000000"
    ledger.apply_user({"e": "balanceUpdate", "E": T0, "a": "USDC", "d": "3"})
    usdc = next(r for r in balance[0] if r["asset"] == "USDC")  # a new asset row
    assert usdc["crossMarginFree"] == "3.00000000" and usdc["umWalletBalance"] == "0.00000000"
    ledger.apply_user(
        {
            "e": "riskLevelChange",
            "E": T0,
            "u": "1.1",
            "s": "REDUCE_ONLY",
            "eq": "1",
            "ae": "1",
            "m": "1",
        }
    )
    ledger.apply_user(
        {
            "e": "openOrderLoss",
            "E": T0,
            "O": [{"a": "USDT", "o": "-10"}, {"a": "BTC", "o": "-0.001"}],
        }
    )
    account = ledger.answer("/papi/v1/account")
    assert account is not None
    assert account[0]["accountStatus"] == "REDUCE_ONLY"
    assert account[0]["totalMarginOpenLoss"] == "105.00000000"  # 10 + 0.001 × 95000 (index)
    state = build_state(ledger.bodies(), Mode.PORTFOLIO_MARGIN)
    assert state.status == "REDUCE_ONLY" and state.open_loss_usd == 105.0
    ledger.apply_user({"e": "openOrderLoss", "E": T0, "O": [{"a": "XYZ", "o": "-1"}]})
    assert ledger.counters["open_loss_unpriced"] == 1
    assert account[0]["totalMarginOpenLoss"] == "105.00000000"


def _account_update(
    *positions: dict[str, Any], balances: Any = (), at: int = T0
) -> dict[str, Any]:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": at,
        "T": at,
        "a": {"m": "ORDER", "B": list(balances), "P": list(positions)},
    }


def _pos(symbol: str, side: str, amt: str, entry: str, **extra: str) -> dict[str, Any]:
    return {
        "s": symbol,
        "pa": amt,
        "ep": entry,
        "bep": entry,
        "cr": "0",
        "up": "0",
        "mt": "cross",
        "iw": "0",
        "ps": side,
        **extra,
    }


def test_new_symbol_gets_rows_and_a_resync_agrees_with_the_stream() -> None:
    meta, lines = _lines("usdm")
    ledger, replay = Ledger(meta), Replay(meta)
    for line in lines:
        ledger.feed(line)
        replay.feed(line)
    at = lines[-1].t + 1_000  # after the recording's own updates (older ones are dropped)
    opened = _account_update(
        _pos("XRPUSDT", "LONG", "5000", "2.2000"), _pos("ETHUSDT", "SHORT", "0", "0.00000"),
        at=at,
    )
    tick = mark("XRPUSDT", at, "2.25000000")
    for line in (WsLine(at, "user", opened), WsLine(at + 1, "market", tick)):
        ledger.feed(line)
        replay.feed(line)
    risk = ledger.answer("/fapi/v3/positionRisk")
    account = ledger.answer("/fapi/v3/account")
    assert risk is not None and account is not None
    xrp = next(r for r in risk[0] if r["symbol"] == "XRPUSDT")
    assert (xrp["positionSide"], xrp["positionAmt"], xrp["entryPrice"]) == (
        "LONG",
        "5000",
        "2.2000",
    )
    assert xrp["markPrice"] == "2.25000000" and xrp["marginAsset"] == "USDT"
    assert xrp["unRealizedProfit"] == "250.00000000" and xrp["notional"] == "11250.00000000"
    assert xrp["maintMargin"] == "0.00000000" and xrp["updateTime"] == at
    assert not any(r["symbol"] == "ETHUSDT" and r["positionSide"] == "SHORT" for r in risk[0])
    positions = {(p["symbol"], p["positionSide"]) for p in account[0]["positions"]}
    assert ("XRPUSDT", "LONG") in positions and ("ETHUSDT", "SHORT") not in positions
    assert replay.book is not None
    followed = replay.book.snapshot()
    _assert_same(_resync_snapshot(ledger, Mode.USDM), followed, "after a new symbol")
    _assert_reconciles(ledger, followed, "after a new symbol")


def test_new_row_copies_leverage_and_fields_from_the_same_file() -> None:
    rows = [
        {
            "symbol": "BTCUSDT",
            "positionSide": "LONG",
            "positionAmt": "1",
            "entryPrice": "100",
            "breakEvenPrice": "100",
            "markPrice": "110",
            "unRealizedProfit": "10",
            "liquidationPrice": "50",
            "leverage": "7",
            "maxNotionalValue": "1000000",
            "marginType": "cross",
            "isolatedMargin": "0",
            "isAutoAddMargin": "false",
            "notional": "110",
            "isolatedWallet": "0",
            "updateTime": 1,
        },
    ]
    ledger = Ledger(Meta(mode="usdm"))
    ledger.apply_rest("/fapi/v2/positionRisk", rows)
    ledger.apply_user(
        _account_update(
            _pos("BTCUSDT", "SHORT", "-2", "120"),
            _pos("ETHUSDT", "BOTH", "3", "10", mt="isolated", iw="4.5"),
        )
    )
    found = ledger.answer("/fapi/v2/positionRisk")
    assert found is not None
    body = {(r["symbol"], r["positionSide"]): r for r in found[0]}
    assert rows[0] == body[("BTCUSDT", "LONG")]  # the recording itself is not modified
    short = body[("BTCUSDT", "SHORT")]
    assert short["leverage"] == "7" and short["maxNotionalValue"] == "1000000"
    assert short["markPrice"] == "110"  # the symbol's last known mark
    assert short["unRealizedProfit"] == "20.00000000" and short["notional"] == "-220.00000000"
    assert short["liquidationPrice"] == "0"
    eth = body[("ETHUSDT", "BOTH")]
    assert eth["leverage"] == "20" and eth["marginType"] == "isolated"
    assert eth["isolatedWallet"] == "4.50000000" and eth["entryPrice"] == "10"
    ledger.apply_market({"stream": "ethusdt@markPrice", "data": mark("ETHUSDT", price="11")})
    assert eth["unRealizedProfit"] == "3.00000000" and eth["isolatedMargin"] == "7.50000000"
    ledger.apply_user(
        {"e": "ACCOUNT_CONFIG_UPDATE", "E": T0, "T": T0, "ac": {"s": "BTCUSDT", "l": 25}}
    )
    assert short["leverage"] == "25" and body[("BTCUSDT", "LONG")]["leverage"] == "25"
    ledger.apply_user(_account_update(_pos("BTCUSDT", "SHORT", "0", "0")))
    assert short["positionAmt"] == "0" and short["unRealizedProfit"] == "0.00000000"  # v2 keeps it


def test_marks_and_asset_index_update_their_rows() -> None:
    meta, lines = _lines("usdm_multi_assets")
    ledger = Ledger(meta)
    for line in lines:
        if isinstance(line, RestLine):
            ledger.feed(line)
    frame = [
        mark("BTCUSDT", T0, "21000.50000000", i="20990.10000000"),
        mark("NEWUSDT", T0, "1.50000000"),
    ]
    ledger.apply_market(frame)
    premium = ledger.answer("/fapi/v1/premiumIndex")
    assert premium is not None
    rows = {r["symbol"]: r for r in premium[0]}
    assert rows["BTCUSDT"]["markPrice"] == "21000.50000000"
    assert rows["BTCUSDT"]["indexPrice"] == "20990.10000000"
    assert rows["BTCUSDT"]["time"] == T0
    assert rows["NEWUSDT"]["markPrice"] == "1.50000000"  # a symbol the body lacked
    risk = ledger.answer("/fapi/v3/positionRisk")
    assert risk is not None
    btc = next(r for r in risk[0] if r["symbol"] == "BTCUSDT")
    assert btc["markPrice"] == "21000.50000000" and btc["unRealizedProfit"] == "500.25000000"
    update = {
        "e": "assetIndexUpdate",
        "E": T0,
        "s": "BTCUSD",
        "i": "40000.00000000",
        "b": "0.05",
        "a": "0.05",
        "B": "38000.00000000",
        "A": "42000.00000000",
        "q": "0.02",
        "g": "0.02",
        "Q": "39000",
        "G": "41000",
    }
    ledger.apply_market({"stream": "!assetIndex@arr", "data": [update]})
    index = ledger.answer("/fapi/v1/assetIndex")
    assert index is not None
    row = next(r for r in index[0] if r["symbol"] == "BTCUSD")
    assert (row["index"], row["bidRate"], row["askRate"]) == (
        "40000.00000000",
        "38000.00000000",
        "42000.00000000",
    )
    assert row["autoExchangeBidRate"] == "39000" and row["time"] == T0
    state = build_state(ledger.bodies(), Mode.USDM_MULTI_ASSETS)
    assert (state.assets["BTC"].bid_rate, state.assets["BTC"].ask_rate) == (38000.0, 42000.0)


def test_override_wins_until_the_next_recorded_answer() -> None:
    meta, lines = _lines("usdm")
    ledger = Ledger(meta)
    for line in lines[:12]:
        ledger.feed(line)
    account = ledger.answer("/fapi/v3/account")
    assert account is not None
    drifted_body = copy.deepcopy(account[0])
    drifted_body["totalMaintMargin"] = "123.00000000"
    ledger.override("/fapi/v3/account", drifted_body)
    for line in lines[12:40]:
        ledger.feed(line)
    assert ledger.answer("/fapi/v3/account") == (drifted_body, 200)  # verbatim, not patched
    assert drifted_body["totalMaintMargin"] == "123.00000000"
    ledger.override("/fapi/v3/positionRisk", {"code": -1000, "msg": "boom"}, 500)
    assert ledger.answer("/fapi/v3/positionRisk") == ({"code": -1000, "msg": "boom"}, 500)
    recorded = next(
        line for line in lines if isinstance(line, RestLine) and line.path == "/fapi/v3/account"
    )
    ledger.apply_rest("/fapi/v3/account", recorded.data)
    found = ledger.answer("/fapi/v3/account")
    assert found is not None and found[0]["totalMaintMargin"] != "123.00000000"
    assert ledger.answer("/fapi/v3/positionRisk") == ({"code": -1000, "msg": "boom"}, 500)


def test_a_later_recorded_answer_replaces_what_the_stream_changed() -> None:
    first = [{"symbol": "BTCUSDT", "markPrice": "100.0", "indexPrice": "100.0"}]
    second = [{"symbol": "BTCUSDT", "markPrice": "90.0", "indexPrice": "90.0"}]
    ledger = Ledger(Meta(mode="usdm"))
    ledger.feed(rest(T0, "/fapi/v1/premiumIndex", first))
    ledger.feed(ws(T0 + 1, "market", mark("BTCUSDT", T0 + 1, "105.0")))
    assert ledger.answer("/fapi/v1/premiumIndex") == (
        [{"symbol": "BTCUSDT", "markPrice": "105.0", "indexPrice": "105.0"}],
        200,
    )
    assert first[0]["markPrice"] == "100.0"
    ledger.feed(rest(T0 + 2, "/fapi/v1/premiumIndex", second))
    assert ledger.answer("/fapi/v1/premiumIndex") == (second, 200)
    ledger.feed(ws(T0 + 3, "market", mark("BTCUSDT", T0 + 3, "95.0")))
    assert second[0]["markPrice"] == "90.0"  # the recording is never modified


def test_bad_input_is_counted_and_incomplete_bodies_keep_recorded_totals() -> None:
    account = {
        "totalMaintMargin": "1.00000000",
        "assets": [
            {
                "asset": "USDT",
                "walletBalance": "10",
                "crossWalletBalance": "10",
                "maintMargin": "1.00000000",
                "marginBalance": "10",
            }
        ],
        "positions": [],
    }
    ledger = Ledger(Meta(mode="usdm"))
    ledger.apply_rest("/fapi/v3/account", account)
    found = ledger.answer("/fapi/v3/account")
    assert found is not None and found[0]["totalMaintMargin"] == "1.00000000"
    assert ledger.counters["totals_unavailable"] == 1  # no positionRisk: no snapshot
    ledger.apply_user({"e": "ACCOUNT_UPDATE", "E": T0, "a": "nonsense"})
    ledger.apply_user(_account_update(_pos("BTCUSDT", "LONG", "abc", "1")))
    ledger.apply_user({"e": "balanceUpdate", "E": T0, "a": "USDT", "d": "x"})  # no PM body
    ledger.apply_user(["not", "an", "event"])
    ledger.apply_market(mark("BTCUSDT", T0, "-1"))
    ledger.apply_market({"e": "assetIndexUpdate", "s": "BTCUSD", "B": "x", "A": "1"})
    ledger.apply_market("garbage")
    ledger.feed(WsLine(T0, "market", None, text="{not json"))
    assert ledger.counters["bad_user_events"] == 3
    assert ledger.counters["bad_marks"] == 1 and ledger.counters["bad_asset_index"] == 1
    assert ledger.counters["bad_market_frames"] == 1
    assert ledger.answer("/fapi/v3/account") == (account, 200)  # unchanged by bad input
    ledger.apply_user(
        {
            "e": "ACCOUNT_UPDATE",
            "E": T0,
            "a": {
                "B": [
                    {"a": "USDT", "wb": "12", "cw": "11", "bc": "0"},
                    {"a": "BNB", "wb": "1", "cw": "1", "bc": "0"},
                ],
                "P": [],
            },
        }
    )
    found = ledger.answer("/fapi/v3/account")
    assert found is not None
    rows = {r["asset"]: r for r in found[0]["assets"]}
    assert (rows["USDT"]["walletBalance"], rows["USDT"]["crossWalletBalance"]) == ("12", "11")
    assert rows["BNB"]["walletBalance"] == "1" and rows["BNB"]["maintMargin"] == "0.00000000"


def test_rest_schedule_first_answers_then_in_time_order() -> None:
    lines = [
        rest(T0 + 500, "/p", {"v": 2}),
        rest(T0 - 10, "/p", {"v": 1}),
        rest(T0 + 900, "/q", {"w": 1}),
        RestLine(T0 + 100, "POST", "/fapi/v1/listenKey", {}),
        rest(T0 + 1500, "/q?x=1", {"w": 2}),
    ]
    schedule = RestSchedule(lines)
    assert [line.data for line in schedule.initial] == [{"v": 1}, {"w": 1}]
    assert schedule.due(T0 + 400) == []
    assert [line.data for line in schedule.due(T0 + 1500)] == [{"v": 2}, {"w": 2}]
    assert schedule.due(T0 + 9999) == []
    schedule.restart()
    assert [line.data for line in schedule.due(T0 + 600)] == [{"v": 2}]


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url, headers={"X-MBX-APIKEY": KEY}) as resp:
        assert resp.status == 200, await resp.text()
        return json.loads(await resp.text())


def _last_marks(lines: list[Line]) -> dict[str, str]:
    marks: dict[str, str] = {}
    for line in lines:
        if not isinstance(line, WsLine) or line.conn != "market":
            continue
        data = line.data.get("data", line.data) if isinstance(line.data, dict) else line.data
        for element in data if isinstance(data, list) else [data]:
            if isinstance(element, dict) and element.get("e") == "markPriceUpdate":
                marks[element["s"]] = element["p"]
    return marks


async def test_http_answers_follow_playback_end_to_end(make_sim: MakeSim, http) -> None:
    meta, lines = _lines("usdm")
    fx = await make_sim(example("usdm"), speed=20_000, start_after_clients=2)
    async with http.post(fx.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
        key = (await r.json())["listenKey"]
    base = fx.rest_url
    before = await _get(http, f"{base}/fapi/v3/positionRisk?{signed_query([])}")
    assert {r["symbol"]: r["positionAmt"] for r in before if r["positionSide"] == "SHORT"}[
        "ETHUSDT"
    ] == "-8.000"
    # two clients start playback; the market one subscribes to a stream the recording lacks,
    # so that closing it does not wait for unread frames
    async with (
        ws_connect(fx.ws_url + "/market/stream?streams=adausdt@markPrice") as _market,
        ws_connect(f"{fx.ws_url}/private/ws?listenKey={key}") as _user,
    ):
        await asyncio.wait_for(fx.finished.wait(), 10)
    risk = await _get(http, f"{base}/fapi/v3/positionRisk?{signed_query([])}")
    amounts = {(r["symbol"], r["positionSide"]): r["positionAmt"] for r in risk}
    assert amounts[("ETHUSDT", "SHORT")] == "-10.000"  # the recorded ORDER fill
    assert amounts[("SOLUSDT", "LONG")] == "110"
    sol = next(r for r in risk if r["symbol"] == "SOLUSDT")
    assert sol["isolatedWallet"] == "2896.93760000"  # the recorded FUNDING_FEE
    premium = await _get(http, f"{base}/fapi/v1/premiumIndex")
    expected = _last_marks(lines)
    got = {row["symbol"]: row["markPrice"] for row in premium}
    assert got == {**got, **expected} and expected
    one = await _get(http, f"{base}/fapi/v1/premiumIndex?symbol=BTCUSDT")
    assert one["markPrice"] == expected["BTCUSDT"]  # the symbol filter still applies
    replay = Replay(meta)
    replay.run(lines)
    assert replay.book is not None
    account = await _get(http, f"{base}/fapi/v3/account?{signed_query([])}")
    figs = figures(replay.book.snapshot(), "/fapi/v3/account", account)
    assert figs and not [f for f in figs if drifted(f, rel_tol=1e-9, abs_tol=1e-8)]
    assert fx.state()["ledger"]["counters"]["user_events"] == 3


async def test_set_rest_drift_then_next_recorded_answer(make_sim: MakeSim, http) -> None:
    path = "/fapi/v1/premiumIndex"
    source = (
        Meta(mode="usdm"),
        [
            rest(T0 - 10, path, [{"symbol": "BTCUSDT", "markPrice": "1.0"}]),
            ws(T0, "market", mark("BTCUSDT", T0, "2.0")),
            rest(T0 + 300, path, [{"symbol": "BTCUSDT", "markPrice": "3.0"}]),
            ws(T0 + 600, "market", mark("BTCUSDT", T0 + 600, "4.0")),
        ],
    )
    fx = await make_sim(source, speed=1.0, start_on_connect=False)
    await wait_until(lambda: fx.state()["ledger"]["counters"].get("marks") == 1)
    fx.set_rest(path, [{"symbol": "BTCUSDT", "markPrice": "drift"}])
    assert await _get(http, fx.rest_url + path) in (
        [{"symbol": "BTCUSDT", "markPrice": "drift"}],
        [{"symbol": "BTCUSDT", "markPrice": "3.0"}],  # only if the machine stalled 300 ms
    )

    async def recorded() -> bool:
        return await _get(http, fx.rest_url + path) == [{"symbol": "BTCUSDT", "markPrice": "3.0"}]

    await wait_until(recorded)
    await wait_until(fx.finished.is_set)
    assert await _get(http, fx.rest_url + path) == [{"symbol": "BTCUSDT", "markPrice": "4.0"}]


def test_a_late_update_does_not_roll_the_exchange_state_back() -> None:
    """A delayed or repeated frame pushed by a test is a delivery, not a new change: the
    exchange's state (what REST answers) keeps the newer value of every item it sets."""
    meta, lines = _lines("usdm")
    ledger = Ledger(meta)
    for line in lines:
        ledger.feed(line)
    at = lines[-1].t + 1_000
    ledger.apply_user(_account_update(_pos("XRPUSDT", "LONG", "5000", "2.2000"), at=at))
    ledger.apply_user(_account_update(_pos("XRPUSDT", "LONG", "9000", "2.1000"), at=at - 500))
    risk = ledger.answer("/fapi/v3/positionRisk")
    assert risk is not None
    xrp = next(r for r in risk[0] if r["symbol"] == "XRPUSDT")
    assert xrp["positionAmt"] == "5000"
    assert ledger.counters["stale_user_items"] == 1
