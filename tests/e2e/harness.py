"""The real daemon against the fake exchange, in one event loop, over loopback.

`running(...)` starts `monitor.sim.FakeExchange` on a bundled recording, writes a config for a
`custom` account pointing at it (secrets inline, file mode 0600, alerts to a loopback JSON
receiver), starts `Daemon` with compressed timings and yields both; everything is stopped on
exit. `until` polls a condition with a deadline (never a fixed sleep as an assertion).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor import examples
from monitor.config import Config, load_config
from monitor.core.step import TimedAlert
from monitor.feed.live import LiveSettings
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink

API_KEY = "e2e-key-7Qz1v9XcW4"
API_SECRET = "e2e-secret-Lm3Pq8Rt2Yw6Zx0"

#: Timings compressed for tests (mainnet defaults are in LiveSettings).
FAST = LiveSettings(
    asset_index_poll_s=0.3,
    reconcile_s=0.5,
    market_idle_s=1.5,
    user_idle_s=60.0,
    keepalive_s=2.0,
    ping_interval_s=1.0,
    ping_timeout_s=2.0,
    user_connect_wait_s=3.0,
)


def write_config(
    directory: Path, rest: str, ws: str, sink_url: str, *, mode: str = "auto", extra: str = ""
) -> Path:
    path = directory / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "acct"
environment = "custom"
mode = "{mode}"
rest = "{rest}"
ws = "{ws}"
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"
{extra.replace("{rest}", rest).replace("{ws}", ws)}

[[notify]]
url = "{sink_url}"

[alerts]
stale_after_s = 5

[http]
listen = "127.0.0.1:{free_port()}"

[state]
dir = "{directory / 'state'}"
""",
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    return path


def free_port() -> int:
    from tests.alerts.sinks import free_port as port

    return port()


@dataclass
class Session:
    fake: FakeExchange
    daemon: Daemon
    config: Config
    sink: HttpSink
    alerts: list[TimedAlert] = field(default_factory=list)

    @property
    def runtime(self) -> Any:
        return self.daemon.slots["acct"].runtime

    @property
    def feed(self) -> Any:
        return self.daemon.slots["acct"].feed

    def status(self) -> dict[str, Any]:
        return self.daemon.status()[0]


@asynccontextmanager
async def running(
    tmp_path: Path,
    recording: str,
    *,
    speed: float = 50.0,
    settings: LiveSettings = FAST,
    record: Path | None = None,
    mode: str = "auto",
    fake_options: dict[str, Any] | None = None,
    before_start: Callable[[FakeExchange], None] | None = None,
    extra: str = "",
) -> AsyncIterator[Session]:
    path = examples.path(recording) if recording in examples.NAMES else Path(recording)
    fake = FakeExchange.from_file(
        path, speed=speed, api_key=API_KEY, api_secret=API_SECRET, **(fake_options or {})
    )
    sink = HttpSink()
    await sink.start()
    await fake.start()
    try:
        config = load_config(write_config(tmp_path, fake.rest_url, fake.ws_url,
                                          sink.json_url(), mode=mode, extra=extra))
        if before_start is not None:
            before_start(fake)
        daemon = Daemon(config, DaemonOptions(live=settings, record=record))
        session = Session(fake, daemon, config, sink)
        daemon.alert_hooks.append(session.alerts.append)
        await daemon.start()
        try:
            yield session
        finally:
            await daemon.stop()
    finally:
        await fake.stop()
        await sink.stop()


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
