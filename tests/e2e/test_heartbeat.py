"""The dead-man's switch (`[heartbeat]`): `marginwatch run` as a real process pings a loopback
receiver while healthy, sends `/fail` once its account is blind (the fake exchange's streams
silenced), and the receiver hears nothing more once the process is SIGKILLed. The URL's token
never appears in the daemon's output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from monitor import examples
from monitor.service.heartbeat import fail_url
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink, free_port
from tests.e2e.harness import API_KEY, API_SECRET, until

TOKEN = "hb-token-5f0c2a9e7d4b"


class Receiver:
    """A loopback push-monitor endpoint: records (monotonic time, path) of every GET."""

    def __init__(self) -> None:
        self.hits: list[tuple[float, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        async def hit(request: web.Request) -> web.Response:
            self.hits.append((time.monotonic(), request.path))
            return web.Response(text="OK")

        app = web.Application()
        app.router.add_get("/{tail:.*}", hit)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def paths(self) -> list[str]:
        return [p for _, p in self.hits]


def test_fail_url_appends_to_the_path_and_keeps_the_query() -> None:
    assert fail_url("https://hc-ping.com/abc") == "https://hc-ping.com/abc/fail"
    assert fail_url("https://hc-ping.com/abc/") == "https://hc-ping.com/abc/fail"
    assert fail_url("https://x.io/p/KEY/job?env=prod") == "https://x.io/p/KEY/job/fail?env=prod"


async def test_pings_while_healthy_fail_while_blind_silence_when_killed(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    sink = HttpSink()
    await sink.start()
    fake = FakeExchange.from_file(
        examples.path("usdm"), speed=20.0, loop=True, api_key=API_KEY, api_secret=API_SECRET
    )
    await fake.start()
    config = tmp_path / "marginwatch.toml"
    config.write_text(
        f"""
[[accounts]]
name = "acct"
environment = "custom"
rest = "{fake.rest_url}"
ws = "{fake.ws_url}"
api_key_env = "HB_KEY"
api_secret_env = "HB_SECRET"

[[notify]]
url = "{sink.json_url()}"

[alerts]
stale_after_s = 2

[http]
listen = "127.0.0.1:{free_port()}"

[state]
dir = "{tmp_path / 'state'}"

[heartbeat]
url_env = "HB_URL"
interval_s = 0.3
""",
        encoding="utf-8",
    )
    os.chmod(config, 0o600)
    ping = f"/ping/{TOKEN}"
    env = {**os.environ, "HB_KEY": API_KEY, "HB_SECRET": API_SECRET, "PYTHONUNBUFFERED": "1",
           "HB_URL": f"http://127.0.0.1:{receiver.port}{ping}"}
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    try:
        await until(lambda: receiver.paths().count(ping) >= 3, "pings while healthy", 60)
        assert f"{ping}/fail" not in receiver.paths()  # healthy from the first ping on
        fake.faults.silence("all")
        await until(lambda: f"{ping}/fail" in receiver.paths(), "/fail while blind", 30)
        await until(lambda: receiver.paths()[-3:] == [f"{ping}/fail"] * 3, "steady /fail", 10)
        daemon.send_signal(signal.SIGKILL)
        await asyncio.to_thread(daemon.wait, 10)
        killed_at = time.monotonic()
        await asyncio.sleep(2.0)  # more than 6 intervals
        assert not [t for t, _ in receiver.hits if t > killed_at], "a ping after SIGKILL"
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        await fake.stop()
        await sink.stop()
        await receiver.stop()
    assert set(receiver.paths()) == {ping, f"{ping}/fail"}
    output = log_path.read_text()
    assert "heartbeat" in output
    assert TOKEN not in output, "the heartbeat URL's token in the daemon's output"
