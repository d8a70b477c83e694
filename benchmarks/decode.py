"""Decode + apply one all-market `!markPrice@arr@1s` frame vs stdlib `json.loads` of it alone.

The frame has ~900 symbols in Binance's field layout (~100+ KB); the account holds 10 of them.
The measured path is the live one: `MarkDecoder.decode` (held symbols only, no object built for
the others) and `Book.on_mark` for each held symbol. The baseline merely parses the frame.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from decimal import Decimal
from typing import Any

from benchmarks.books import usdm_cross_book
from monitor.binance.decode.marks import MarkDecoder
from monitor.engine.book import Book
from monitor.sim.wire.streams import mark_frame

SYMBOLS = 900
HELD = 10


def all_market_frame(rng: random.Random, held: list[str]) -> str:
    """A `!markPrice@arr@1s` frame: `held` spread through ~900 symbols, compact JSON."""
    names = [f"X{i:04d}USDT" for i in range(SYMBOLS - len(held))]
    for k, symbol in enumerate(held):
        names.insert((k * 97) % len(names), symbol)
    now = 1_763_700_000_000
    items = []
    for symbol in names:
        price = rng.uniform(0.01, 70_000)
        mark, index = Decimal(f"{price:.8f}"), Decimal(f"{price * 0.9999:.8f}")
        rate = f"{rng.uniform(-1e-3, 1e-3):.8f}"
        items.append(mark_frame(now, symbol, mark, index, rate, now + 3_600_000, st=1))
    return json.dumps(items, separators=(",", ":"))


def _median_us(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    return statistics.median(samples)


def run(quick: bool) -> dict[str, Any]:
    state = usdm_cross_book(HELD)
    held = sorted(state.marks)
    frame = all_market_frame(random.Random(7), held)
    book = Book(state)
    decoder = MarkDecoder(held)
    on_mark = book.on_mark

    def apply() -> None:
        for symbol, price in decoder.decode(frame):
            on_mark(symbol, price)

    applied = decoder.decode(frame)
    assert len(applied) == HELD, "the frame must carry every held symbol"
    repeat = 60 if quick else 400
    apply_us = _median_us(apply, repeat)
    loads_us = _median_us(lambda: json.loads(frame), repeat)
    return {
        "frame_bytes": len(frame),
        "symbols": SYMBOLS,
        "held": HELD,
        "apply_us_median": apply_us,
        "json_loads_us_median": loads_us,
        "ratio": apply_us / loads_us,
        "target_ratio": 1.0,
    }


def table(result: dict[str, Any]) -> list[str]:
    return [
        f"frame {result['frame_bytes'] / 1000:.0f} KB, {result['symbols']} symbols, "
        f"{result['held']} held",
        f"decode + apply   {result['apply_us_median']:>9.1f} µs",
        f"json.loads only  {result['json_loads_us_median']:>9.1f} µs",
        f"ratio            {result['ratio']:>9.2f}  (target ≤ {result['target_ratio']:.1f})",
    ]
