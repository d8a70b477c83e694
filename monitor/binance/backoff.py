"""Reconnect and retry delays: jittered exponential backoff, a pure and injectable policy.

`Backoff` holds no clock and sleeps nowhere: callers ask `next_delay()` after a failure and
`reset()` after a success, and tests pass their own random source. The delay grows as
`base · factor^n` up to `cap`, with "equal jitter" (half fixed, half random) so a fleet of
clients that lost the same server does not come back in lockstep, yet a retry never comes
sooner than half the nominal delay. There is no attempt limit: a monitor never gives up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Unbounded jittered exponential backoff."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    #: Uniform random source in [0, 1); injectable for deterministic tests.
    rng: Callable[[], float] = field(default=random.random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.factor < 1 or self.cap_s < self.base_s:
            raise ValueError("need base_s > 0, factor >= 1 and cap_s >= base_s")

    def nominal(self, attempt: int) -> float:
        """The un-jittered delay before retry number `attempt` (0-based)."""
        # Bounded exponent: past the cap the value no longer matters, and floats stay finite.
        exponent = min(attempt, 64)
        return float(min(self.cap_s, self.base_s * self.factor**exponent))

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts the attempt."""
        nominal = self.nominal(self.attempts)
        self.attempts += 1
        return nominal / 2 + self.rng() * nominal / 2

    def reset(self) -> None:
        """Call after a success: the next failure starts from `base_s` again."""
        self.attempts = 0
