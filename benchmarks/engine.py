"""Per mark-tick cost: the incremental book vs a full recompute of the same account.

Both run on the same book in the same process; the full recompute is the float evaluation of
`monitor.engine.valuation` (what a polling tool does on every update). Medians over batches.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.books import pm_book, usdm_cross_book
from monitor.engine.book import Book
from monitor.engine.model import AccountState
from monitor.engine.valuation import evaluate

SIZES = (1, 10, 100, 1000)
BOOKS: dict[str, Callable[[int], AccountState]] = {
    "usdm_cross": usdm_cross_book,
    "portfolio_margin": pm_book,
}
TARGETS = {"tick_us_median_at_10": 1.5, "cost_1000_over_1": 1.5, "full_over_tick_at_1000": 100.0}


def _median_us(run_batch: Callable[[int], None], batch: int, batches: int) -> float:
    """Median over `batches` of the mean cost per call (µs) of a batch of `batch` calls."""
    samples = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        run_batch(batch)
        samples.append((time.perf_counter_ns() - start) / batch / 1000.0)
    return statistics.median(samples)


def _tick_prices(state: AccountState) -> list[tuple[str, float, float]]:
    return [(s, p * 1.0001, p * 0.9999) for s, p in state.marks.items()]


def measure_book(make: Callable[[int], AccountState], n: int, quick: bool) -> tuple[float, float]:
    state = make(n)
    book = Book(state)
    prices = _tick_prices(state)
    count = len(prices)
    on_mark = book.on_mark

    def incremental(batch: int) -> None:
        for i in range(batch):
            symbol, up, down = prices[i % count]
            on_mark(symbol, up if i & 1 else down)

    full_state = make(n)
    marks = full_state.marks

    def full(batch: int) -> None:
        for i in range(batch):
            symbol, up, down = prices[i % count]
            marks[symbol] = up if i & 1 else down
            evaluate(full_state)

    tick = _median_us(incremental, 2000 if quick else 20000, 15 if quick else 41)
    full_batch = max(2, 4000 // (n + 3))
    full_us = _median_us(full, full_batch // (4 if quick else 1) or 1, 7 if quick else 21)
    return tick, full_us


def run(quick: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, make in BOOKS.items():
        ticks: dict[str, float] = {}
        fulls: dict[str, float] = {}
        for n in SIZES:
            ticks[str(n)], fulls[str(n)] = measure_book(make, n, quick)
        result[name] = {
            "tick_us_median": ticks,
            "full_us_median": fulls,
            "ratio": {k: fulls[k] / ticks[k] for k in ticks},
            "cost_1000_over_1": ticks["1000"] / ticks["1"],
        }
    result["targets"] = TARGETS
    return result


def table(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{'book':<18}{'positions':>10}{'tick µs':>10}{'full µs':>12}{'full/tick':>11}",
    ]
    for name in BOOKS:
        entry = result[name]
        for n in SIZES:
            k = str(n)
            lines.append(
                f"{name:<18}{n:>10}{entry['tick_us_median'][k]:>10.3f}"
                f"{entry['full_us_median'][k]:>12.2f}{entry['ratio'][k]:>10.0f}×"
            )
        lines.append(f"{'':<18}cost at 1000 / cost at 1 = {entry['cost_1000_over_1']:.2f}")
    return lines
