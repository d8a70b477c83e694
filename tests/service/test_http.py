"""The HTTP endpoint (monitor/service/http.py): a real server on 127.0.0.1:0, aiohttp client."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.base.secrets import MASK
from monitor.service.health import Health
from monitor.service.http import HttpServer, is_loopback, scrub_document
from monitor.service.metrics import Metrics


def healthy() -> Health:
    return Health(True)


class State:
    """What the server serves; tests change it between requests."""

    def __init__(self) -> None:
        self.health = Health(True, [])
        self.status: dict[str, Any] = {"version": 1, "accounts": []}
        self.secrets: list[str] = []
        self.metrics = Metrics()


@pytest.fixture
async def served() -> AsyncIterator[tuple[State, str, aiohttp.ClientSession]]:
    state = State()
    server = HttpServer(
        "127.0.0.1",
        0,
        health=lambda: state.health,
        status=lambda: state.status,
        metrics=state.metrics,
        secrets=lambda: state.secrets,
    )
    await server.start()
    base = f"http://127.0.0.1:{server.bound_port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield state, base, session
    await server.stop()


async def test_healthz_200_when_healthy_503_with_problems(
    served: tuple[State, str, aiohttp.ClientSession],
) -> None:
    state, base, session = served
    async with session.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.json() == {"healthy": True, "problems": []}
        assert resp.headers["Cache-Control"] == "no-store"
    state.health = Health(False, ["account pm-main: market stream silent 12 s"])
    async with session.get(f"{base}/healthz") as resp:
        assert resp.status == 503
        assert await resp.json() == {
            "healthy": False,
            "problems": ["account pm-main: market stream silent 12 s"],
        }


async def test_metrics_exposition(served: tuple[State, str, aiohttp.ClientSession]) -> None:
    state, base, session = served
    state.metrics.observe_figures("pm-main", "portfolio_margin", 0.7, None, 1.5, 1e6, 7e5)
    state.metrics.reconnect("market-um@fstream.binance.com")
    async with session.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["marginwatch_uni_mmr"].samples[0].value == 1.5
    assert families["marginwatch_stream_reconnects"].samples[0].labels == {
        "connection": "market-um@fstream.binance.com",
    }
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with session.get(f"{base}/metrics", headers=headers) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await resp.text()).rstrip().endswith("# EOF")


async def test_status_is_scrubbed_of_secrets(
    served: tuple[State, str, aiohttp.ClientSession],
) -> None:
    state, base, session = served
    api_secret, listen_key = secrets.token_hex(32), "lk/" + secrets.token_hex(16)
    state.secrets = [api_secret, listen_key]
    state.status = {
        "version": 1,
        "healthy": True,
        "problems": [],
        "accounts": [
            {
                "account": "pm-main",
                "risk": 0.42,
                "uni_mmr": math.inf,
                "last_error": f"GET /ws/{quote(listen_key, safe='')} failed: key {api_secret}",
                "sources": {f"user:{listen_key}": 1.5, "mark:BTCUSDT": 0.2},
                "positions": [{"symbol": "BTCUSDT", "qty": 0.1, "tags": (api_secret,)}],
            }
        ],
    }
    async with session.get(f"{base}/status") as resp:
        assert resp.status == 200
        text = await resp.text()
        doc = await resp.json()
    for form in (api_secret, listen_key, quote(listen_key, safe="")):
        assert form not in text
    account = doc["accounts"][0]
    assert account["risk"] == 0.42 and account["uni_mmr"] is None
    assert account["last_error"] == f"GET /ws/{MASK} failed: key {MASK}"
    assert account["sources"] == {f"user:{MASK}": 1.5, "mark:BTCUSDT": 0.2}
    assert account["positions"][0]["tags"] == [MASK]


async def test_async_status_source_is_awaited() -> None:
    async def status() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"version": 1, "accounts": [{"account": "a"}]}

    server = HttpServer(
        "127.0.0.1", 0, health=lambda: Health(True), status=status, metrics=Metrics()
    )
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.bound_port}/status") as resp,
        ):
            assert (await resp.json())["accounts"] == [{"account": "a"}]
    finally:
        await server.stop()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/status", "/nowhere"])
async def test_only_get_is_served(
    served: tuple[State, str, aiohttp.ClientSession], method: str, path: str
) -> None:
    _, base, session = served
    async with session.request(method, f"{base}{path}", data=b"x" * 10) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD"


async def test_head_is_get_without_a_body(
    served: tuple[State, str, aiohttp.ClientSession],
) -> None:
    state, base, session = served
    state.health = Health(False, ["x"])
    async with session.head(f"{base}/healthz") as resp:
        assert resp.status == 503
        assert await resp.read() == b""


@pytest.mark.parametrize("path", ["/", "/status/", "/metrics/x", "/healthz?x=1#", "/../etc"])
async def test_unknown_paths_are_404(
    served: tuple[State, str, aiohttp.ClientSession], path: str
) -> None:
    _, base, session = served
    async with session.get(f"{base}{path}") as resp:
        expected = 200 if path.startswith("/healthz?") else 404
        assert resp.status == expected
        if expected == 404:
            assert (await resp.json())["paths"] == ["/healthz", "/metrics", "/status"]


async def test_failing_sources_give_500_or_503_and_the_server_keeps_serving(
    served: tuple[State, str, aiohttp.ClientSession], caplog: pytest.LogCaptureFixture
) -> None:
    state, base, session = served
    state.status = {"x": object()}  # not JSON: rendered through str()
    async with session.get(f"{base}/status") as resp:
        assert resp.status == 200 and (await resp.json())["x"].startswith("<object")

    def broken() -> Health:
        raise RuntimeError("boom")

    def no_status() -> dict[str, Any]:
        raise ZeroDivisionError

    server = HttpServer("127.0.0.1", 0, health=broken, status=no_status, metrics=Metrics())
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.bound_port}"
        async with session.get(f"{url}/healthz") as resp:
            assert resp.status == 503
            assert (await resp.json())["problems"] == ["health evaluation failed: RuntimeError"]
        async with session.get(f"{url}/status") as resp:
            assert resp.status == 500
            assert await resp.json() == {"error": "internal error: ZeroDivisionError"}
        async with session.get(f"{url}/metrics") as resp:
            assert resp.status == 200
    finally:
        await server.stop()
    assert "HTTP /status failed" in caplog.text


async def test_bound_port_and_a_busy_port(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="monitor.service.http")
    first = HttpServer("127.0.0.1", 0, health=healthy, status=dict, metrics=Metrics())
    with pytest.raises(RuntimeError, match="not started"):
        _ = first.bound_port
    await first.start()
    try:
        assert first.bound_port > 0
        assert f"HTTP on 127.0.0.1:{first.bound_port}" in caplog.text
        second = HttpServer(
            "127.0.0.1", first.bound_port, health=healthy, status=dict, metrics=Metrics()
        )
        with pytest.raises(OSError):
            await second.start()
    finally:
        await first.stop()
    await first.stop()  # idempotent


async def test_non_loopback_binding_warns(caplog: pytest.LogCaptureFixture) -> None:
    server = HttpServer("0.0.0.0", 0, health=healthy, status=dict, metrics=Metrics())
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.bound_port}/metrics") as resp,
        ):
            assert resp.status == 200
    finally:
        await server.stop()
    assert "reachable from other hosts" in caplog.text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_scrub_document_is_json_safe() -> None:
    doc = {"a": [1, 2.5, -math.inf, True, None, {"k": "s3cr3t!"}], 5: {"s3cr3t!"}}
    assert scrub_document(doc, {"s3cr3t!"}) == {
        "a": [1, 2.5, None, True, None, {"k": MASK}],
        "5": [MASK],
    }
