"""Target verdicts for the `engine` and `decode` entries, which report targets but no verdict.

The newer benchmarks decide `met` themselves; these two modules predate that, so the harness
adds the same key from the targets they already report.
"""

from __future__ import annotations

from typing import Any

BOOKS = ("usdm_cross", "portfolio_margin")


def engine_met(result: dict[str, Any]) -> bool:
    """Every book: tick at 10 positions, cost growth 1 → 1000, and full-recompute ratio at 1000."""
    targets = result["targets"]
    for name in BOOKS:
        entry = result[name]
        if entry["tick_us_median"]["10"] > targets["tick_us_median_at_10"]:
            return False
        if entry["cost_1000_over_1"] > targets["cost_1000_over_1"]:
            return False
        if entry["ratio"]["1000"] < targets["full_over_tick_at_1000"]:
            return False
    return True


def decode_met(result: dict[str, Any]) -> bool:
    """Decode + apply of the all-market frame costs at most `target_ratio` × `json.loads`."""
    return bool(result["ratio"] <= result["target_ratio"])


VERDICTS = {"engine": engine_met, "decode": decode_met}
