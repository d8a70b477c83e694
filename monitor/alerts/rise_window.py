"""`RiseWindow`: the sliding minimum of risk behind the policy's rapid-deterioration alert."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class RiseWindow:
    """Sliding minimum of risk over a window, in buckets: O(1) amortised, bounded memory.

    Values are kept per bucket (1/60 of the window), so the window reaches back up to one bucket
    further than `window_ms`: a slightly more sensitive test, never a missed rise.
    """

    window_ms: int
    bucket_ms: int
    mins: deque[tuple[int, float]] = field(default_factory=deque)

    def push(self, risk: float, now_ms: int) -> float:
        """Record `risk` and return the minimum over the window (including it)."""
        bucket = now_ms - now_ms % self.bucket_ms
        mins = self.mins
        while mins and mins[0][0] + self.bucket_ms + self.window_ms <= now_ms:
            mins.popleft()
        if not (mins and mins[-1][0] == bucket and mins[-1][1] <= risk):
            while mins and mins[-1][1] >= risk:
                mins.pop()
            mins.append((bucket, risk))
        return mins[0][1]

