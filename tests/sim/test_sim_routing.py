"""Stream routing of the fake exchange: per-symbol split, combined vs raw, SUBSCRIBE & co."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from monitor.sim.routing import route_market, with_extra_fields
from monitor.sim.subscriptions import Subscriptions, handle_request
from tests.sim.conftest import MakeSim
from tests.sim.helpers import T0, mark, recording, recv_json, wait_until, ws, ws_connect

BTC, ETH = mark("BTCUSDT", price="1"), mark("ETHUSDT", price="2")


def test_route_array_splits_per_symbol() -> None:
    routes = route_market([BTC, ETH])
    assert routes["btcusdt@markprice"] is BTC
    assert routes["ethusdt@markprice@1s"] is ETH
    assert routes["!markprice@arr@1s"] == [BTC, ETH]


def test_route_wrapped_single_object_and_control_reply() -> None:
    routes = route_market({"stream": "btcusdt@markPrice@1s", "data": BTC})
    assert routes["btcusdt@markprice@1s"] is BTC
    assert routes["!markprice@arr"] == [BTC]
    assert route_market({"result": None, "id": 2}) == {}
    assert route_market("garbage") == {}


def test_route_coinm_pair_index_and_asset_index() -> None:
    perp, quarter = mark("BTCUSD_PERP", st=2), mark("BTCUSD_261225", st=2)
    routes = route_market({"stream": "btcusd@markPrice@1s", "data": [perp, quarter]})
    assert routes["btcusd@markprice@1s"] == [perp, quarter]
    assert routes["btcusd_perp@markprice"] is perp
    index = {"e": "indexPriceUpdate", "E": 1, "i": "BTCUSD", "p": "9636.5"}
    assert route_market(index)["btcusd@indexprice@1s"] is index
    asset = {"e": "assetIndexUpdate", "E": 1, "s": "BTCUSD", "i": "1"}
    routes = route_market([asset])
    assert routes["btcusd@assetindex"] is asset and routes["!assetindex@arr"] == [asset]
    # a USDⓈ-M quarterly is not a COIN-M pair
    assert "ethbusd@markprice" not in route_market([mark("ETHBUSD_210326")])


def test_extra_fields_copy_and_add_st() -> None:
    out = with_extra_fields([BTC], market=True)
    assert out[0]["st"] == 1 and "xSim" in out[0] and "st" not in BTC and "xSim" not in BTC
    user = with_extra_fields({"e": "ACCOUNT_UPDATE", "a": {"m": "ORDER"}}, market=False)
    assert "st" not in user and user["a"]["xSim"] == "unknown-field"


def test_subscription_requests() -> None:
    subs = Subscriptions({}, combined=False)
    ok = handle_request('{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":1}', subs)
    assert ok == {"result": None, "id": 1}
    listed = handle_request('{"method":"LIST_SUBSCRIPTIONS","id":2}', subs)
    assert listed == {"result": ["btcusdt@markPrice@1s"], "id": 2}
    assert handle_request("{nope", subs)["code"] == 3
    assert handle_request('{"method":"FOO","id":3}', subs)["code"] == 2
    assert handle_request('{"method":"SUBSCRIBE","params":"x","id":4}', subs)["code"] == 2
    assert handle_request('{"method":"SUBSCRIBE","params":["a"],"id":-1}', subs)["code"] == 2
    assert handle_request('{"params":[],"id":5}', subs)["msg"].startswith("Invalid request")
    assert handle_request('{"method":"SET_PROPERTY","params":["combined",true],"id":6}', subs) == {
        "result": None,
        "id": 6,
    }
    assert subs.combined is True
    assert handle_request('{"method":"GET_PROPERTY","params":["combined"],"id":7}', subs) == {
        "result": True,
        "id": 7,
    }


async def test_recorded_array_is_split_per_symbol_over_the_wire(make_sim: MakeSim) -> None:
    source = recording(ws(T0, "market", [BTC, ETH]), ws(T0 + 10, "market", [ETH]))
    fx = await make_sim(source, start_after_clients=2)
    raw = await ws_connect(fx.ws_url + "/market/ws/btcusdt@markPrice@1s")
    combined = await ws_connect(
        fx.ws_url + "/market/stream?streams=ethusdt@markPrice/!markPrice@arr@1s"
    )
    try:
        assert await recv_json(raw) == BTC  # the element, not the array
        frames = [await recv_json(combined) for _ in range(4)]
        assert frames == [
            {"stream": "ethusdt@markPrice", "data": ETH},
            {"stream": "!markPrice@arr@1s", "data": [BTC, ETH]},
            {"stream": "ethusdt@markPrice", "data": ETH},
            {"stream": "!markPrice@arr@1s", "data": [ETH]},
        ]
        await wait_until(fx.finished.is_set)
    finally:
        await raw.close()
        await combined.close()


async def test_coinm_root_paths_and_case_insensitive_names(make_sim: MakeSim) -> None:
    fx = await make_sim()
    perp = mark("BTCUSD_PERP", st=2)
    async with (
        ws_connect(fx.ws_url + "/stream?streams=BTCUSD_PERP@markPrice@1s") as combined,
        ws_connect(fx.ws_url + "/ws/btcusd@markprice") as raw,
    ):
        await wait_until(lambda: fx.state()["connections_open"].get("market") == 2)
        assert fx.push_market(perp) == 2
        assert await recv_json(combined) == {"stream": "BTCUSD_PERP@markPrice@1s", "data": perp}
        assert await recv_json(raw) == [perp]


async def test_live_subscribe_unsubscribe_list(make_sim: MakeSim) -> None:
    fx = await make_sim()
    async with ws_connect(fx.ws_url + "/market/ws") as conn:
        await conn.send(
            json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice"], "id": 1})
        )
        assert await recv_json(conn) == {"result": None, "id": 1}
        await conn.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert await recv_json(conn) == {"result": ["btcusdt@markPrice"], "id": 2}
        assert fx.push_market([BTC, ETH]) == 1
        assert await recv_json(conn) == BTC
        await conn.send(
            json.dumps({"method": "UNSUBSCRIBE", "params": ["BTCUSDT@markPrice"], "id": 3})
        )
        assert await recv_json(conn) == {"result": None, "id": 3}
        await conn.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
        assert await recv_json(conn) == {"result": [], "id": 4}
        assert fx.push_market([BTC]) == 0
        await conn.send("not json")
        assert (await recv_json(conn))["code"] == 3
        await conn.send(json.dumps({"method": "SUBSCRIBE", "params": [7], "id": 5}))
        assert await recv_json(conn) == {
            "code": 2,
            "msg": "Invalid request: invalid stream name in params",
            "id": 5,
        }
        await conn.send(b"\x00binary")  # ignored, the connection survives
        await asyncio.wait_for(await conn.ping(), 5)
    assert fx.state()["control_messages"]["error"] == 2


async def test_unknown_websocket_path_is_404(make_sim: MakeSim) -> None:
    fx = await make_sim()
    with pytest.raises(Exception) as err:
        async with ws_connect(fx.ws_url + "/nowhere/ws"):
            pass
    assert "404" in str(err.value)
    assert not isinstance(err.value, ConnectionClosed)
