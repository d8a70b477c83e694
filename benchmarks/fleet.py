"""One daemon following a fleet of N accounts (mixed modes) on the fake exchange.

`python -m benchmarks fleet [--accounts N ...] [--quick] [--json]`. Four fake exchanges run as
separate processes (`python -m monitor simulate … --speed 1 --loop`), one per margin mode: a
USDⓈ-M account on the generated all-market recording of `idle_cpu` (~900 symbols, one
`!markPrice@arr@1s` frame per second), and the bundled COIN-M, multi-assets and Portfolio Margin
examples. One `python -m monitor run` process follows N accounts spread round-robin over them
(every account its own user stream and REST client; market streams shared per venue). Per N:

- `live_after_s`: from the daemon's start until `/status` shows every account `live`;
- `cpu_fraction`: the daemon's utime+stime over a wall-clock window after a warm-up, as a
  fraction of one core; `rss_mb`: its VmRSS at the end;
- `p99_ms`: the 99th percentile of the daemon's own `marginwatch_tick_latency_seconds` histogram
  over the window (one market frame: decode, engine, alert policy — the tick→alert path),
  interpolated within its buckets;
- `rest_weight_max_1m`: the highest REST weight of one wall-clock minute, summed over the fakes
  (their `X-MBX-USED-WEIGHT-1M` meters, polled each second; on Binance they'd be one IP), and
  `rest_weight_max_1m_per_venue` the highest of one fake alone (the daemon's shared budget is
  per venue: 80 % of 2,400 a minute for each fake here);
- `ws_connects`: websocket connection attempts the fakes saw (opened + rejected).

Every run measures one account first: each entry carries its figures over that single-account
baseline (`vs_single`). Targets (issue 17): 1,000 accounts ≤ 50 % of one core, ≤ 1 GB RSS,
p99 ≤ 10 ms; `met` says whether every N measured stayed within them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.idle_cpu import free_port, write_market_recording
from benchmarks.procfs import cpu_seconds, rss_mb
from benchmarks.receiver import JsonReceiver
from monitor import examples

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "fleet-key-5Tq8Lw2Pz7"
API_SECRET = "fleet-secret-Vn3Kd9Rb6Hs1"
#: (account mode, recording): the generated all-market USDⓈ-M one, then bundled examples.
MODES: tuple[tuple[str, str], ...] = (
    ("usdm", "all-market"),
    ("coinm", "coinm"),
    ("usdm_multi_assets", "usdm_multi_assets"),
    ("portfolio_margin", "portfolio_margin"),
)
FULL_SIZES = (10, 100, 500, 1000)
QUICK_SIZES = (10, 50)
TARGETS = {"cpu_fraction": 0.5, "rss_mb": 1000.0, "p99_ms": 10.0}
_BUCKET = re.compile(r'^marginwatch_tick_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$')


@dataclass
class Fake:
    mode: str
    port: int
    proc: subprocess.Popen[bytes]
    #: wall-clock minute → highest used weight seen in it.
    minutes: dict[int, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def _get_json(url: str) -> Any:
    return json.loads(_get(url))


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_up(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fleet: {what} exited with {proc.returncode}")
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            _get(url, 2.0)
            return
        time.sleep(0.2)
    raise RuntimeError(f"fleet: {what} did not come up within {timeout:.0f} s")


def write_config(directory: Path, n: int, fakes: list[Fake], http_port: int, sink: str) -> Path:
    """N accounts, modes round-robin over the fakes, secrets from the environment."""
    blocks = []
    for i in range(n):
        fake = fakes[i % len(fakes)]
        blocks.append(
            f'[[accounts]]\nname = "acct-{i:04d}"\nenvironment = "custom"\n'
            f'mode = "{fake.mode}"\nrest = "{fake.url}"\nws = "ws://127.0.0.1:{fake.port}"\n'
            'api_key_env = "FLEET_API_KEY"\napi_secret_env = "FLEET_API_SECRET"\n'
        )
    path = directory / f"fleet-{n}.toml"
    path.write_text(
        "\n".join(blocks)
        + f'\n[[notify]]\nurl = "{sink}"\n\n[http]\nlisten = "127.0.0.1:{http_port}"\n'
        + f'\n[state]\ndir = "{directory / f"state-{n}"}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def histogram(metrics_text: str) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of the tick latency histogram, by bound."""
    out = []
    for line in metrics_text.splitlines():
        match = _BUCKET.match(line)
        if match:
            out.append((float(match.group(1)), float(match.group(2))))
    return sorted(out)


