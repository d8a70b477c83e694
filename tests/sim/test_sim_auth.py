"""Signing rules of the fake exchange: HMAC vector, API key, signature, timestamp window."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import aiohttp
import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from monitor.examples import path as example
from monitor.sim.auth import Access, access_for, hmac_signature, signed_payload
from tests.sim.conftest import MakeSim
from tests.sim.helpers import KEY, SECRET, T0, recording, rest, signed_query

ACCOUNT = {"totalMaintMargin": "1.0"}


def test_wire_md_hmac_vector() -> None:
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    payload = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    assert hmac_signature(secret, payload) == (
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    )


def test_signed_payload_splits_query_and_body() -> None:
    assert signed_payload("a=1&timestamp=2&signature=ff", "") == ("a=1&timestamp=2", "ff", True)
    assert signed_payload("a=1", "b=2&signature=ff") == ("a=1b=2", "ff", True)
    assert signed_payload("signature=ff&a=1", "") == ("a=1", "ff", False)
    assert signed_payload("a=1&signature=ff", "b=2") == ("a=1b=2", "ff", False)
    assert signed_payload("a=1", "") == ("a=1", None, True)


def test_access_classes() -> None:
    assert access_for("/fapi/v1/exchangeInfo") is Access.PUBLIC
    assert access_for("/dapi/v1/time") is Access.PUBLIC
    assert access_for("/fapi/v1/listenKey") is Access.KEY
    assert access_for("/sapi/v1/portfolio/collateralRate") is Access.KEY
    assert access_for("/sapi/v2/portfolio/collateralRate") is Access.SIGNED
    assert access_for("/papi/v1/um/positionRisk") is Access.SIGNED
    assert access_for("/fapi/v1/positionSide/dual") is Access.SIGNED


async def _get(http: aiohttp.ClientSession, url: str, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"X-MBX-APIKEY": key} if key is not None else {}
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_signed_request_accepted_and_rejected(make_sim: MakeSim, http) -> None:
    fx = await make_sim(recording(rest(T0, "/fapi/v3/account", ACCOUNT)))
    url = fx.rest_url + "/fapi/v3/account?"
    assert await _get(http, url + signed_query([("recvWindow", 5000)])) == (200, ACCOUNT)
    # python-binance sorts its parameters: order is whatever the client sent, never re-sorted.
    assert (await _get(http, url + signed_query([("z", 1), ("a", 2)])))[0] == 200

    status, body = await _get(http, url + signed_query([], secret="wrong"))
    assert (status, body["code"]) == (400, -1022)
    status, body = await _get(http, url + signed_query([]), key="other-key")
    assert (status, body) == (
        401,
        {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action"},
    )
    assert (await _get(http, url + signed_query([]), key=None))[1]["code"] == -2015
    # the signature must be the last parameter
    query = signed_query([("a", 1)])
    head, sig = query.split("&signature=")
    status, body = await _get(http, f"{url}signature={sig}&{head}")
    assert body["code"] == -1022
    status, body = await _get(http, url + "a=1&signature=00")
    assert (status, body["code"]) == (400, -1102)


async def test_signed_post_body_is_part_of_the_payload(make_sim: MakeSim, http) -> None:
    fx = await make_sim()
    query = urlencode([("symbol", "BTCUSDT")])
    body = urlencode([("side", "BUY"), ("timestamp", int(time.time() * 1000))])
    sig = hmac_signature(SECRET, query + body)
    url = f"{fx.rest_url}/fapi/v1/order?{query}"
    headers = {"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(url, data=f"{body}&signature={sig}", headers=headers) as resp:
        # authenticated: the only complaint left is that the recording has no such answer
        assert resp.status == 404
        assert (await resp.json())["code"] == -5000
    async with http.post(url, data=f"{body}&signature={'0' * 64}", headers=headers) as resp:
        assert (await resp.json())["code"] == -1022


async def test_timestamp_window_and_skew(make_sim: MakeSim, http) -> None:
    fx = await make_sim(recording(rest(T0, "/fapi/v3/account", ACCOUNT)))
    url = fx.rest_url + "/fapi/v3/account?"
    now = int(time.time() * 1000)
    status, body = await _get(http, url + signed_query([], ts=now + 5000))
    assert (status, body) == (
        400,
        {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."},
    )
    status, body = await _get(http, url + signed_query([], ts=now - 6000))
    assert body == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    status, _ = await _get(http, url + signed_query([("recvWindow", 10000)], ts=now - 6000))
    assert status == 200
    status, body = await _get(http, url + signed_query([("recvWindow", 70000)]))
    assert body["code"] == -1131

    fx.faults.skew_time(-30_000)
    async with http.get(fx.rest_url + "/fapi/v1/time") as resp:
        server_time = (await resp.json())["serverTime"]
    assert abs(server_time - (time.time() * 1000 - 30_000)) < 5_000
    for time_path in ("/api/v3/time", "/dapi/v1/time"):
        async with http.get(fx.rest_url + time_path) as resp:
            assert abs((await resp.json())["serverTime"] - server_time) < 5_000
    status, body = await _get(http, url + signed_query([]))
    assert (status, body["code"]) == (400, -1021)
    status, _ = await _get(http, url + signed_query([], ts=server_time))
    assert status == 200


def _binance_client(fx, secret: str = SECRET) -> AsyncClient:
    client = AsyncClient(KEY, secret)
    client.API_URL = fx.rest_url + "/api"
    client.MARGIN_API_URL = fx.rest_url + "/sapi"
    client.FUTURES_URL = fx.rest_url + "/fapi"
    client.FUTURES_COIN_URL = fx.rest_url + "/dapi"
    client.PAPI_URL = fx.rest_url + "/papi"
    return client


async def test_python_binance_signed_calls_are_accepted(make_sim: MakeSim) -> None:
    fx = await make_sim(example("usdm"))
    client = _binance_client(fx)
    try:
        account = await client.futures_account(version=3)
        assert "totalMaintMargin" in account
        bracket = await client.futures_leverage_bracket(symbol="BTCUSDT")
        assert bracket["symbol"] == "BTCUSDT"
        assert (await client.futures_get_position_mode())["dualSidePosition"] is True
        assert "X-MBX-USED-WEIGHT-1M" in client.response.headers
    finally:
        await client.close_connection()
    bad = _binance_client(fx, secret="not-the-secret")
    try:
        with pytest.raises(BinanceAPIException) as err:
            await bad.futures_account(version=3)
        assert (err.value.status_code, err.value.code) == (400, -1022)
    finally:
        await bad.close_connection()


async def test_python_binance_papi_request_is_accepted(make_sim: MakeSim) -> None:
    fx = await make_sim(example("portfolio_margin"))
    client = _binance_client(fx)
    try:
        account = await client._request("get", fx.rest_url + "/papi/v1/account", True, data={})
        assert "uniMMR" in account
        balance = await client.papi_get_balance()
        assert isinstance(balance, list)
        prices = await client._request_margin_api(
            "get", "portfolio/asset-index-price", signed=False, data={}
        )
        assert isinstance(prices, list) and "assetIndexPrice" in prices[0]
    except BinanceAPIException as exc:  # pragma: no cover - shows the server's reason
        raise AssertionError(f"rejected: {exc.code} {exc.message}") from exc
    finally:
        await client.close_connection()
