"""The `memory` benchmark's measured process: a 24 h-equivalent all-market replay, then RSS.

`python -m benchmarks.memory_child FRAMES` builds a USDⓈ-M account holding 10 of ~900 symbols
(exchangeInfo, brackets and premium index for all of them, as Binance answers), feeds FRAMES
`!markPrice@arr@1s` frames one second apart through `AccountCore.feed` (configured as the
daemon configures it), and prints one JSON object: RSS after setup and the first frame, RSS at
the end, and the peak. Frames come from `benchmarks.market_frames.FrameSource` (each one new text).
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

from benchmarks.market_frames import WALLET, FrameSource
from benchmarks.procfs import rss_mb
from benchmarks.usdm_snapshot import meta, snapshot_lines
from monitor.core.account_core import AccountCore

T0 = 1_763_700_000_000


def measure(n: int) -> dict[str, Any]:
    source = FrameSource()
    held = source.holdings()
    timeline = AccountCore(meta(T0), with_figures=True, record_risks=False)
    for rest in snapshot_lines(T0, source.symbols, source.marks, held, WALLET):
        timeline.feed(rest)
    stream = source.frames(n, T0)
    timeline.feed(next(stream))
    if not timeline.evaluating or timeline.held_symbols != frozenset(held):
        raise RuntimeError("the generated snapshot did not apply (nothing is evaluated)")
    gc.collect()
    start = rss_mb()
    feed = timeline.feed
    alerts = 0
    for line in stream:
        alerts += len(feed(line).alerts)
    gc.collect()
    book = timeline.book
    assert book is not None
    return {
        "frames": n,
        "symbols": len(source.symbols),
        "held": len(held),
        "rss_start_mb": start,
        "rss_end_mb": rss_mb(),
        "rss_peak_mb": rss_mb(field="VmHWM"),
        "alerts": alerts,
        "market_frames": timeline.counters["market_frames"],
        "final_risk": book.risk,
    }


if __name__ == "__main__":
    json.dump(measure(int(sys.argv[1])), sys.stdout)
    sys.stdout.write("\n")