def p99_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float | None:
    """The 99th percentile (ms) of the observations between two histogram readings, linearly
    interpolated within its bucket (None when nothing was observed)."""
    start = dict(before)
    deltas = [(le, count - start.get(le, 0.0)) for le, count in after]
    if not deltas or deltas[-1][1] <= 0:
        return None
    rank = 0.99 * deltas[-1][1]
    low_le, low_count = 0.0, 0.0
    for le, count in deltas:
        if count >= rank:
            if math.isinf(le):
                return low_le * 1000.0  # beyond the last finite bound: report that bound
            span = count - low_count
            frac = 0.0 if span <= 0 else (rank - low_count) / span
            return (low_le + (le - low_le) * frac) * 1000.0
        low_le, low_count = le, count
    return None


def _poll_weights(fakes: list[Fake]) -> None:
    for fake in fakes:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            state = _get_json(f"{fake.url}/__sim/state")
            minute = int(time.time() // 60)
            used = int(state.get("used_weight_1m") or 0)
            fake.minutes[minute] = max(fake.minutes.get(minute, 0), used)


def _ws_attempts(fakes: list[Fake]) -> int:
    total = 0
    for fake in fakes:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            ws = _get_json(f"{fake.url}/__sim/state")["ws_connections"]
            total += sum(ws["opened"].values()) + sum(ws["rejected"].values())
    return total


def live_from_metrics(text: str) -> int:
    """Accounts live now: the sum of `marginwatch_up` (1 per account monitored live)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("marginwatch_up{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _live_count(base: str) -> int:
    # /metrics, not /status: a status document of 1,000 accounts (figures, distances to
    # liquidation, secrets scrubbed) costs the daemon a second of CPU; polled every second it
    # would be the load measured.
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        return live_from_metrics(_get(f"{base}/metrics", 30.0).decode())
    return 0


def _pause(seconds: float, fakes: list[Fake]) -> None:
    """Sleep `seconds`, polling the fakes' weight meters every second."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        _poll_weights(fakes)
        time.sleep(min(1.0, max(0.0, left)))


def measure_one(
    n: int, recordings: dict[str, Path], tmp: Path, env: dict[str, str], *,
    window_s: float, warmup_s: float, live_timeout_s: float,
) -> dict[str, Any]:
    """Fresh fakes, one daemon following `n` accounts: the figures of the module doc."""
    py = sys.executable
    with contextlib.ExitStack() as stack:
        rx = stack.enter_context(JsonReceiver())
        fakes: list[Fake] = []
        for mode, name in MODES:
            port = free_port()
            args = [py, "-m", "monitor", "simulate", str(recordings[name]), "--port", str(port),
                    "--speed", "1", "--loop", "--api-key", API_KEY, "--api-secret", API_SECRET]
            proc = stack.enter_context(_process(args, env, tmp / f"sim-{mode}-{n}.log"))
            fakes.append(Fake(mode, port, proc))
        for fake in fakes:
            _wait_up(f"{fake.url}/fapi/v1/time", fake.proc, f"the {fake.mode} fake exchange")
        http_port = free_port()
        config = write_config(tmp, n, fakes, http_port, rx.url)
        base = f"http://127.0.0.1:{http_port}"
        started = time.monotonic()
        daemon = stack.enter_context(
            _process([py, "-m", "monitor", "run", "--config", str(config)], env,
                     tmp / f"daemon-{n}.log")
        )
        live_after: float | None = None
        live = 0
        # Binance's 300 connection attempts per 5 minutes pace a big fleet's start-up (a COIN-M
        # or Portfolio Margin account needs a user connection of its own): at least 1.2 s an
        # account before the figures are taken, or they would measure the start-up.
        live_timeout_s = max(live_timeout_s, 1.2 * n)
        while time.monotonic() - started < live_timeout_s:
            if daemon.poll() is not None:
                raise RuntimeError(f"fleet: the daemon exited with {daemon.returncode}")
            live = _live_count(base)
            if live == n:
                live_after = time.monotonic() - started
                break
            _pause(2.0, fakes)
        _pause(warmup_s, fakes)
        hist0 = histogram(_get(f"{base}/metrics").decode())
        alerts0 = rx.count()
        wall0, cpu0 = time.monotonic(), cpu_seconds(daemon.pid)
        _pause(window_s, fakes)
        cpu1, wall = cpu_seconds(daemon.pid), time.monotonic() - wall0
        hist1 = histogram(_get(f"{base}/metrics").decode())
        rss = rss_mb(daemon.pid)
        live_end = _live_count(base)
        alerts = rx.count() - alerts0
        connects = _ws_attempts(fakes)
    minutes: dict[int, int] = {}
    for fake in fakes:
        for minute, used in fake.minutes.items():
            minutes[minute] = minutes.get(minute, 0) + used
    return {
        "accounts": n,
        "cpu_fraction": (cpu1 - cpu0) / wall,
        "rss_mb": rss,
        "live_after_s": live_after,
        "live_accounts": live_end if live_after is None else n,
        "p99_ms": p99_ms(hist0, hist1),
        "rest_weight_max_1m": max(minutes.values(), default=0),
        "rest_weight_max_1m_per_venue": max(
            (used for fake in fakes for used in fake.minutes.values()), default=0
        ),
        "ws_connects": connects,
        "window_s": wall,
        "alerts_in_window": alerts,
    }


def _ratios(entry: dict[str, Any], single: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in ("cpu_fraction", "rss_mb", "live_after_s", "p99_ms", "rest_weight_max_1m",
                "ws_connects"):
        mine, base = entry.get(key), single.get(key)
        ok = isinstance(mine, (int, float)) and isinstance(base, (int, float)) and base > 0
        out[key] = round(float(mine) / float(base), 2) if ok else None  # type: ignore[arg-type]
    return out


def measure(sizes: tuple[int, ...], *, window_s: float, warmup_s: float,
            live_timeout_s: float) -> dict[str, Any]:
    env = {**os.environ, "FLEET_API_KEY": API_KEY, "FLEET_API_SECRET": API_SECRET,
           "PYTHONUNBUFFERED": "1"}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mw-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        recordings = {name: examples.path(name) for _, name in MODES if name in examples.NAMES}
        recordings["all-market"] = tmp / "all-market.jsonl"
        write_market_recording(recordings["all-market"])
        single = measure_one(1, recordings, tmp, env, window_s=window_s, warmup_s=warmup_s,
                             live_timeout_s=live_timeout_s)
        results["1"] = single
        for n in sizes:
            entry = measure_one(n, recordings, tmp, env, window_s=window_s, warmup_s=warmup_s,
                                live_timeout_s=live_timeout_s)
            entry["vs_single"] = _ratios(entry, single)
            results[str(n)] = entry
    results["baseline"] = "1"
    results["targets"] = TARGETS
    results["met"] = all(
        r["cpu_fraction"] <= TARGETS["cpu_fraction"] and r["rss_mb"] <= TARGETS["rss_mb"]
        and (r["p99_ms"] is None or r["p99_ms"] <= TARGETS["p99_ms"])
        for key, r in results.items() if key.isdigit()
    )
    return results


def run(quick: bool) -> dict[str, Any]:
    """The `python -m benchmarks` entry: N = 10, 50 quick; 10, 100, 500, 1,000 otherwise."""
    if quick:
        return measure(QUICK_SIZES, window_s=10.0, warmup_s=2.0, live_timeout_s=90.0)
    return measure(FULL_SIZES, window_s=30.0, warmup_s=5.0, live_timeout_s=600.0)


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(result: dict[str, Any]) -> list[str]:
    lines = [f"{'accounts':>8} {'CPU/core':>9} {'RSS MB':>8} {'live after s':>13} "
             f"{'p99 ms':>7} {'weight/min':>11} {'ws conns':>9}  vs 1 account (CPU, RSS)"]
    for key, r in result.items():
        if not key.isdigit():
            continue
        live = _fmt(r["live_after_s"], ".1f")
        if r["live_after_s"] is None:
            live = f"{r['live_accounts']}/{r['accounts']} live"
        vs = r.get("vs_single")
        versus = "baseline" if vs is None else f"×{_fmt(vs['cpu_fraction'], '.1f')}, " \
            f"×{_fmt(vs['rss_mb'], '.2f')}"
        lines.append(
            f"{key:>8} {r['cpu_fraction']:>9.3f} {r['rss_mb']:>8.0f} {live:>13} "
            f"{_fmt(r['p99_ms'], '.2f'):>7} {r['rest_weight_max_1m']:>11} "
            f"{r['ws_connects']:>9}  {versus}"
        )
    t = result["targets"]
    lines.append(f"targets (1,000 accounts): ≤ {t['cpu_fraction']} core, ≤ {t['rss_mb']:.0f} MB,"
                 f" p99 ≤ {t['p99_ms']} ms: {'met' if result['met'] else 'MISSED'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks fleet [--accounts N ...] [--quick] [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks fleet", description=__doc__)
    parser.add_argument("--accounts", type=int, action="append", metavar="N",
                        help="fleet size (repeatable; default 10, 100, 500, 1000)")
    parser.add_argument("--quick", action="store_true", help="N = 10 and 50, short windows")
    parser.add_argument("--window", type=float, help="seconds of CPU measurement per N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.accounts:
        window = args.window or (10.0 if args.quick else 30.0)
        result = measure(tuple(args.accounts), window_s=window, warmup_s=3.0,
                         live_timeout_s=600.0)
    else:
        result = run(args.quick)
    if args.json:
        json.dump({"fleet": result}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for line in table(result):
            print(line)
    return 0
