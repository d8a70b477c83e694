"""REST behaviour of the fake exchange: weights, injected errors, 404, filters, the timeline."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from monitor.examples import path as example
from monitor.feed.recording import RestLine, read_recording
from tests.sim.conftest import MakeSim
from tests.sim.helpers import KEY, T0, mark, recording, rest, signed_query, wait_until, ws

PUBLIC = "/fapi/v1/exchangeInfo"
#: `/papi/v1/account` figures the fake recomputes from its current bodies (ledger.py).
PM_TOTALS = ("uniMMR", "accountEquity", "accountMaintMargin")


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, object, dict[str, str]]:
    async with http.get(url, headers={"X-MBX-APIKEY": KEY}) as resp:
        text = await resp.text()
        try:
            body: object = json.loads(text)
        except json.JSONDecodeError:
            body = text
        return resp.status, body, dict(resp.headers)


async def test_used_weight_header_grows_by_endpoint_weight(make_sim: MakeSim, http) -> None:
    source = recording(
        rest(T0, PUBLIC, {"symbols": []}), rest(T0, "/fapi/v1/multiAssetsMargin", {})
    )
    paths = (PUBLIC, PUBLIC, "/fapi/v1/multiAssetsMargin?", "/fapi/v1/nope")
    for _ in range(3):  # retried only if a wall-clock minute boundary falls inside the calls
        fx = await make_sim(source)
        minute = int(time.time() // 60)
        weights = []
        for path in paths:
            query = signed_query([]) if path.endswith("?") else ""
            _, _, headers = await _get(http, fx.rest_url + path + query)
            weights.append(int(headers["X-MBX-USED-WEIGHT-1M"]))
        if int(time.time() // 60) == minute:
            break
    assert weights == [1, 2, 32, 33]
    assert fx.state()["used_weight_1m"] in (0, 33)


async def test_each_pool_counts_apart_with_its_own_header(make_sim: MakeSim, http) -> None:
    """Binance counts an IP's weight per pool: futures (/fapi and /dapi together), Portfolio
    Margin (/papi), spot and wallet (/api, /sapi: `X-SAPI-USED-IP-WEIGHT-1M`)."""
    source = recording(rest(T0, PUBLIC, {"symbols": []}))
    for _ in range(3):  # retried only if a wall-clock minute boundary falls inside the calls
        fx = await make_sim(source)
        minute = int(time.time() // 60)
        seen = []
        for path, header in ((PUBLIC, "X-MBX-USED-WEIGHT-1M"),
                             ("/dapi/v1/exchangeInfo", "X-MBX-USED-WEIGHT-1M"),
                             ("/papi/v1/ping", "X-MBX-USED-WEIGHT-1M"),
                             ("/sapi/v1/portfolio/asset-index-price", "X-SAPI-USED-IP-WEIGHT-1M"),
                             ("/api/v3/ping", "X-MBX-USED-WEIGHT-1M")):
            _, _, headers = await _get(http, fx.rest_url + path)
            seen.append(int(headers[header]))
        if int(time.time() // 60) == minute:
            break
    assert seen == [1, 2, 1, 50, 51]
    assert fx.state()["used_weight_1m_by_pool"] in (
        {"futures": 2, "papi": 1, "spot": 51}, {"futures": 0, "papi": 0, "spot": 0})


async def test_429_then_418_with_retry_after(make_sim: MakeSim, http) -> None:
    fx = await make_sim(recording(rest(T0, PUBLIC, {"ok": 1})))
    fx.faults.rest_errors(429, count=2, retry_after_s=7)
    fx.faults.rest_errors(418, count=1, retry_after_s=120)
    answers = [await _get(http, fx.rest_url + PUBLIC) for _ in range(4)]
    assert [status for status, _, _ in answers] == [429, 429, 418, 200]
    assert answers[0][2]["Retry-After"] == "7"
    assert answers[0][1]["code"] == -1003  # type: ignore[index]
    assert answers[2][2]["Retry-After"] == "120"
    assert "IP banned until" in answers[2][1]["msg"]  # type: ignore[index]
    assert answers[3][1] == {"ok": 1}
    assert "X-MBX-USED-WEIGHT-1M" in answers[0][2]
    counts = fx.state()["faults"]["counts"]
    assert counts["rest_error_429"] == 2 and counts["rest_error_418"] == 1


async def test_5xx_bodies_and_path_prefix(make_sim: MakeSim, http) -> None:
    fx = await make_sim(
        recording(rest(T0, PUBLIC, {"ok": 1}), rest(T0, "/dapi/v1/exchangeInfo", {}))
    )
    fx.faults.rest_errors(500, path_prefix="/fapi")
    fx.faults.rest_errors(502, path_prefix="/fapi")
    fx.faults.rest_errors(503, path_prefix="/fapi")
    assert (await _get(http, fx.rest_url + "/dapi/v1/exchangeInfo"))[0] == 200
    status, body, _ = await _get(http, fx.rest_url + PUBLIC)
    assert status == 500 and body["code"] == -1000  # type: ignore[index]
    status, body, headers = await _get(http, fx.rest_url + PUBLIC)
    assert status == 502 and "502 Bad Gateway" in body and "text/html" in headers["Content-Type"]
    status, body, _ = await _get(http, fx.rest_url + PUBLIC)
    assert status == 503 and body["code"] == -1008  # type: ignore[index]
    assert (await _get(http, fx.rest_url + PUBLIC))[0] == 200


async def test_unknown_path_is_404_and_stats_count_it(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    status, body, _ = await _get(http, fx.rest_url + "/fapi/v1/premiumIndex")
    assert status == 404
    assert body == {"code": -5000, "msg": "Path /fapi/v1/premiumIndex, Method GET is invalid"}
    assert fx.state()["requests"]["GET /fapi/v1/premiumIndex"] == {"404": 1}
    for ping in ("/api/v3/ping", "/fapi/v1/ping"):
        assert (await _get(http, fx.rest_url + ping))[:2] == (200, {})


async def test_symbol_filters(make_sim: MakeSim, http) -> None:
    brackets = [{"symbol": "BTCUSDT", "brackets": []}, {"symbol": "ETHUSDT", "brackets": []}]
    fx = await make_sim(recording(rest(T0, "/fapi/v1/leverageBracket", brackets)))
    base = fx.rest_url + "/fapi/v1/leverageBracket?"
    assert (await _get(http, base + signed_query([])))[1] == brackets
    assert (await _get(http, base + signed_query([("symbol", "ETHUSDT")])))[1] == brackets[1]
    status, body, _ = await _get(http, base + signed_query([("symbol", "XRPUSDT")]))
    assert (status, body["code"]) == (400, -1121)  # type: ignore[index]


async def test_later_rest_line_replaces_earlier_on_the_timeline(make_sim: MakeSim, http) -> None:
    source = recording(
        rest(T0 - 50, PUBLIC, {"v": 1}),
        ws(T0, "market", mark("BTCUSDT")),
        rest(T0 + 1000, PUBLIC, {"v": 2}),
        ws(T0 + 2000, "market", mark("BTCUSDT")),
    )
    fx = await make_sim(source, speed=10)
    assert (await _get(http, fx.rest_url + PUBLIC))[1] == {"v": 1}  # playback not started yet
    fx.start_playback()

    async def second() -> bool:
        return (await _get(http, fx.rest_url + PUBLIC))[1] == {"v": 2}

    await wait_until(second)
    await wait_until(fx.finished.is_set)


async def test_pm_recording_repeated_account_follows_playback(make_sim: MakeSim, http) -> None:
    _meta, lines = read_recording(example("portfolio_margin"))
    accounts = [
        line.data
        for line in lines
        if isinstance(line, RestLine) and line.path == "/papi/v1/account"
    ]
    assert len(accounts) > 2 and accounts[0] != accounts[-1]
    fx = await make_sim(example("portfolio_margin"), speed=100_000)
    url = fx.rest_url + "/papi/v1/account?"

    def recorded(body: object) -> dict[str, object]:
        """The body without the totals the ledger recomputes with the engine."""
        assert isinstance(body, dict)
        return {k: v for k, v in body.items() if k not in PM_TOTALS}

    first = (await _get(http, url + signed_query([])))[1]
    assert recorded(first) == recorded(accounts[0])
    for key in PM_TOTALS:  # the recording was made with the same engine figures
        assert float(first[key]) == pytest.approx(float(accounts[0][key]), rel=1e-6)  # type: ignore[index]
    fx.start_playback()
    await wait_until(fx.finished.is_set)

    async def last() -> bool:
        return recorded((await _get(http, url + signed_query([])))[1]) == recorded(accounts[-1])

    await wait_until(last)


async def test_set_rest_and_control_rest_override(make_sim: MakeSim, http) -> None:
    fx = await make_sim(recording(rest(T0, PUBLIC, {"v": 1})))
    fx.set_rest(PUBLIC, {"v": "override"})
    assert (await _get(http, fx.rest_url + PUBLIC))[1] == {"v": "override"}
    spec = {"path": PUBLIC, "data": {"v": "control"}, "status": 200}
    async with http.post(fx.rest_url + "/__sim/rest", json=spec) as resp:
        assert resp.status == 200 and (await resp.json())["ok"] is True
    assert (await _get(http, fx.rest_url + PUBLIC))[1] == {"v": "control"}
