"""Playback of recordings: start on connect, pace × speed, order, `finished`, looping."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

from monitor.examples import path as example
from monitor.feed.recording import WsLine, read_recording, write_recording
from monitor.sim import FakeExchange
from monitor.sim.playback import PlaybackClock, Timeline
from tests.sim.conftest import MakeSim
from tests.sim.helpers import KEY, T0, mark, recording, recv_json, rest, wait_until, ws, ws_connect

SPEED = 1000.0  # the 299 s usdm recording in ~0.3 s


def _btc_marks_in(lines: list[WsLine]) -> list[int]:
    """`E` of every BTCUSDT mark price in the recorded market frames, in recorded order."""
    out = []
    for line in lines:
        if line.conn != "market":
            continue
        data = line.data.get("data", line.data) if isinstance(line.data, dict) else line.data
        for element in data if isinstance(data, list) else [data]:
            if isinstance(element, dict) and element.get("s") == "BTCUSDT":
                out.append(element["E"])
    return out


async def test_usdm_recording_plays_in_order_at_speed(make_sim: MakeSim, http) -> None:
    _meta, lines = read_recording(example("usdm"))
    ws_lines = [line for line in lines if isinstance(line, WsLine)]
    expected = _btc_marks_in(ws_lines)
    users = [line.data for line in ws_lines if line.conn == "user"]
    span_s = (ws_lines[-1].t - ws_lines[0].t) / 1000 / SPEED

    fx = await make_sim(example("usdm"), speed=SPEED, start_after_clients=2)
    async with http.post(fx.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
        key = (await r.json())["listenKey"]
    assert fx.state()["playback"]["started"] is False
    market = await ws_connect(fx.ws_url + "/market/stream?streams=btcusdt@markPrice@1s")
    user = await ws_connect(f"{fx.ws_url}/private/ws?listenKey={key}")
    started = time.monotonic()
    try:
        got = [(await recv_json(market))["data"]["E"] for _ in expected]
        got_users = [await recv_json(user) for _ in users]
        await asyncio.wait_for(fx.finished.wait(), 5)
        elapsed = time.monotonic() - started
    finally:
        await market.close()
        await user.close()
    assert got == expected and got == sorted(got)
    assert got_users == users
    assert elapsed >= span_s * 0.8  # paced, not dumped at once
    state = fx.state()
    assert state["playback"]["ws_lines_sent"] == len(ws_lines)
    assert state["lines_unrouted"] == 1  # the recorded SUBSCRIBE ack


async def test_playback_waits_for_a_client_and_rest_uses_first_answers(
    make_sim: MakeSim, http
) -> None:
    source = recording(
        rest(T0 - 10, "/fapi/v1/exchangeInfo", {"v": 1}),
        rest(T0 + 500, "/fapi/v1/exchangeInfo", {"v": 2}),
        ws(T0, "market", mark("BTCUSDT", T0)),
        ws(T0 + 1000, "market", mark("BTCUSDT", T0 + 1000)),
    )
    fx = await make_sim(source, speed=20)
    async with http.get(fx.rest_url + "/fapi/v1/exchangeInfo") as resp:
        assert await resp.json() == {"v": 1}
    assert not fx.clock.started and not fx.finished.is_set()
    async with ws_connect(fx.ws_url + "/market/ws/btcusdt@markPrice") as conn:
        assert (await recv_json(conn))["E"] == T0
        assert (await recv_json(conn))["E"] == T0 + 1000
    await wait_until(fx.finished.is_set)


async def test_start_on_connect_false_starts_at_start(make_sim: MakeSim) -> None:
    fx = await make_sim(recording(ws(T0, "user", {"e": "X"})), start_on_connect=False)
    await wait_until(fx.finished.is_set)
    assert fx.state()["lines_played"] == {"user": 1}


async def test_loop_repeats_without_finishing(make_sim: MakeSim) -> None:
    source = recording(
        ws(T0, "market", mark("BTCUSDT", T0)), ws(T0 + 100, "market", mark("BTCUSDT", T0 + 100))
    )
    fx = await make_sim(source, speed=20, loop=True)
    async with ws_connect(fx.ws_url + "/market/ws/btcusdt@markPrice") as conn:
        seen = [(await recv_json(conn))["E"] for _ in range(5)]
    assert seen == [T0, T0 + 100, T0, T0 + 100, T0]
    assert not fx.finished.is_set() and fx.state()["cycles"] >= 2


def test_clock_wraps_when_looping() -> None:
    now = [100.0]
    timeline = Timeline(*recording(ws(T0, "market", {}), ws(T0 + 1000, "market", {})))
    assert timeline.period == 2000
    clock = PlaybackClock(timeline, speed=2.0, loop=True, clock=lambda: now[0])
    assert clock.now_t() is None
    clock.start()
    now[0] += 1.5  # 3000 recording ms → 1000 into the second cycle
    assert clock.now_t() == T0 + 1000
    assert clock.due_at(T0 + 1000, cycle=1) == 100.0 + 1.5


async def test_from_file_reads_gzip_and_loaded_lines(tmp_path: Any) -> None:
    meta, lines = recording(rest(T0, "/fapi/v1/exchangeInfo", {"v": 1}), ws(T0, "market", {}))
    target = tmp_path / "rec.jsonl.gz"
    write_recording(target, meta, lines)
    with gzip.open(target, "rt") as handle:
        assert json.loads(handle.readline())["kind"] == "meta"
    for source in (target, (meta, iter(lines))):
        fx = FakeExchange.from_file(source)
        assert fx.timeline.paths == ["GET /fapi/v1/exchangeInfo"] and len(fx.timeline.ws) == 1
