"""Retry delays: exponential backoff as small pure objects, time passed in (design.md §3 rule 5).

Both policies grow a delay as `base_s · factor^n` up to `cap_s`, computed by `nominal_delay_s`
(overflow-safe: past the cap the power is never formed). Neither reads a clock nor sleeps.

- `Backoff` (reconnects and REST retries in `binance/`, the daemon's account restarts): counts
  its own attempts (`next_delay()` after a failure, `reset()` after a success) and adds "equal
  jitter" (half fixed, half random), so a fleet of clients that lost the same server does not
  come back in lockstep, yet a retry never comes sooner than half the nominal delay. The random
  source is injectable for tests. There is no attempt limit: a monitor never gives up.
- `FailureBackoff` (notifier deliveries in `alerts/worker.py`): stateless and unjittered; the
  caller keeps the count of consecutive failures of a destination and asks `delay_s(failures)`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field


def _check(base_s: float, factor: float, cap_s: float) -> None:
    if not (base_s > 0.0 and factor >= 1.0 and cap_s >= base_s):
        raise ValueError("backoff needs base_s > 0, factor >= 1 and cap_s >= base_s")


def nominal_delay_s(base_s: float, factor: float, cap_s: float, attempt: int) -> float:
    """`min(cap_s, base_s · factor^attempt)` for a 0-based `attempt`, without overflow."""
    exponent = max(0, attempt)
    if factor > 1.0 and exponent >= math.log(cap_s / base_s, factor):
        return float(cap_s)
    return float(min(cap_s, base_s * factor**exponent))


@dataclass(slots=True)
class Backoff:
    """Unbounded jittered exponential backoff that counts its attempts."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    #: Uniform random source in [0, 1); injectable for deterministic tests.
    rng: Callable[[], float] = field(default=random.random)
    attempts: int = 0

    def __post_init__(self) -> None:
        _check(self.base_s, self.factor, self.cap_s)

    def nominal(self, attempt: int) -> float:
        """The un-jittered delay before retry number `attempt` (0-based)."""
        return nominal_delay_s(self.base_s, self.factor, self.cap_s, attempt)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts the attempt."""
        nominal = self.nominal(self.attempts)
        self.attempts += 1
        return nominal / 2 + self.rng() * nominal / 2

    def reset(self) -> None:
        """Call after a success: the next failure starts from `base_s` again."""
        self.attempts = 0


@dataclass(frozen=True, slots=True)
class FailureBackoff:
    """Exponential backoff by consecutive failures: `base_s · factor^(failures − 1)`, capped."""

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 300.0

    def __post_init__(self) -> None:
        _check(self.base_s, self.factor, self.cap_s)

    def delay_s(self, failures: int) -> float:
        """The wait after the `failures`-th consecutive failure (failures >= 1)."""
        return nominal_delay_s(self.base_s, self.factor, self.cap_s, failures - 1)
