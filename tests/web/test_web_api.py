"""The dashboard's HTTP side against `serve` following the fake exchange (usdm recording):
pages with a strict CSP, read-only, the event stream, the history and the what-if API (its
figures equal the engine's stress evaluator; bad input is a 400 with one line)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor import examples
from monitor.config import load_config
from monitor.engine.valuation import Move, evaluate
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.service.http import HttpServer
from monitor.service.runner import serve
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink
from tests.e2e.harness import API_KEY, API_SECRET, FAST, until, write_config

#: End to end (a daemon on the fake exchange behind its HTTP server): outside the fast lane.
pytestmark = pytest.mark.e2e


async def _events(session: aiohttp.ClientSession, url: str, count: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(15), session.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        async for line in resp.content:
            if line.startswith(b"data: "):
                out.append(json.loads(line[6:]))
                if len(out) == count:
                    return out
    raise AssertionError("the event stream ended early")


async def test_pages_events_history_and_whatif(tmp_path: Path) -> None:
    fake = FakeExchange.from_file(
        examples.path("usdm"), speed=20.0, api_key=API_KEY, api_secret=API_SECRET
    )
    sink = HttpSink()
    await sink.start()
    await fake.start()
    stop = asyncio.Event()
    ready: list[tuple[Daemon, HttpServer]] = []
    config = load_config(write_config(tmp_path, fake.rest_url, fake.ws_url, sink.json_url()))
    task = asyncio.create_task(
        serve(config, DaemonOptions(live=FAST), stop=stop,
              on_ready=lambda d, s: ready.append((d, s)))
    )
    try:
        await until(lambda: bool(ready), "the daemon to start")
        daemon, server = ready[0]
        assert daemon.dashboard_live
        base = f"http://127.0.0.1:{server.bound_port}"
        runtime = daemon.slots["acct"].runtime
        await until(lambda: runtime.core.book is not None, "the first snapshot")
        await until(lambda: len(daemon.dashboard.rings["acct"]) >= 2, "two risk samples")
        async with aiohttp.ClientSession() as s:
            # -- pages: served from the package, strict CSP, read-only
            for path, marker in (("/", b"overview.js"), ("/account/acct", b"account.js")):
                async with s.get(base + path) as resp:
                    assert resp.status == 200
                    assert marker in await resp.read()
                    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
                    assert resp.headers["Cache-Control"] == "no-store"
                async with s.post(base + path, data=b"x") as resp:
                    assert resp.status == 405
            async with s.get(base + "/static/account.js") as resp:
                assert resp.status == 200 and resp.content_type == "text/javascript"
            for path in ("/account/nobody", "/static/nothing.js", "/static/index.html"):
                async with s.get(base + path) as resp:
                    assert resp.status == 404, path

            # -- live updates: pushed once a second, each account's /status entry
            events = await _events(s, base + "/events", 2)
            assert events[1]["t"] > events[0]["t"]
            async with s.get(base + "/status") as resp:
                status = (await resp.json())["accounts"][0]
            pushed = events[-1]["accounts"][0]
            assert set(status) <= set(pushed)
            assert pushed["account"] == "acct" and pushed["levels"] == status["levels"]
            # the client left: noticed at the next write (a second), then unsubscribed
            await until(lambda: not daemon.dashboard.subscribers, "the client gone", 5)

            # -- history: the ring buffer's samples and the level lines
            async with s.get(base + "/api/history?account=acct") as resp:
                history = await resp.json()
            assert history["levels"] == [0.70, 0.85, 0.95]
            assert len(history["points"]) >= 2 and history["capacity"] == 6 * 3600

            # -- what-if: the engine's figures; bad input is a 400 with one line
            book = runtime.core.book
            fake.faults.silence("all")
            await asyncio.sleep(1.5)
            state = book.state.copy()
            async with s.get(
                base + "/api/whatif", params=[("account", "acct"), ("move", "SOL:-0.04")]
            ) as resp:
                assert resp.status == 200
                answer = await resp.json()
            expected = evaluate(state, Move(0.96, "SOL")).risk
            assert abs(answer["risk"] - expected) <= 1e-9 * expected
            assert answer["account"] == "acct" and answer["whatif"]["moves"] == {"SOL": -0.04}
            for query, message in (
                ("account=nobody&move=BTC:-0.1", "unknown account"),
                ("move=BTC:-0.1", "exactly one account"),
                ("account=acct&move=BTC", "expected ASSET:FRACTION"),
                ("account=acct&move=BTC:x", "not a number"),
                ("account=acct&moves=BTC:-0.1", "unknown parameter"),
                ("account=acct&rate=BTC:0.9", "Portfolio Margin"),
                ("account=acct&move=XYZ:-0.1", "not an asset of this account"),
            ):
                async with s.get(f"{base}/api/whatif?{query}") as resp:
                    assert resp.status == 400, query
                    error = (await resp.json())["error"]
                    assert message in error and "\n" not in error, (query, error)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
        await fake.stop()
        await sink.stop()
    assert not daemon.dashboard_live  # the stopped daemon's dashboard is withdrawn
