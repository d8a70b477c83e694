"""`marginwatch simulate`: serve a recording as a local fake Binance until Ctrl-C.

`serve` starts a `FakeExchange`, prints its REST and websocket URLs, a ready-to-paste
`[[accounts]]` TOML snippet (`environment = "custom"`) and the environment variables to export
for the simulator's own (fake) credentials, then runs until cancelled and stops cleanly.
`run_simulate` is the synchronous entry point for the command line (exit status 0, or 2 with a
one-line message for an unreadable recording or a port that cannot be bound).
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import TextIO

from monitor.feed.recording import RecordingError
from monitor.sim.server import FakeExchange

KEY_ENV = "MARGINWATCH_SIM_API_KEY"
SECRET_ENV = "MARGINWATCH_SIM_API_SECRET"
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]+")


def banner(fx: FakeExchange, path: str | Path, api_key: str, api_secret: str) -> str:
    """What `simulate` prints once it listens."""
    meta = fx.timeline.meta
    name = meta.account if _ACCOUNT_NAME.fullmatch(meta.account) else "sim"
    seconds = (fx.timeline.t_end - fx.timeline.t0) / 1000.0
    start = "when the first websocket client connects" if fx.start_on_connect else "now (already)"
    mode_line = f'mode = "{meta.mode}"\n' if meta.mode else ""
    return (
        f"marginwatch simulate: {path}\n"
        f"  {len(fx.timeline.ws)} websocket frames over {seconds:.0f} s of recording,"
        f" speed ×{fx.clock.speed:g}, loop {'on' if fx.clock.loop else 'off'};\n"
        f"  playback starts {start}.\n"
        f"  REST {fx.rest_url}\n"
        f"  WS   {fx.ws_url}\n"
        f"  control (loopback only): GET {fx.rest_url}/__sim/state,"
        f" POST {fx.rest_url}/__sim/fault\n"
        "\n"
        "Add to your configuration:\n"
        "\n"
        "[[accounts]]\n"
        f'name = "{name}"\n'
        'environment = "custom"\n'
        f"{mode_line}"
        f'rest = "{fx.rest_url}"\n'
        f'ws = "{fx.ws_url}"\n'
        f'api_key_env = "{KEY_ENV}"\n'
        f'api_secret_env = "{SECRET_ENV}"\n'
        "\n"
        "and export the simulator's credentials (they only work here):\n"
        "\n"
        f"  export {KEY_ENV}={api_key}\n"
        f"  export {SECRET_ENV}={api_secret}\n"
        "\n"
        "Ctrl-C stops the simulator.\n"
    )


async def serve(
    path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8901,
    speed: float = 1.0,
    loop: bool = False,
    api_key: str = "sim-api-key",
    api_secret: str = "sim-api-secret",
    *,
    out: TextIO | None = None,
) -> None:
    """Serve recording `path` until cancelled, then stop cleanly."""
    stream = out if out is not None else sys.stdout
    fx = FakeExchange.from_file(
        path, speed=speed, loop=loop, api_key=api_key, api_secret=api_secret
    )
    await fx.start(host, port)
    try:
        stream.write(banner(fx, path, api_key, api_secret))
        stream.flush()
        await asyncio.Event().wait()
    finally:
        await fx.stop()


def run_simulate(
    path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8901,
    speed: float = 1.0,
    loop: bool = False,
    api_key: str = "sim-api-key",
    api_secret: str = "sim-api-secret",
) -> int:
    """Blocking `simulate` for the CLI: 0 after Ctrl-C, 2 on a bad recording or port."""
    if not speed > 0:
        print(f"marginwatch simulate: --speed must be > 0 (got {speed})", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(path, host, port, speed, loop, api_key, api_secret))
    except KeyboardInterrupt:
        return 0
    except RecordingError as exc:
        print(f"marginwatch simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"marginwatch simulate: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    return 0
