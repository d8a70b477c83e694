"""listenKey lifecycle of the fake exchange and user-data streams (wire.md §3)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed

from monitor.sim.listenkeys import expired_event
from tests.sim.conftest import MakeSim
from tests.sim.helpers import KEY, recv_json, wait_until, ws_connect

LK_PATHS = {"um": "/fapi/v1/listenKey", "cm": "/dapi/v1/listenKey", "pm": "/papi/v1/listenKey"}
HEADERS = {"X-MBX-APIKEY": KEY}


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, key: str | None = None
) -> tuple[int, dict]:
    data = {"listenKey": key} if key is not None else None
    async with http.request(method, url, data=data, headers=HEADERS) as resp:
        return resp.status, await resp.json()


async def _post(http: aiohttp.ClientSession, fx, product: str) -> str:
    status, body = await _call(http, "POST", fx.rest_url + LK_PATHS[product])
    assert status == 200
    return str(body["listenKey"])


async def test_post_is_idempotent_per_product_put_and_delete(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    um = await _post(http, fx, "um")
    assert len(um) == 64 and um.isalnum()
    assert await _post(http, fx, "um") == um
    cm, pm = await _post(http, fx, "cm"), await _post(http, fx, "pm")
    assert len({um, cm, pm}) == 3

    assert await _call(http, "PUT", fx.rest_url + LK_PATHS["um"], um) == (200, {"listenKey": um})
    assert await _call(http, "PUT", fx.rest_url + LK_PATHS["cm"], cm) == (200, {})
    assert await _call(http, "PUT", fx.rest_url + LK_PATHS["pm"]) == (200, {})
    unknown = (400, {"code": -1125, "msg": "This listenKey does not exist."})
    assert await _call(http, "PUT", fx.rest_url + LK_PATHS["um"], "x" * 64) == unknown
    assert await _call(http, "PUT", fx.rest_url + LK_PATHS["cm"], um) == unknown

    assert await _call(http, "DELETE", fx.rest_url + LK_PATHS["um"], um) == (200, {})
    assert await _call(http, "PUT", fx.rest_url + LK_PATHS["um"], um) == unknown
    assert await _call(http, "DELETE", fx.rest_url + LK_PATHS["um"], um) == unknown
    assert await _post(http, fx, "um") != um

    async with http.post(fx.rest_url + LK_PATHS["um"]) as resp:  # no API key header
        assert resp.status == 401 and (await resp.json())["code"] == -2015


def test_expired_event_shapes() -> None:
    assert expired_event("um", "K", 5) == {"e": "listenKeyExpired", "E": "5", "listenKey": "K"}
    assert expired_event("cm", "K", 5) == {"e": "listenKeyExpired", "E": 5, "listenKey": "K"}
    assert expired_event("pm", "K", 5) == {"e": "listenKeyExpired", "E": 5}


async def test_ttl_lapse_pushes_expiry_per_product_then_silence(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    keys = {product: await _post(http, fx, product) for product in ("um", "cm", "pm")}
    urls = {
        "um": f"{fx.ws_url}/private/ws?listenKey={keys['um']}&events=ACCOUNT_UPDATE",
        "cm": f"{fx.ws_url}/ws/{keys['cm']}",
        "pm": f"{fx.ws_url}/pm/ws/{keys['pm']}",
    }
    conns = {product: await ws_connect(url) for product, url in urls.items()}
    try:
        await wait_until(lambda: fx.state()["connections_open"].get("user") == 3)
        fx.keys.ttl_s = 0.2  # compress the TTL now that every socket is in; PUT re-arms it
        for product, key in keys.items():
            assert (await _call(http, "PUT", fx.rest_url + LK_PATHS[product], key))[0] == 200
        events = {product: await recv_json(conn) for product, conn in conns.items()}
        assert events["um"]["e"] == "listenKeyExpired"
        assert isinstance(events["um"]["E"], str) and events["um"]["listenKey"] == keys["um"]
        assert isinstance(events["cm"]["E"], int) and events["cm"]["listenKey"] == keys["cm"]
        assert isinstance(events["pm"]["E"], int) and "listenKey" not in events["pm"]
        # nothing more is sent, but the sockets stay open
        assert fx.push_user({"e": "ACCOUNT_UPDATE", "E": 1}) == 0
        for conn in conns.values():
            await asyncio.wait_for(await conn.ping(), 5)
        unknown = (400, {"code": -1125, "msg": "This listenKey does not exist."})
        assert await _call(http, "PUT", fx.rest_url + LK_PATHS["um"], keys["um"]) == unknown
        # a new POST gives a new key; the expired key cannot connect any more (1008)
        assert await _post(http, fx, "um") != keys["um"]
        async with ws_connect(urls["um"]) as late:
            with pytest.raises(ConnectionClosed) as err:
                await asyncio.wait_for(late.recv(), 5)
            assert err.value.rcvd is not None and err.value.rcvd.code == 1008
    finally:
        for conn in conns.values():
            await conn.close()
    assert fx.state()["listen_keys"]["counts"]["pm_expired"] == 1


async def test_keepalive_prevents_expiry(make_sim: MakeSim, http) -> None:
    fx = await make_sim(listen_key_ttl_s=0.8)
    key = await _post(http, fx, "um")
    for _ in range(6):
        assert (await _call(http, "PUT", fx.rest_url + LK_PATHS["um"], key))[0] == 200
        await asyncio.sleep(0.2)
    assert fx.keys.is_live(key)  # 1.2 s after the POST, kept alive by the PUTs


async def test_expire_fault_and_delete_close(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    key = await _post(http, fx, "um")
    async with ws_connect(f"{fx.ws_url}/private/ws/{key}") as conn:
        await wait_until(lambda: fx.state()["connections_open"].get("user") == 1)
        assert fx.faults.expire_listen_key("um") == 1
        assert (await recv_json(conn))["e"] == "listenKeyExpired"
    key = await _post(http, fx, "um")
    async with ws_connect(f"{fx.ws_url}/private/ws?listenKey={key}") as conn:
        await wait_until(lambda: fx.state()["connections_open"].get("user") == 1)
        assert await _call(http, "DELETE", fx.rest_url + LK_PATHS["um"], key) == (200, {})
        with pytest.raises(ConnectionClosed) as err:
            await asyncio.wait_for(conn.recv(), 5)
        assert err.value.rcvd is not None and err.value.rcvd.code == 1000


@pytest.mark.parametrize("path", ["/private/ws?listenKey=nope", "/pm/ws/nope", "/ws/nope"])
async def test_unknown_listen_key_is_closed_1008(make_sim: MakeSim, path: str) -> None:
    fx = await make_sim()
    async with ws_connect(fx.ws_url + path) as conn:
        with pytest.raises(ConnectionClosed) as err:
            await asyncio.wait_for(conn.recv(), 5)
    assert err.value.rcvd is not None and err.value.rcvd.code == 1008
    assert fx.state()["ws_connections"]["rejected"] == {"unknown listenKey": 1}


async def test_user_routing_events_filter_and_multi_key_stream(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    um, cm = await _post(http, fx, "um"), await _post(http, fx, "cm")
    filtered = await ws_connect(
        f"{fx.ws_url}/private/ws?listenKey={um}&events=ORDER_TRADE_UPDATE/MARGIN_CALL"
    )
    multi = await ws_connect(
        f"{fx.ws_url}/private/stream?listenKey={um}&events=ACCOUNT_UPDATE"
        f"&listenKey={cm}&events=ORDER_TRADE_UPDATE"
    )
    try:
        await wait_until(lambda: fx.state()["connections_open"].get("user") == 2)
        assert fx.push_user({"e": "ACCOUNT_UPDATE", "E": 1}) == 1
        assert await recv_json(multi) == {"stream": um, "data": {"e": "ACCOUNT_UPDATE", "E": 1}}
        assert fx.push_user({"e": "ORDER_TRADE_UPDATE", "E": 2}) == 2
        assert await recv_json(filtered) == {"e": "ORDER_TRADE_UPDATE", "E": 2}
        assert (await recv_json(multi))["stream"] == cm
    finally:
        await filtered.close()
        await multi.close()


async def test_control_push_reaches_user_stream(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    key = await _post(http, fx, "pm")
    async with ws_connect(f"{fx.ws_url}/pm/ws/{key}") as conn:
        await wait_until(lambda: fx.state()["connections_open"].get("user") == 1)
        event = {"e": "riskLevelChange", "E": 3, "u": "1.2", "s": "MARGIN_CALL"}
        async with http.post(
            fx.rest_url + "/__sim/push", data=json.dumps({"conn": "user", "data": event})
        ) as resp:
            assert (await resp.json()) == {"ok": True, "sent": 1}
        assert await recv_json(conn) == event
