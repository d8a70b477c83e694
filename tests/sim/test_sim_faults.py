"""Faults of the fake exchange: drop, rotate, silence, malformed, legacy, extra fields, control
API, heartbeats, connection age and a prompt stop()."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed

from monitor.sim.control import is_loopback
from monitor.sim.malformed import OVERSIZED_BYTES, VARIETIES, malformed_frames
from tests.sim.conftest import MakeSim
from tests.sim.helpers import KEY, mark, recv_json, wait_until, ws_connect

MARKET = "/market/stream?streams=btcusdt@markPrice@1s"


async def _open(fx, count: int = 1, kind: str = "market") -> None:
    await wait_until(lambda: fx.state()["connections_open"].get(kind) == count)


async def _closed(conn) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as err:
        while True:
            await asyncio.wait_for(conn.recv(), 5)
    return err.value


async def test_drop_is_an_abnormal_close(make_sim: MakeSim) -> None:
    fx = await make_sim()
    async with ws_connect(fx.ws_url + MARKET) as conn:
        await _open(fx)
        assert fx.faults.drop("market") == 1
        closed = await _closed(conn)
    assert closed.rcvd is None  # no close frame: the TCP connection just died
    assert fx.state()["faults"]["counts"]["drop"] == 1


async def test_rotate_closes_1001_going_away(make_sim: MakeSim) -> None:
    fx = await make_sim()
    async with ws_connect(fx.ws_url + MARKET) as conn:
        await _open(fx)
        assert fx.faults.rotate("all") == 1
        closed = await _closed(conn)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1001, "going away")


async def test_silence_sends_nothing_but_answers_pings(make_sim: MakeSim) -> None:
    fx = await make_sim()
    async with ws_connect(fx.ws_url + MARKET) as conn:
        await _open(fx)
        fx.faults.silence("market", None)
        assert fx.push_market(mark("BTCUSDT", 1)) == 0
        await asyncio.wait_for(await conn.ping(), 5)
        fx.faults.unsilence("market")
        assert fx.push_market(mark("BTCUSDT", 2)) == 1
        assert (await recv_json(conn))["data"]["E"] == 2  # the silenced frame never came
        fx.faults.silence("all", 0.2)
        assert fx.push_market(mark("BTCUSDT", 3)) == 0
        await wait_until(lambda: fx.push_market(mark("BTCUSDT", 4)) == 1)
        assert (await recv_json(conn))["data"]["E"] == 4
    assert fx.state()["frames"]["suppressed"]["market"] >= 2


def test_malformed_frames_are_deterministic_and_cover_every_variety() -> None:
    first = malformed_frames(12, "market", seed=3, now_ms=1)
    assert first == malformed_frames(12, "market", seed=3, now_ms=1)
    assert {frame.variety for frame in first[:6]} == set(VARIETIES)
    texts = [frame.text_for(None) for frame in first[:6]]
    assert texts != [frame.text_for(None) for frame in malformed_frames(6, "market", seed=4)]


async def test_malformed_frames_reach_live_connections(make_sim: MakeSim) -> None:
    fx = await make_sim()
    async with ws_connect(fx.ws_url + MARKET, max_size=4 * OVERSIZED_BYTES) as conn:
        await _open(fx)
        assert fx.faults.malformed(6, "market", seed=1) == 6
        frames = [await asyncio.wait_for(conn.recv(), 5) for _ in range(6)]
        await asyncio.wait_for(await conn.ping(), 5)  # still alive after all of it
    assert any(len(frame) > OVERSIZED_BYTES for frame in frames)
    parsed = []
    for frame in frames:
        try:
            parsed.append(json.loads(frame))
        except json.JSONDecodeError:
            parsed.append(None)
    assert parsed.count(None) >= 2  # truncated and not-JSON
    inner = [p["data"] for p in parsed if isinstance(p, dict) and "data" in p]
    assert any(isinstance(d, dict) and d.get("p") == {} for d in inner)
    assert any(isinstance(d, dict) and str(d.get("e", "")).startswith("simUnknown") for d in inner)


async def test_legacy_silent_acks_subscribe_but_sends_nothing(make_sim: MakeSim) -> None:
    fx = await make_sim()
    fx.faults.legacy_silent(True)
    async with ws_connect(fx.ws_url + "/market/ws") as conn:
        await conn.send(
            json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice"], "id": 9})
        )
        assert await recv_json(conn) == {"result": None, "id": 9}
        assert fx.push_market(mark("BTCUSDT", 1)) == 0
        fx.faults.legacy_silent(False)
        assert fx.push_market(mark("BTCUSDT", 2)) == 1
        assert (await recv_json(conn))["E"] == 2
    fx.faults.legacy_silent(True, scope="unrouted")
    async with (
        ws_connect(fx.ws_url + "/ws/btcusdt@markPrice") as legacy,
        ws_connect(fx.ws_url + "/market/ws/btcusdt@markPrice") as routed,
    ):
        await _open(fx, 2)
        assert fx.push_market(mark("BTCUSDT", 3)) == 1
        assert (await recv_json(routed))["E"] == 3
        await asyncio.wait_for(await legacy.ping(), 5)


async def test_extra_fields(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    fx.faults.extra_fields(True)
    async with http.post(fx.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
        key = (await r.json())["listenKey"]
    async with (
        ws_connect(fx.ws_url + "/market/ws/btcusdt@markPrice") as market,
        ws_connect(f"{fx.ws_url}/private/ws?listenKey={key}") as user,
    ):
        await _open(fx, 1, "user")
        await _open(fx, 1, "market")
        fx.push_market(mark("BTCUSDT", 1))
        got = await recv_json(market)
        assert got["st"] == 1 and "xSim" in got and got["p"] == "100.0"
        fx.push_user({"e": "ACCOUNT_UPDATE", "E": 1, "a": {"m": "ORDER"}})
        event = await recv_json(user)
        assert "xSim" in event and event["a"]["xSim"] and event["a"]["m"] == "ORDER"


async def test_control_api_faults_and_state(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    control = fx.rest_url + "/__sim/fault"
    async with http.post(control, json={"kind": "rest_errors", "status": 503, "count": 1}) as r:
        assert r.status == 200 and (await r.json())["ok"] is True
    async with http.get(fx.rest_url + "/fapi/v1/time") as r:
        assert r.status == 503
    async with http.post(control, json={"kind": "skew_time", "ms": 5000}) as r:
        assert r.status == 200
    async with ws_connect(fx.ws_url + MARKET) as conn:
        await _open(fx)
        async with http.post(control, json={"kind": "rotate", "conn": "market"}) as r:
            assert (await r.json()) == {"ok": True, "result": 1}
        closed = await _closed(conn)
        assert closed.rcvd is not None and closed.rcvd.code == 1001
    for bad in ({"kind": "bogus"}, {"kind": "drop", "conn": "nope"}, {"kind": "skew_time"}):
        async with http.post(control, json=bad) as r:
            assert r.status == 400 and (await r.json())["ok"] is False
    async with http.post(control, data="not json") as r:
        assert r.status == 400
    async with http.get(fx.rest_url + "/__sim/state") as r:
        state = await r.json()
    assert state["faults"]["skew_ms"] == 5000
    assert state["faults"]["counts"]["rotate"] == 1
    assert state["requests"]["GET /fapi/v1/time"] == {"503": 1}
    assert state["ws_connections"]["opened"] == {"market": 1}
    assert KEY not in json.dumps(state)


def test_control_api_is_loopback_only() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("192.168.1.5") and not is_loopback(None) and not is_loopback("x")


async def test_unanswered_pings_close_the_connection(make_sim: MakeSim) -> None:
    fx = await make_sim(ping_interval_s=0.05, pong_timeout_s=1.0)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fx.ws_url + MARKET, autoping=False) as mute,
        ws_connect(fx.ws_url + MARKET) as polite,  # answers pings itself
    ):
        msg = await mute.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.PING
        deadline = time.monotonic() + 10
        while msg.type != aiohttp.WSMsgType.CLOSE:
            assert time.monotonic() < deadline
            msg = await mute.receive(timeout=5)
        assert msg.data == 1008
        assert fx.push_market(mark("BTCUSDT", 1)) == 1  # the polite one is still there
        assert (await recv_json(polite))["data"]["E"] == 1


async def test_max_connection_age_closes_1001(make_sim: MakeSim) -> None:
    fx = await make_sim(max_connection_age_s=0.3)
    async with ws_connect(fx.ws_url + MARKET) as conn:
        closed = await _closed(conn)
    assert closed.rcvd is not None and closed.rcvd.code == 1001


async def test_stop_is_prompt_even_with_a_client_that_never_reads(make_sim: MakeSim) -> None:
    fx = await make_sim()
    async with aiohttp.ClientSession() as session:
        deaf = await session.ws_connect(fx.ws_url + MARKET)
        async with ws_connect(fx.ws_url + MARKET) as polite:
            await _open(fx, 2)
            started = time.monotonic()
            await fx.stop()
            assert time.monotonic() - started < 1.5
            closed = await _closed(polite)
            assert closed.rcvd is not None and closed.rcvd.code == 1001
        await deaf.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("sim-")]
