"""`marginwatch watch`: rendering a /status document, and polling a real local endpoint."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from rich.console import Console

from monitor.calc import calc_file
from monitor.examples import path as example_path
from monitor.service.watch import status_url, watch
from monitor.service.watch_render import render_status, render_unreachable

T = 1_784_102_700_000


def status_document() -> dict[str, Any]:
    """A /status document as briefs/status.md describes it, with real `calc --json` figures."""
    pm = calc_file(example_path("portfolio_margin"))
    um = calc_file(example_path("usdm"))
    return {
        "version": 1,
        "t": T,
        "healthy": False,
        "problems": ["account pm-main: user stream silent 21 s"],
        "accounts": [
            {
                **pm,
                "account": "pm-main",
                "environment": "mainnet",
                "state": "live",
                "level": "warning",
                "updated_ms": T - 400,
                "streams": [
                    {
                        "name": "market-um",
                        "connected": True,
                        "last_frame_age_s": 0.4,
                        "reconnects": 3,
                        "frames": 1234,
                        "decode_errors": 0,
                        "watchdog_fires": 0,
                        "rotations": 0,
                    },
                    {
                        "name": "user",
                        "connected": False,
                        "last_frame_age_s": 21.5,
                        "reconnects": 7,
                        "frames": 12,
                        "decode_errors": 2,
                        "watchdog_fires": 1,
                        "rotations": 1,
                    },
                ],
                "sources": {"mark:BTCUSDT": 0.4, "user_stream": 21.5, "rest": 12.2},
                "last_error": None,
            },
            {
                **um,
                "account": "[bold]futures[/bold]",
                "environment": "testnet",
                "state": "blind",
                "level": None,
                "updated_ms": T - 20_000,
                "streams": [],
                "sources": {},
                "last_error": "market stream: connection reset",
            },
            {
                "account": "fresh",
                "environment": "demo",
                "state": "starting",
                "level": None,
                "updated_ms": None,
                "streams": [],
                "sources": {},
                "last_error": None,
            },
        ],
    }


def _text(renderable: Any) -> str:
    console = Console(record=True, width=120)
    console.print(renderable)
    return console.export_text()


def test_render_status_shows_every_account() -> None:
    doc = status_document()
    text = _text(render_status(doc))
    pm = doc["accounts"][0]
    assert "UNHEALTHY" in text and "3 account(s)" in text
    assert "account pm-main: user stream silent 21 s" in text
    assert "pm-main · portfolio_margin · mainnet" in text
    assert "LIVE" in text and "WARNING" in text and "updated 0.4 s ago" in text
    assert f"{pm['risk'] * 100:.2f} % uniMMR {pm['uni_mmr']:.3f}" in text
    assert f"equity {pm['equity']:,.2f} USD" in text
    # positions with their liquidation prices and the distance to them
    shown = [p for p in pm["positions"] if p["liquidation_price"] is not None]
    assert shown  # and BTCUSD_PERP alone cannot liquidate this hedged book within ±90 %
    for p in shown:
        lp, mark = p["liquidation_price"], p["mark_price"]
        assert f"{lp:,.2f}" in text
        assert f"{(lp - mark) / mark * 100:+.1f} %" in text
    nearest = pm["distance"]["nearest_underlying"]
    move = pm["distance"]["by_underlying"][nearest]["up"]
    assert f"nearest: {nearest} alone +{move * 100:.1f} %" in text
    # stream health
    assert "market-um" in text and "● yes" in text and "1,234" in text
    assert "✗ no" in text and "21.5 s" in text
    assert "mark:BTCUSDT 0.4 s" in text
    # the futures account: margin ratio, blind, its error; markup in names is not interpreted
    assert "[bold]futures[/bold] · usdm · testnet" in text
    assert "BLIND" in text and "margin ratio" in text
    assert "last error: market stream: connection reset" in text
    # the account still starting has no figures
    assert "STARTING" in text and "no figures yet" in text


def test_render_status_survives_a_malformed_document() -> None:
    doc = {
        "version": 7,
        "t": "later",
        "healthy": None,
        "problems": "not a list",
        "accounts": [
            {"account": 5, "risk": "high", "positions": "none", "streams": [1, {"name": 5}]},
            {
                "account": "x",
                "risk": float("nan"),
                "distance": {"by_underlying": 3},
                "positions": [{"symbol": "BTCUSDT", "mark_price": 0, "liquidation_price": 1.0}],
            },
            3,
        ],
    }
    text = _text(render_status(doc))
    assert "unexpected /status version 7" in text
    assert "1 malformed account entr(y/ies) skipped" in text
    assert "health unknown" in text
    assert "BTCUSDT" in text


def test_status_url() -> None:
    assert status_url("http://127.0.0.1:9108") == "http://127.0.0.1:9108/status"
    assert status_url("http://127.0.0.1:9108/") == "http://127.0.0.1:9108/status"
    assert status_url("http://h:1/status") == "http://h:1/status"
    assert "unreachable" in _text(render_unreachable("http://h:1/status", "refused"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Handler = Callable[[web.Request], Any]


async def _serve(handler: Handler, port: int = 0) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/status", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def daemon() -> AsyncIterator[str]:
    doc = status_document()

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(doc, status=503)  # unhealthy: the document comes all the same

    runner, url = await _serve(handler)
    yield url
    await runner.cleanup()


async def test_once_against_a_live_endpoint(daemon: str) -> None:
    console = Console(record=True, width=120)
    assert await watch(daemon, 1.0, True, console) == 0
    text = console.export_text()
    assert "pm-main · portfolio_margin · mainnet" in text
    assert "uniMMR" in text and "market-um" in text


async def test_once_unreachable_exits_2() -> None:
    console = Console(record=True, width=120)
    url = f"http://127.0.0.1:{_free_port()}"
    assert await watch(url, 1.0, True, console) == 2
    text = console.export_text()
    assert "daemon unreachable" in text and f"{url}/status" in text


async def test_once_not_a_status_document_exits_2() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>", status=502)

    runner, url = await _serve(handler)
    try:
        console = Console(record=True, width=120)
        assert await watch(url, 1.0, True, console) == 2
        assert "HTTP 502: not a /status document" in console.export_text()
    finally:
        await runner.cleanup()


async def _until(console: Console, needle: str, timeout: float = 10.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        text = console.export_text(clear=False)
        if needle in text:
            return text
        assert asyncio.get_running_loop().time() < deadline, f"never showed {needle!r}"
        await asyncio.sleep(0.02)


async def test_live_view_keeps_retrying_until_the_daemon_answers() -> None:
    port = _free_port()
    console = Console(record=True, width=120)
    task = asyncio.create_task(watch(f"http://127.0.0.1:{port}", 0.05, False, console))
    runner: web.AppRunner | None = None
    try:
        await _until(console, "2 failed attempt(s) in a row")
        doc = status_document()

        async def handler(request: web.Request) -> web.Response:
            return web.json_response(doc)

        runner, _ = await _serve(handler, port)
        text = await _until(console, "pm-main · portfolio_margin")
        assert text.index("daemon unreachable") < text.index("pm-main")
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if runner is not None:
            await runner.cleanup()


def test_every_figure_says_its_unit_and_the_risk_its_pool() -> None:
    um = {**calc_file(example_path("usdm")), "account": "um", "state": "live"}
    cm = {**calc_file(example_path("coinm")), "account": "cm", "state": "live"}
    text = _text(render_status({"version": 1, "t": T, "healthy": True, "accounts": [um, cm]}))
    # the usdm account's risk is its isolated SOLUSDT leg's, not the USDT pool's margin ratio
    assert f"{um['risk'] * 100:.2f} % (isolated SOLUSDT LONG)" in text
    assert f"equity {um['equity']:,.2f} USDT · maintenance margin" in text
    # quantities in base coin or contracts, prices in the quote, uPnL in the settle asset
    assert "0.52 BTC" in text and "97,128.40 USDT" in text and "−0.25 BTC" not in text
    assert "margin ratio 4.47 % (USDT cross pool)" in text
    assert "400 contracts" in text and "96,410.70 USD " in text
    btc_perp = next(p for p in cm["positions"] if p["symbol"] == "BTCUSD_PERP")
    assert f"{btc_perp['unrealized_pnl']:,.6g} BTC" in text


def test_ack_and_snooze_are_shown() -> None:
    doc = status_document()
    pm = doc["accounts"][0]
    pm["ack"] = {"level": "critical", "t_ms": T - 60_000, "incident": "pm-main:1"}
    pm["snooze_until"] = T + 15 * 60_000
    text = _text(render_status(doc))
    assert "acknowledged at critical" in text
    assert "snoozed 15 min more" in text
    pm["ack"], pm["snooze_until"] = None, T - 1  # over: nothing shown
    text = _text(render_status(doc))
    assert "acknowledged" not in text and "snoozed" not in text
