"""Order statistics of latency samples: p50, p99 and max with linear interpolation."""

from __future__ import annotations

from collections.abc import Sequence


def quantile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of already sorted samples, linearly interpolated."""
    if not ordered:
        raise ValueError("no samples")
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """`p50_ms`, `p99_ms`, `max_ms` of samples given in seconds."""
    ordered = sorted(s * 1000.0 for s in samples_s)
    return {
        "p50_ms": quantile(ordered, 0.50),
        "p99_ms": quantile(ordered, 0.99),
        "max_ms": ordered[-1],
    }
