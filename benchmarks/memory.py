"""Resident memory before and after a 24 h-equivalent all-market replay, in a fresh process.

The measured process is `benchmarks.memory_child` (86,400 `!markPrice@arr@1s` frames of ~900
symbols, 10 held; quick: 8,640), so the harness's own allocations stay out of the figures. The
baseline is a bare interpreter's RSS measured the same way in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RSS_MB = 80.0
TARGET_GROWTH_PCT = 2.0
_BARE = (
    "import pathlib\n"
    "for line in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
    "    if line.startswith('VmRSS:'): print(int(line.split()[1]) * 1024 / 1e6)\n"
)


def _python(*args: str, timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)[:60]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def measure(frames: int) -> dict[str, Any]:
    child = json.loads(_python("-m", "benchmarks.memory_child", str(frames), timeout=600))
    bare = float(_python("-c", _BARE, timeout=60))
    start, end = child["rss_start_mb"], child["rss_end_mb"]
    growth = (end - start) / start * 100.0
    return {
        **child,
        "growth_pct": growth,
        "baseline_bare_python_rss_mb": bare,
        "ratio": end / bare,
        "target_rss_mb": TARGET_RSS_MB,
        "target_growth_pct": TARGET_GROWTH_PCT,
        "met": end <= TARGET_RSS_MB and growth <= TARGET_GROWTH_PCT,
    }


def run(quick: bool) -> dict[str, Any]:
    return measure(8_640 if quick else 86_400)


def table(result: dict[str, Any]) -> list[str]:
    verdict = "met" if result["met"] else "MISSED"
    hours = result["frames"] / 3600
    return [
        f"{result['frames']:,} all-market frames ({hours:.1f} h at 1/s), {result['symbols']}"
        f" symbols, {result['held']} held",
        f"RSS start {result['rss_start_mb']:.1f} MB, end {result['rss_end_mb']:.1f} MB"
        f" (peak {result['rss_peak_mb']:.1f}), growth {result['growth_pct']:+.2f} %",
        f"bare python {result['baseline_bare_python_rss_mb']:.1f} MB;"
        f" end / bare = {result['ratio']:.2f}",
        f"target ≤ {result['target_rss_mb']:.0f} MB and growth ≤"
        f" {result['target_growth_pct']:.0f} %: {verdict}",
    ]
