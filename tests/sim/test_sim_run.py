"""`marginwatch simulate` runner: banner with URLs and TOML snippet, clean stop on cancel."""

from __future__ import annotations

import asyncio
import io
import re
import tomllib
from pathlib import Path

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed

from monitor.examples import path as example
from monitor.sim.run import KEY_ENV, SECRET_ENV, run_simulate, serve
from tests.sim.helpers import wait_until, ws_connect


async def test_serve_prints_urls_and_config_then_stops_on_cancel() -> None:
    out = io.StringIO()
    task = asyncio.create_task(serve(example("portfolio_margin"), port=0, speed=50, out=out))
    await wait_until(lambda: "Ctrl-C" in out.getvalue() or task.done())
    text = out.getvalue()
    rest_url = re.search(r"REST (http://127\.0\.0\.1:\d+)", text)
    ws_url = re.search(r"WS   (ws://127\.0\.0\.1:\d+)", text)
    assert rest_url and ws_url
    snippet = text[text.index("[[accounts]]") : text.index("and export")]
    account = tomllib.loads(snippet)["accounts"][0]
    assert account == {
        "name": "main",
        "environment": "custom",
        "mode": "portfolio_margin",
        "rest": rest_url.group(1),
        "ws": ws_url.group(1),
        "api_key_env": KEY_ENV,
        "api_secret_env": SECRET_ENV,
    }
    assert f"export {KEY_ENV}=sim-api-key" in text
    async with (
        aiohttp.ClientSession() as session,
        session.get(rest_url.group(1) + "/fapi/v1/time") as resp,
    ):
        assert resp.status == 200
    conn = await ws_connect(ws_url.group(1) + "/market/stream?streams=btcusdt@markPrice@1s")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    with pytest.raises(ConnectionClosed) as err:  # stop() closed the socket
        while True:
            await asyncio.wait_for(conn.recv(), 3)
    assert err.value.rcvd is not None and err.value.rcvd.code == 1001


def test_run_simulate_reports_bad_recordings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "rest"}\n')
    assert run_simulate(bad, port=0) == 2
    assert "the first line must be the 'meta' line" in capsys.readouterr().err
    assert run_simulate(tmp_path / "missing.jsonl", port=0) == 2
    assert run_simulate(example("usdm"), port=0, speed=0) == 2
