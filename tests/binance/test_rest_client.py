"""Tests for monitor/binance/rest.py and rest_errors.py against a real local HTTP server.

`FakeBinance` (below) is a small aiohttp app on 127.0.0.1 that checks what Binance checks: the
`X-MBX-APIKEY` header, the HMAC-SHA256 signature over the raw query string, and the
`timestamp`/`recvWindow` window against its own (skewable) clock (wire.md §4.1). It reports
`X-MBX-USED-WEIGHT-1M` and plays scripted replies (429 with Retry-After, 418, 503, -2015, empty
202...). The client's sleep and wall clock are injected: nothing here really waits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from monitor.base.backoff import Backoff
from monitor.binance.budget import DEFAULT_LIMITS
from monitor.binance.decode.snapshot import rest_paths_for
from monitor.binance.endpoints import Endpoints, endpoints_for
from monitor.binance.rest import (
    RestClient,
    RestResult,
    is_signed,
    request_weight,
    weight_pool,
)
from monitor.binance.rest_errors import RestError, hint_for
from monitor.engine.model import Mode
from monitor.feed.rest_lines import to_rest_line
from monitor.sim import weights as sim_weights

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
#: Mid-minute on the injected wall clock, so minute arithmetic is exact.
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 10_000

PUBLIC = ("/exchangeInfo", "/premiumIndex", "/assetIndex", "/time", "/listenKey")
PUBLIC_PATHS = {"/sapi/v1/portfolio/asset-index-price", "/sapi/v1/portfolio/collateralRate"}


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def error(status: int, code: int, msg: str, **headers: str) -> Reply:
    return Reply(status, json.dumps({"code": code, "msg": msg}), dict(headers))


@dataclass
class Seen:
    method: str
    path: str
    query: str
    params: dict[str, str]
    api_key: str | None


class FakeBinance:
    """Just enough of Binance's REST front door to test a client against."""

    def __init__(self) -> None:
        self.skew_ms = 0
        self.used_weight = 0
        self.always_1021 = False
        self.script: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.count_1021 = 0
        self.port = 0

    def paths(self, *, skip_time: bool = True) -> list[str]:
        return [s.path for s in self.seen if not (skip_time and s.path.endswith("/time"))]

    def signatures(self) -> list[str]:
        return [s.params["signature"] for s in self.seen if "signature" in s.params]

    def now(self) -> int:
        return int(time.time() * 1000) + self.skew_ms

    def reply(self, status: int, data: Any) -> web.Response:
        self.used_weight += 1
        return web.json_response(
            data, status=status, headers={"X-MBX-USED-WEIGHT-1M": str(self.used_weight)}
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        query = request.query_string
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        path = request.path
        self.seen.append(
            Seen(request.method, path, query, params, request.headers.get("X-MBX-APIKEY"))
        )
        queued = self.script.get(path)
        if queued:
            reply = queued.pop(0)
            self.used_weight += 1
            headers = {"X-MBX-USED-WEIGHT-1M": str(self.used_weight), **reply.headers}
            return web.Response(
                status=reply.status,
                text=reply.body,
                headers=headers,
                content_type=reply.content_type,
            )
        if path.endswith("/time"):
            return self.reply(200, {"serverTime": self.now()})
        public = path in PUBLIC_PATHS or path.endswith(PUBLIC)
        needs_key = not public or path.endswith("/listenKey")
        if needs_key and request.headers.get("X-MBX-APIKEY") != KEY:
            return self.reply(
                401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action"}
            )
        if not public:
            problem = self.check_signed(query, body, params)
            if problem is not None:
                return problem
        return self.reply(200, {"path": path, "params": params})

    def check_signed(self, query: str, body: str, params: dict[str, str]) -> web.Response | None:
        if "&signature=" not in query:
            return self.reply(400, {"code": -1102, "msg": "Mandatory parameter 'signature'"})
        payload, signature = query.rsplit("&signature=", 1)
        expected = hmac.new(SECRET.encode(), (payload + body).encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), signature):
            return self.reply(
                400, {"code": -1022, "msg": "Signature for this request is not valid."}
            )
        server = self.now()
        stamp = int(params["timestamp"])
        window = int(params.get("recvWindow", "5000"))
        if self.always_1021 or not (stamp < server + 1000 and server - stamp <= window):
            self.count_1021 += 1
            return self.reply(
                400,
                {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
            )
        return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


class Clock:
    """An injected wall clock (ms) that only moves when a test moves it."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


class Sleeps:
    """An injected sleep: records the delay, returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def endpoints(port: int) -> Endpoints:
    return endpoints_for("custom", rest=f"http://127.0.0.1:{port}", ws="ws://127.0.0.1:1")


@dataclass
class Rig:
    fake: FakeBinance
    client: RestClient
    sleeps: Sleeps
    clock: Clock


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make(fake: FakeBinance) -> AsyncIterator[MakeRig]:
    clients: list[RestClient] = []

    async def build(**kwargs: Any) -> Rig:
        sleeps, clock = Sleeps(), Clock()
        key = kwargs.pop("api_key", KEY)
        port = kwargs.pop("port", fake.port)
        client = RestClient(
            endpoints(port),
            key,
            SECRET,
            sleep=sleeps,
            wall_ms=clock,
            backoff=Backoff(base_s=0.5, rng=lambda: 0.0),
            **kwargs,
        )
        clients.append(client)
        return Rig(fake, client, sleeps, clock)

    yield build
    for client in clients:
        await client.close()


# ---------------------------------------------------------------------------------- signing
async def test_signed_get_is_accepted_and_result_describes_it(make: MakeRig) -> None:
    rig = await make()
    result = await rig.client.get("/fapi/v3/account")

    assert result.method == "GET"
    assert result.path == "/fapi/v3/account"
    assert result.params == {}
    assert result.status == 200
    assert result.data["path"] == "/fapi/v3/account"
    assert result.t_ms == T0
    assert result.used_weight == rig.fake.used_weight
    assert rig.client.stats.last_used_weight == rig.fake.used_weight
    # the clock was synced first, from USDⓈ-M /time; then the signed call carried key + window
    assert rig.fake.paths(skip_time=False) == ["/fapi/v1/time", "/fapi/v3/account"]
    seen = rig.fake.seen[-1]
    assert seen.api_key == KEY
    assert seen.params["recvWindow"] == "10000"
    assert seen.query.split("&")[-1].startswith("signature=")
    assert rig.client.stats.time_syncs == 1
    assert rig.client.stats.by_status == {200: 2}


async def test_public_paths_are_not_signed(make: MakeRig) -> None:
    rig = await make()
    await rig.client.get("/fapi/v1/exchangeInfo")
    await rig.client.get("/sapi/v1/portfolio/asset-index-price", {"asset": "BTC"})
    assert all("signature" not in s.params for s in rig.fake.seen)
    assert rig.client.stats.time_syncs == 0  # no signed call yet, so no clock sync either
    assert not is_signed("/papi/v1/listenKey")
    assert is_signed("/papi/v1/um/positionRisk")
    assert is_signed("/sapi/v2/portfolio/collateralRate")


async def test_param_order_does_not_matter(make: MakeRig) -> None:
    rig = await make()
    one = await rig.client.get("/dapi/v1/positionRisk", {"pair": "BTCUSD", "marginAsset": "BTC"})
    two = await rig.client.get("/dapi/v1/positionRisk", {"marginAsset": "BTC", "pair": "BTCUSD"})
    assert one.status == two.status == 200
    assert one.params == two.params == {"pair": "BTCUSD", "marginAsset": "BTC"}
    assert rig.fake.seen[-1].params["pair"] == "BTCUSD"
    assert rig.fake.seen[-1].params["marginAsset"] == "BTC"


async def test_integer_params_are_sent_as_text(make: MakeRig) -> None:
    rig = await make()
    result = await rig.client.get("/fapi/v3/positionRisk", {"symbol": "BTCUSDT", "limit": 5})
    assert result.params == {"symbol": "BTCUSDT", "limit": "5"}
    assert rig.fake.seen[-1].params["limit"] == "5"


# ---------------------------------------------------------------------------------- time
async def test_time_synced_once_then_minus_1021_resyncs_once(make: MakeRig) -> None:
    rig = await make()
    rig.fake.skew_ms = 30_000  # server 30 s ahead: an unsynced timestamp would be rejected
    await rig.client.get("/fapi/v3/account")
    await rig.client.get("/fapi/v3/balance")
    assert rig.client.stats.time_syncs == 1
    assert rig.fake.count_1021 == 0
    assert 29_000 <= rig.client.offset_ms <= 31_000

    rig.fake.skew_ms = -20_000  # the server's clock moved: our stamp is now 50 s ahead
    result = await rig.client.get("/fapi/v3/positionRisk")
    assert result.status == 200
    assert rig.fake.count_1021 == 1
    assert rig.client.stats.time_syncs == 2
    assert rig.client.stats.errors == {-1021: 1}
    assert -21_000 <= rig.client.offset_ms <= -19_000
    assert rig.client.stats.retries == 0  # an immediate re-sync retry, not a backoff retry
    assert rig.sleeps.calls == []

    await rig.client.get("/fapi/v3/account")
    await rig.client.get("/fapi/v3/balance")
    assert rig.fake.count_1021 == 1  # never repeats
    assert rig.client.stats.time_syncs == 2


async def test_second_minus_1021_in_a_row_is_an_error(make: MakeRig) -> None:
    rig = await make()
    rig.fake.always_1021 = True
    with pytest.raises(RestError) as caught:
        await rig.client.get("/fapi/v3/account")
    assert caught.value.code == -1021
    assert caught.value.status == 400
    assert "clock" in str(caught.value)
    assert rig.fake.count_1021 == 2
    assert rig.client.stats.time_syncs == 2


async def test_time_is_resynced_periodically_and_from_dapi_for_coinm(make: MakeRig) -> None:
    from monitor.binance.endpoints import Product

    rig = await make(time_product=Product.CM, resync_s=600.0)
    await rig.client.get("/dapi/v1/account")
    rig.clock.now += 599_000
    await rig.client.get("/dapi/v1/account")
    assert rig.client.stats.time_syncs == 1
    rig.clock.now += 2_000
    await rig.client.get("/dapi/v1/account")
    assert rig.client.stats.time_syncs == 2
    assert [p for p in rig.fake.paths(skip_time=False) if p.endswith("/time")] == [
        "/dapi/v1/time",
        "/dapi/v1/time",
    ]
    assert await rig.client.sync_time() == rig.client.offset_ms
    assert rig.client.stats.time_syncs == 3


# ---------------------------------------------------------------------------------- weight
async def test_weight_headroom_waits_for_the_next_minute(make: MakeRig) -> None:
    rig = await make(weight_limit=2400, weight_headroom=0.8)  # budget 1920
    rig.fake.used_weight = 1900
    await rig.client.get("/fapi/v1/exchangeInfo")  # weight 1 → header says 1901
    assert rig.sleeps.calls == []
    await rig.client.get("/fapi/v3/account")  # /time → 1902; 1902 + 5 fits
    assert rig.sleeps.calls == []
    rig.fake.used_weight = 1917
    await rig.client.get("/fapi/v1/exchangeInfo")  # header 1918
    await rig.client.get("/fapi/v3/account")  # 1918 + 5 > 1920: wait ~50 s (T0 is at :10)
    assert len(rig.sleeps.calls) == 1
    assert 49.0 <= rig.sleeps.calls[0] <= 51.0
    assert rig.client.stats.throttled_s == pytest.approx(rig.sleeps.calls[0])
    assert rig.fake.paths()[-1] == "/fapi/v3/account"  # sent after the wait
    assert request_weight("/fapi/v1/assetIndex") == 10
    assert request_weight("/fapi/v1/assetIndex", {"symbol": "BTCUSD"}) == 1


def test_the_client_charges_what_the_fake_exchange_counts() -> None:
    """The client's weights (what its budget reserves) and the fake's (what it counts against
    its limit) are both wire.md §4's table: a path the client charged less for would let a
    fleet's budget overshoot the exchange's limit."""
    assert sim_weights.POOL_LIMITS == DEFAULT_LIMITS  # Binance's limit of each pool
    for path in sim_weights.WEIGHTS:
        assert weight_pool(path) == sim_weights.pool_of(path), path
        for params in ({}, {"symbol": "BTCUSDT"}, {"asset": "BTC"}):
            assert request_weight(path, params) == sim_weights.request_weight(path, params), (
                path, params)


async def test_weight_from_another_minute_does_not_block(make: MakeRig) -> None:
    rig = await make()
    rig.fake.used_weight = 2300
    await rig.client.get("/fapi/v1/exchangeInfo")
    rig.clock.now += 60_000  # a new minute: last minute's count no longer applies
    await rig.client.get("/fapi/v1/premiumIndex")
    assert rig.sleeps.calls == []


# ---------------------------------------------------------------------------------- throttles
async def test_429_retry_after_is_honoured(make: MakeRig) -> None:
    rig = await make()
    rig.fake.script["/fapi/v1/exchangeInfo"] = [
        error(
            429,
            -1003,
            "Too many requests; current limit is 2400 request weight per 1 MINUTE.",
            **{"Retry-After": "7"},
        ),
    ]
    result = await rig.client.get("/fapi/v1/exchangeInfo")
    assert result.status == 200
    assert len(rig.sleeps.calls) == 1
    assert rig.sleeps.calls[0] >= 7.0
    assert rig.client.stats.retries == 1
    assert rig.client.stats.throttled_s >= 7.0
    assert rig.client.stats.by_status == {429: 1, 200: 1}


async def test_418_waits_for_the_ban_then_retries(make: MakeRig) -> None:
    rig = await make()
    banned = (SAMPLES / "error_1003_banned.json").read_text(encoding="utf-8")
    rig.fake.script["/fapi/v1/premiumIndex"] = [Reply(418, banned, {"Retry-After": "3"})]
    result = await rig.client.get("/fapi/v1/premiumIndex")
    assert result.status == 200
    assert rig.sleeps.calls and rig.sleeps.calls[0] >= 3.0
    assert rig.fake.paths() == ["/fapi/v1/premiumIndex", "/fapi/v1/premiumIndex"]


async def test_long_ban_is_raised_and_the_next_call_is_not_sent(make: MakeRig) -> None:
    rig = await make(max_retry_after_s=300.0)
    banned = (SAMPLES / "error_1003_banned.json").read_text(encoding="utf-8")
    rig.fake.script["/fapi/v1/premiumIndex"] = [Reply(418, banned, {"Retry-After": "7200"})]
    with pytest.raises(RestError) as caught:
        await rig.client.get("/fapi/v1/premiumIndex")
    assert caught.value.status == 418
    assert caught.value.code == -1003
    assert caught.value.retry_after_s == 7200.0
    assert "Retry-After 7200 s" in str(caught.value)
    assert rig.sleeps.calls == []  # did not sit in a two-hour sleep
    with pytest.raises(RestError) as again:
        await rig.client.get("/fapi/v1/exchangeInfo")
    assert "not sent" in str(again.value)
    assert rig.fake.paths() == ["/fapi/v1/premiumIndex"]  # nothing hammered the banned IP
    rig.clock.now += 7_200_000
    assert (await rig.client.get("/fapi/v1/exchangeInfo")).status == 200


async def test_5xx_is_retried_with_backoff_then_succeeds(make: MakeRig) -> None:
    rig = await make()
    rig.fake.script["/papi/v1/account"] = [
        Reply(503, "Service Unavailable.", content_type="text/plain"),
        error(503, -1008, "Request throttled by system-level protection."),
    ]
    result = await rig.client.get("/papi/v1/account")
    assert result.status == 200
    assert rig.sleeps.calls == [0.25, 0.5]  # Backoff(0.5, rng=0): half of 0.5, then of 1.0
    assert rig.client.stats.by_status[503] == 2
    assert rig.client.stats.retries == 2
    assert rig.client.stats.errors == {-503: 1, -1008: 1}


async def test_max_attempts_exhausted_raises(make: MakeRig) -> None:
    rig = await make(max_attempts=3)
    rig.fake.script["/fapi/v3/account"] = [
        Reply(503, "Service Unavailable.", content_type="text/plain") for _ in range(5)
    ]
    with pytest.raises(RestError) as caught:
        await rig.client.get("/fapi/v3/account")
    exc = caught.value
    assert exc.status == 503
    assert exc.code is None
    assert exc.attempts == 3
    assert "Service Unavailable." in str(exc)
    assert "after 3 attempts" in str(exc)
    assert rig.fake.paths().count("/fapi/v3/account") == 3
    assert len(rig.sleeps.calls) == 2


async def test_connection_errors_are_retried_then_raised(make: MakeRig, fake: FakeBinance) -> None:
    rig = await make(max_attempts=2, port=1)  # nothing listens on port 1
    with pytest.raises(RestError) as caught:
        await rig.client.get("/fapi/v1/exchangeInfo")
    assert caught.value.status is None
    assert "no HTTP reply" in str(caught.value)
    assert rig.client.stats.transport_errors == 2
    assert len(rig.sleeps.calls) == 1


# ---------------------------------------------------------------------------------- errors
async def test_minus_2015_has_the_hint_and_no_secret_anywhere(
    make: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "Zz" + KEY[2:]
    rig = await make(api_key=wrong_key)
    with pytest.raises(RestError) as caught:
        await rig.client.get("/fapi/v3/account")
    exc = caught.value
    assert str(exc) == (
        'GET /fapi/v3/account: HTTP 401, Binance -2015 "Invalid API-key, IP, or permissions for '
        'action" — the key lacks permission, the IP is not whitelisted, or this is a Portfolio '
        'Margin key used on /fapi (set mode = "portfolio_margin")'
    )
    assert (exc.status, exc.code, exc.path) == (401, -2015, "/fapi/v3/account")
    assert rig.fake.paths().count("/fapi/v3/account") == 1  # not retried
    signatures = rig.fake.signatures()
    assert signatures
    texts = [str(exc), repr(exc), caplog.text]
    for secret in (wrong_key, SECRET, *signatures):
        for text in texts:
            assert secret not in text


async def test_binance_text_echoing_a_secret_is_scrubbed(
    make: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = await make(max_attempts=2)
    rig.fake.script["/fapi/v1/exchangeInfo"] = [
        error(503, -1016, f"maintenance for key {KEY}"),
        error(400, -1102, f"bad parameter near {KEY}"),
    ]
    with pytest.raises(RestError) as caught:
        await rig.client.get("/fapi/v1/exchangeInfo")
    assert caught.value.code == -1102
    assert "***" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert KEY not in text


async def test_empty_202_body_is_an_error_with_a_hint(make: MakeRig) -> None:
    rig = await make()
    rig.fake.script["/papi/v1/account"] = [Reply(202, "", content_type="text/plain")]
    with pytest.raises(RestError) as caught:
        await rig.client.get("/papi/v1/account")
    assert caught.value.status == 202
    assert "empty" in str(caught.value)
    assert "202 with an empty body" in str(caught.value)
    assert rig.fake.paths().count("/papi/v1/account") == 1


async def test_non_json_2xx_body_is_an_error(make: MakeRig) -> None:
    rig = await make()
    rig.fake.script["/fapi/v1/exchangeInfo"] = [
        Reply(200, "<html>maintenance</html>", content_type="text/html"),
        Reply(200, "{not json", content_type="application/json"),
    ]
    for _ in range(2):
        with pytest.raises(RestError) as caught:
            await rig.client.get("/fapi/v1/exchangeInfo")
        assert caught.value.status == 200
        assert "not JSON" in str(caught.value)


def test_hints_cover_the_common_codes_and_statuses() -> None:
    for code in (-1021, -1022, -2014, -2015, -1125, -1003, -1016):
        assert hint_for("/fapi/v3/account", 400, code), code
    for status in (418, 401, 403, 404, 429, 503):
        assert hint_for("/fapi/v3/account", status, None), status
    assert "/dapi" in (hint_for("/dapi/v1/account", 401, -2015) or "")
    assert "Portfolio Margin key used" not in (hint_for("/papi/v1/account", 401, -2015) or "")
    assert hint_for("/fapi/v3/account", 400, -4999) is None
    plain = RestError("get", "/fapi/v1/time", None, None, "timed out", hint="")
    assert str(plain) == "GET /fapi/v1/time: no HTTP reply, timed out"
    assert plain.transient


# ---------------------------------------------------------------------------------- snapshot
async def test_snapshot_fetches_every_path_in_order(make: MakeRig) -> None:
    rig = await make()
    paths = rest_paths_for(Mode.PORTFOLIO_MARGIN)
    results = await rig.client.snapshot(paths)
    assert [r.path for r in results] == paths
    assert [r.data["path"] for r in results] == paths
    assert rig.fake.paths() == paths
    signed = {s.path for s in rig.fake.seen if "signature" in s.params}
    assert "/papi/v1/account" in signed
    assert "/fapi/v1/exchangeInfo" not in signed
    assert "/sapi/v1/portfolio/collateralRate" not in signed


async def test_to_rest_line_strips_signing_params(make: MakeRig) -> None:
    rig = await make()
    result = await rig.client.get("/fapi/v1/leverageBracket", {"symbol": "BTCUSDT"})
    line = to_rest_line(result)
    assert (line.t, line.method, line.path, line.status) == (T0, "GET", result.path, 200)
    assert line.params == {"symbol": "BTCUSDT"}
    assert line.data == result.data
    raw = RestResult(
        "GET",
        "/fapi/v3/account",
        {"symbol": "X", "timestamp": "1", "signature": "ab", "recvWindow": "5", "listenKey": "k"},
        200,
        {},
        5,
        None,
    )
    assert to_rest_line(raw).params == {"symbol": "X"}
