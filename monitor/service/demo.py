"""`marginwatch demo`: the whole product in one command, with no account and no network.

It starts the local fake exchange on loopback with the bundled Portfolio Margin recording (a
hedged book — long spot collateral, short USDⓈ-M perps and a COIN-M leg — that slides toward
liquidation and recovers), runs the real daemon against it exactly as `marginwatch run` would
(REST snapshot, signed requests, listenKey, market and user streams, engine, policy, outbox,
Apprise delivery to a loopback receiver and to any `--notify` URL), prints every alert as it
fires, records the session, and finally writes the replay report of that recording: a PNG chart
of risk with the levels and alerts, and HTML/Markdown summaries.

Time is compressed: the recording plays `speed` times faster than it was recorded, and the
alert policy's timings (dwell, emergency repeat, rapid-rise window) and the feed's pollers are
scaled by the same factor, so the alerts are those of the original timeline. The recorded
session keeps the compressed clock: `marginwatch replay FILE --time-scale SPEED` (the command
the demo prints) replays it with the same policy timings (`demo_policy`) and the same alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from monitor import examples
from monitor.alerts.policy_config import PolicyConfig
from monitor.config import load_config
from monitor.core.account_core import AccountCore
from monitor.feed.live import LiveSettings
from monitor.feed.recording import read_recording
from monitor.service.daemon import DaemonOptions
from monitor.service.runner import serve
from monitor.sim.server import FakeExchange

RECORDING = "portfolio_margin"
DEMO_KEY = "demo-api-key"
DEMO_SECRET = "demo-api-secret"


#: The policy's blindness limit never drops under this, however compressed time is (ms).
MIN_STALE_AFTER_MS = 5_000


@dataclass(frozen=True, slots=True)
class DemoResult:
    alerts: int
    delivered: int
    recording: Path
    report_md: Path
    report_html: Path
    report_png: Path
    #: `alert_id` of every alert of the report, in order.
    alert_ids: tuple[str, ...] = ()
    #: The replay command printed for the recorded session (reproduces `alert_ids`).
    replay_command: str = ""


class _Receiver:
    """A loopback JSON webhook standing in for a notification service (Apprise `json://`)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, object]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _post(self, request: web.Request) -> web.Response:
        with contextlib.suppress(ValueError):
            self.posts.append(json.loads(await request.read()))
        return web.json_response({"ok": True})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _config_text(fake: FakeExchange, receiver: int, state: Path, http_port: int, k: float) -> str:
    policy = demo_policy(k)
    return f"""
[[accounts]]
name = "demo-pm"
environment = "custom"
mode = "portfolio_margin"
rest = "{fake.rest_url}"
ws = "{fake.ws_url}"
api_key = "{DEMO_KEY}"
api_secret = "{DEMO_SECRET}"

[alerts]
dwell_s = {policy.dwell_ms / 1000}
repeat_s = {policy.repeat_ms / 1000}
rapid_window_s = {policy.rapid_window_ms / 1000}
stale_after_s = {policy.stale_after_ms / 1000}

[[notify]]
url = "json://127.0.0.1:{receiver}/alerts"

[http]
listen = "127.0.0.1:{http_port}"

[state]
dir = "{state}"
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_demo(
    out_dir: Path,
    *,
    speed: float = 20.0,
    notify: tuple[str, ...] = (),
    out: TextIO | None = None,
) -> DemoResult:
    """Run the demo; returns what it produced (the report files are in `out_dir`)."""
    stream = out or sys.stdout
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    recording = out_dir / "demo-session.jsonl.gz"
    fake = FakeExchange.from_file(
        examples.path(RECORDING), speed=speed, api_key=DEMO_KEY, api_secret=DEMO_SECRET
    )
    receiver = _Receiver()
    await receiver.start()
    await fake.start()
    stop = asyncio.Event()
    try:
        with tempfile.TemporaryDirectory(prefix="marginwatch-demo-") as tmp:
            http_port = _free_port()
            path = Path(tmp) / "demo.toml"
            path.write_text(_config_text(fake, receiver.port, Path(tmp) / "state", http_port,
                                         speed))
            os.chmod(path, 0o600)
            config = load_config(path)
            options = DaemonOptions(
                record=recording,
                echo=True,
                echo_to=stream,
                notify=notify,
                live=LiveSettings(
                    asset_index_poll_s=10.0 / speed,
                    open_loss_min_interval_s=2.0 / speed,
                ),
            )
            print(
                f"marginwatch demo: fake Binance on {fake.rest_url}, daemon status on "
                f"http://127.0.0.1:{http_port}/status (try `marginwatch watch --url "
                f"http://127.0.0.1:{http_port}`)\nreplaying a hedged Portfolio Margin book at "
                f"{speed:g}x; alerts as they fire:\n",
                file=stream,
                flush=True,
            )
            daemon_task = asyncio.create_task(serve(config, options, stop=stop))
            finished = asyncio.create_task(fake.finished.wait())
            done, _ = await asyncio.wait(
                {daemon_task, finished}, return_when=asyncio.FIRST_COMPLETED
            )
            if daemon_task in done:
                daemon_task.result()  # raises what stopped it
            await asyncio.sleep(min(3.0, 60.0 / speed))  # let the last polls and deliveries land
            stop.set()
            await daemon_task
    finally:
        stop.set()
        await fake.stop()
        await receiver.stop()
    return _report(recording, out_dir, speed, len(receiver.posts), stream)


def _report(recording: Path, out_dir: Path, speed: float, delivered: int,
            stream: TextIO) -> DemoResult:
    from monitor.service.report import write_report

    meta, lines = read_recording(recording)
    timeline = AccountCore(meta, config=demo_policy(speed), with_figures=True)
    timeline.run(lines)
    files = write_report(timeline, out_dir, title="marginwatch demo", source=str(recording))
    command = replay_command(recording, speed)
    print(
        f"\n{len(timeline.alerts)} alert(s) in the recorded session, {delivered} delivered to "
        f"the loopback webhook.\nreport: {files.md}\n        {files.html}\n        {files.png}\n"
        f"recording: {recording}\nreplay it (same policy timings, same alerts): {command}",
        file=stream,
    )
    return DemoResult(
        len(timeline.alerts),
        delivered,
        recording,
        files.md,
        files.html,
        files.png,
        tuple(a.intent.alert_id for a in timeline.alerts),
        command,
    )


def replay_command(recording: Path, speed: float) -> str:
    """The `marginwatch replay` command that reproduces the demo's alerts from its recording."""
    return f"marginwatch replay {shlex.quote(str(recording))} --time-scale {speed:g}"


def demo_policy(speed: float) -> PolicyConfig:
    """The policy of a session recorded with time compressed `speed`-fold (the demo's daemon,
    its report, and `replay --time-scale`): the default timings divided by `speed`, blindness
    after no less than MIN_STALE_AFTER_MS."""
    if not speed > 0:
        raise ValueError(f"time scale must be > 0, not {speed}")
    base = PolicyConfig()
    return PolicyConfig(
        dwell_ms=int(base.dwell_ms / speed),
        repeat_ms=int(base.repeat_ms / speed),
        rapid_window_ms=int(base.rapid_window_ms / speed),
        stale_after_ms=max(MIN_STALE_AFTER_MS, int(base.stale_after_ms / speed)),
    )

