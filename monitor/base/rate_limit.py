"""A token bucket: spaces sends to a destination, a small pure object with the time passed in.

`TokenBucket` allows `rate_per_s` sends per second on average and bursts of up to `burst`; it
reads no clock (the caller passes `now_s`), so the delivery worker's timing (`alerts/worker.py`)
is testable at any time scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
