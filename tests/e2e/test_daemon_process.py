"""`marginwatch run` as a real process against `marginwatch simulate` (another process):
/healthz, /metrics and /status over HTTP, a clean exit on SIGTERM, and no secret anywhere in
what it printed or served."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp

from tests.alerts.sinks import HttpSink, free_port

KEY = "proc-key-Vb7Nq2Xc9Lp4"
SECRET = "proc-secret-Hy6Tr3Wq8Zm1Kd5"


def _config(tmp: Path, sim_port: int, http_port: int, sink_url: str) -> Path:
    path = tmp / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "acct"
environment = "custom"
rest = "http://127.0.0.1:{sim_port}"
ws = "ws://127.0.0.1:{sim_port}"
api_key_env = "E2E_API_KEY"
api_secret_env = "E2E_API_SECRET"

[[notify]]
url = "{sink_url}"

[http]
listen = "127.0.0.1:{http_port}"

[state]
dir = "{tmp / 'state'}"
"""
    )
    return path


async def _wait_http(url: str, timeout: float, want: int | None = None) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    last = (0, "")
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as resp:
                    last = (resp.status, await resp.text())
                    if want is None or resp.status == want:
                        return last
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url}: no {want or 'answer'} within {timeout} s (last {last[0]})")


async def test_run_serves_health_metrics_status_and_stops_on_sigterm(tmp_path: Path) -> None:
    sim_port, http_port = free_port(), free_port()
    sink = HttpSink()
    await sink.start()
    env = {**os.environ, "E2E_API_KEY": KEY, "E2E_API_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "usdm", "--port", str(sim_port),
         "--speed", "5", "--loop", "--api-key", KEY, "--api-secret", SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    log_path = tmp_path / "daemon.log"
    config = _config(tmp_path, sim_port, http_port, sink.json_url())
    try:
        await _wait_http(f"http://127.0.0.1:{sim_port}/fapi/v1/time", 20)
        with log_path.open("w") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        try:
            base = f"http://127.0.0.1:{http_port}"
            _, body = await _wait_http(f"{base}/healthz", 30, want=200)
            assert json.loads(body)["healthy"] is True
            metrics = ""
            deadline = time.monotonic() + 10
            while 'marginwatch_risk_ratio{account="acct"}' not in metrics:
                assert time.monotonic() < deadline, "no risk metric within 10 s"
                _, metrics = await _wait_http(f"{base}/metrics", 5)
                await asyncio.sleep(0.2)
            assert "marginwatch_stream_connected" in metrics
            _, text = await _wait_http(f"{base}/status", 5)
            doc = json.loads(text)
            account = doc["accounts"][0]
            assert account["state"] == "live" and account["mode"] == "usdm"
            assert 0 < account["risk"] < 1 and account["positions"]
            assert all(p["liquidation_price"] is None or p["liquidation_price"] > 0
                       for p in account["positions"])
            async with aiohttp.ClientSession() as session, \
                    session.post(f"{base}/status") as resp:
                assert resp.status == 405
            started = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(daemon.wait, 15)
            assert code == 0
            assert time.monotonic() - started < 10
        finally:
            if daemon.poll() is None:
                daemon.kill()
        output = log_path.read_text()
        served = text + metrics + body
        for secret in (KEY, SECRET):
            for form in {secret, quote(secret, safe="")}:
                assert form not in output, "secret in the daemon's output"
                assert form not in served, "secret served over HTTP"
        assert "stopped" in output
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
        await sink.stop()
