"""Retry and rate-limit policies for delivery: small pure objects, time passed in.

`Backoff` maps consecutive failures of a destination to a delay; `TokenBucket` spaces sends to a
destination. Neither reads a clock, so the worker's timing is testable at any time scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: base·factor^(failures−1), capped at `max_s`."""

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_s <= 0.0 or self.factor < 1.0 or self.max_s < self.base_s:
            raise ValueError("backoff needs base_s > 0, factor >= 1 and max_s >= base_s")

    def delay_s(self, failures: int) -> float:
        """The wait after the `failures`-th consecutive failure (failures >= 1)."""
        exponent = max(0, failures - 1)
        if self.factor > 1.0 and exponent >= math.log(self.max_s / self.base_s, self.factor):
            return self.max_s
        return min(self.max_s, self.base_s * self.factor**exponent)


@dataclass(slots=True)
class TokenBucket:
    """`rate_per_s` sends per second on average, bursts of up to `burst`."""

    rate_per_s: float
    burst: float = 1.0
    tokens: float = field(init=False)
    stamp_s: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0.0 or self.burst < 1.0:
            raise ValueError("a rate limit needs rate_per_s > 0 and burst >= 1")
        self.tokens = self.burst

    def acquire(self, now_s: float) -> float:
        """Take a token and return 0, or take nothing and return how long to wait for one."""
        if self.stamp_s is not None:
            elapsed = max(0.0, now_s - self.stamp_s)
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
        self.stamp_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s
