"""CPU of the daemon, as a separate process, following the all-market 1 s stream at rest.

`python -m monitor simulate REC --speed 1 --loop` serves a generated recording: a USDⓈ-M
account holding 10 of ~900 symbols and one `!markPrice@arr@1s` frame of all of them per second
(the fake splits it per symbol for the daemon's `<symbol>@markPrice@1s` subscriptions, so the
daemon receives ~10 small frames/s: the production shape). `python -m monitor run --config F`
follows it; alerts go to a loopback `json://` receiver. After the account is live and a warm-up,
the daemon's utime+stime (/proc/PID/stat, all threads) over a wall-clock window gives its CPU
fraction of one core. Baseline: an idle `python -c "time.sleep(…)"` measured over the same window.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.market_frames import WALLET, FrameSource
from benchmarks.procfs import TICKS_PER_S, cpu_seconds
from benchmarks.receiver import JsonReceiver
from benchmarks.usdm_snapshot import meta, snapshot_lines
from monitor.feed.recording import WsLine, write_recording

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "idle-key-8Hw3Nc6Rt1"
API_SECRET = "idle-secret-Qm4Zy7Kb2Vd9"
T0 = 1_763_700_000_000
RECORDED_FRAMES = 60
TARGET_CPU_FRACTION = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_market_recording(path: Path, frames: int = RECORDED_FRAMES) -> None:
    """Snapshot + one all-market frame per second (parsed `data`, as a recording holds it)."""
    source = FrameSource()
    lines: list[Any] = snapshot_lines(T0, source.symbols, source.marks, source.holdings(), WALLET)
    for line in source.frames(frames, T0 + 1000):
        assert line.text is not None
        lines.append(WsLine(line.t, "market", json.loads(line.text)))
    write_recording(path, meta(T0), lines)


def _config(directory: Path, sim_port: int, http_port: int, sink_url: str) -> Path:
    path = directory / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "bench"
environment = "custom"
rest = "http://127.0.0.1:{sim_port}"
ws = "ws://127.0.0.1:{sim_port}"
api_key_env = "BENCH_API_KEY"
api_secret_env = "BENCH_API_SECRET"

[[notify]]
url = "{sink_url}"

[http]
listen = "127.0.0.1:{http_port}"

[state]
dir = "{directory / 'state'}"
""",
        encoding="utf-8",
    )
    return path


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(url: str, ready: Any, what: str, proc: subprocess.Popen[bytes], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"idle_cpu: {what}: the process exited with {proc.returncode}")
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            doc = _get_json(url)
            if ready(doc):
                return doc
        time.sleep(0.2)
    raise RuntimeError(f"idle_cpu: timed out after {timeout:.0f} s waiting for {what}")


def _market_frames(status: dict[str, Any]) -> int:
    account = status["accounts"][0]
    return sum(int(s.get("frames") or 0) for s in account["streams"]
               if s["name"].startswith("market"))


def _warnings(log: Path) -> list[str]:
    """The messages of WARNING-or-worse lines of the daemon's JSON log so far."""
    found = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                found.append(str(record.get("msg", ""))[:200])
    return found


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
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(window_s: float, warmup_s: float) -> dict[str, Any]:
    env = {**os.environ, "BENCH_API_KEY": API_KEY, "BENCH_API_SECRET": API_SECRET,
           "PYTHONUNBUFFERED": "1"}
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="mw-idle-") as tmp_name, JsonReceiver() as rx:
        tmp = Path(tmp_name)
        recording = tmp / "all-market.jsonl"
        write_market_recording(recording)
        sim_port, http_port = free_port(), free_port()
        config = _config(tmp, sim_port, http_port, rx.url)
        base = f"http://127.0.0.1:{http_port}"
        sim_args = [py, "-m", "monitor", "simulate", str(recording), "--port", str(sim_port),
                    "--speed", "1", "--loop", "--api-key", API_KEY, "--api-secret", API_SECRET]
        with _process(sim_args, env, tmp / "sim.log") as sim:
            _wait(f"http://127.0.0.1:{sim_port}/fapi/v1/time", lambda d: "serverTime" in d,
                  "the fake exchange", sim, 60)
            run_args = [py, "-m", "monitor", "run", "--config", str(config)]
            with _process(run_args, env, tmp / "daemon.log") as daemon:
                _wait(f"{base}/status",
                      lambda d: d["accounts"][0]["state"] == "live" and _market_frames(d) > 0,
                      "the daemon to go live", daemon, 60)
                sleeper_args = [py, "-c", f"import time; time.sleep({warmup_s + window_s + 30})"]
                with _process(sleeper_args, env, tmp / "sleeper.log") as sleeper:
                    time.sleep(warmup_s)
                    frames0 = _market_frames(_get_json(f"{base}/status"))
                    alerts0 = rx.count()
                    wall0 = time.monotonic()
                    cpu0, idle0 = cpu_seconds(daemon.pid), cpu_seconds(sleeper.pid)
                    time.sleep(window_s)
                    cpu1, idle1 = cpu_seconds(daemon.pid), cpu_seconds(sleeper.pid)
                    wall = time.monotonic() - wall0
                    frames1 = _market_frames(_get_json(f"{base}/status"))
                    alerts = rx.count() - alerts0
                    state = _get_json(f"{base}/status")["accounts"][0]["state"]
                    warnings = _warnings(tmp / "daemon.log")  # before the stop's own notes
    fraction = (cpu1 - cpu0) / wall
    return {
        "window_s": wall,
        "cpu_seconds": cpu1 - cpu0,
        "cpu_fraction": fraction,
        "resolution": 1.0 / TICKS_PER_S / wall,
        "frames_per_s": (frames1 - frames0) / wall,
        "alerts_in_window": alerts,
        "daemon_log_warnings": len(warnings),
        "daemon_log_warning_messages": warnings[:5],
        "state": state,
        "baseline_idle_python_cpu_fraction": (idle1 - idle0) / wall,
        "ratio": fraction / 1.0,
        "ratio_of": "one core",
        "target_cpu_fraction": TARGET_CPU_FRACTION,
        "met": fraction <= TARGET_CPU_FRACTION,
    }


def run(quick: bool) -> dict[str, Any]:
    return measure(10.0, 2.0) if quick else measure(60.0, 5.0)


def table(result: dict[str, Any]) -> list[str]:
    verdict = "met" if result["met"] else "MISSED"
    return [
        f"daemon process over {result['window_s']:.0f} s: {result['cpu_seconds']:.2f} CPU s,"
        f" {result['frames_per_s']:.1f} market frames/s, state {result['state']},"
        f" {result['alerts_in_window']} alerts, {result['daemon_log_warnings']} log warnings",
        f"CPU fraction       {result['cpu_fraction']:>8.4f} of one core"
        f"  ({result['cpu_fraction'] * 100:.2f} %; resolution {result['resolution']:.4f})",
        f"idle python        {result['baseline_idle_python_cpu_fraction']:>8.4f}",
        f"target ≤ {result['target_cpu_fraction']}: {verdict}",
    ]
