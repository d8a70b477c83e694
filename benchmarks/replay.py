"""Events per second through decode → engine → alert policy, on a long single-symbol recording.

The recording is generated in memory: the USDⓈ-M start-up snapshot of one held symbol, then N
per-symbol mark frames one second apart (a random walk that stays below the warning level), as
raw text `WsLine(t, "market", None, text)` — the live shape. Every frame goes through
`AccountCore.feed` (the daemon's pipeline minus delivery: classify + fast decode, `Book.on_mark`,
freshness, the once-a-second policy tick, `AlertPolicy.on_risk`), configured as the daemon
configures it. The baseline is `json.loads` of the same frames. `python -m benchmarks.replay
--profile` prints where the time goes (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.usdm_snapshot import Holding, mark_text, meta, snapshot_lines
from monitor.core.account_core import AccountCore
from monitor.feed.recording import WsLine

SYMBOL = "BTCUSDT"
ENTRY = 50_000.0
T0 = 1_763_700_000_000
TARGET_EVENTS_PER_S = 200_000.0


def frames(n: int, seed: int = 11) -> list[WsLine]:
    """N mark frames of `SYMBOL`, 1 s apart, a ±0.05 %/s random walk around the entry."""
    rng = random.Random(seed)
    price, t, out = ENTRY, T0, []
    for _ in range(n):
        t += 1000
        price = min(max(price * (1.0 + rng.gauss(0.0, 0.0005)), ENTRY * 0.9), ENTRY * 1.1)
        out.append(WsLine(t, "market", None, mark_text(SYMBOL, price, t)))
    return out


def timeline() -> AccountCore:
    """A timeline as the daemon builds one, fed the snapshot (its first frame applies it)."""
    lines = snapshot_lines(T0, [SYMBOL], {SYMBOL: ENTRY}, {SYMBOL: Holding(1.0, ENTRY)}, 10_000.0)
    tl = AccountCore(meta(T0), with_figures=True, record_risks=False)
    for line in lines:
        tl.feed(line)
    tl.feed(WsLine(T0, "market", None, mark_text(SYMBOL, ENTRY, T0)))
    if tl.book is None or not tl.evaluating:
        raise RuntimeError("the generated snapshot did not apply (nothing is evaluated)")
    return tl


def _rate(run: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


def measure(n: int, rounds: int) -> dict[str, Any]:
    lines = frames(n)
    texts = [line.text or "" for line in lines]
    pipeline: list[float] = []
    baseline: list[float] = []
    alerts = 0
    for _ in range(rounds):
        feed = timeline().feed

        def run_pipeline(feed: Callable[[WsLine], object] = feed) -> None:
            for line in lines:
                feed(line)

        def run_loads() -> None:
            loads = json.loads
            for text in texts:
                loads(text)

        pipeline.append(_rate(run_pipeline, n))
        baseline.append(_rate(run_loads, n))
    check = timeline()
    for line in lines[:1000]:
        alerts += len(check.feed(line).alerts)
    events = statistics.median(pipeline)
    loads = statistics.median(baseline)
    return {
        "frames": n,
        "rounds": rounds,
        "events_per_s": events,
        "us_per_event": 1e6 / events,
        "baseline_json_loads_per_s": loads,
        "ratio": events / loads,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "met": events >= TARGET_EVENTS_PER_S,
        "alerts_in_first_1000": alerts,
    }


def run(quick: bool) -> dict[str, Any]:
    return measure(60_000, 2) if quick else measure(300_000, 3)


def table(result: dict[str, Any]) -> list[str]:
    verdict = "met" if result["met"] else "MISSED"
    return [
        f"{result['frames']:,} frames × {result['rounds']} rounds (median)",
        f"decode→engine→policy {result['events_per_s']:>12,.0f} events/s"
        f"  ({result['us_per_event']:.2f} µs/event)",
        f"json.loads only      {result['baseline_json_loads_per_s']:>12,.0f} frames/s",
        f"ratio                {result['ratio']:>12.2f}",
        f"target ≥ {result['target_events_per_s']:,.0f} events/s: {verdict}",
    ]


def profile(n: int, top: int) -> None:
    """Print the `top` functions by own time for one pass over N frames."""
    lines = frames(n)
    feed = timeline().feed
    profiler = cProfile.Profile()
    profiler.enable()
    for line in lines:
        feed(line)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass instead")
    parser.add_argument("--frames", type=int, default=200_000, help="frames to profile")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.frames, 30)
        return 0
    for line in table(run(args.quick)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
