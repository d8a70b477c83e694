"""Bounded in-memory history of one account: risk samples and alerts, for the dashboard.

`RiskRing` keeps the last `capacity` (t_ms, risk) samples in two fixed arrays (one sample a
second for six hours is 21 600 samples, 350 kB): memory never grows past its capacity, however
long the daemon runs. `points(max_points)` downsamples for a chart, keeping each bucket's
highest risk (a spike never disappears from the picture). `AlertLog` keeps the last alerts.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

#: One sample a second for six hours.
DEFAULT_CAPACITY = 6 * 3600
#: Alerts kept per account.
DEFAULT_ALERTS = 200


class RiskRing:
    """A circular buffer of (t_ms, risk) samples in time order."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._t = array("q", bytes(8 * capacity))
        self._r = array("d", bytes(8 * capacity))
        self._start = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, t_ms: int, risk: float) -> None:
        """Add a sample; non-finite risks (no maintenance margin yet) are stored as NaN."""
        value = risk if math.isfinite(risk) else math.nan
        if self._len and t_ms < self.last_t():
            return  # the clock went backwards: keep time order
        if self._len < self.capacity:
            k = (self._start + self._len) % self.capacity
            self._len += 1
        else:
            k = self._start
            self._start = (self._start + 1) % self.capacity
        self._t[k] = t_ms
        self._r[k] = value

    def last_t(self) -> int:
        return self._t[(self._start + self._len - 1) % self.capacity] if self._len else 0

    def samples(self) -> list[tuple[int, float]]:
        """Every sample, oldest first."""
        cap, start = self.capacity, self._start
        return [(self._t[(start + i) % cap], self._r[(start + i) % cap]) for i in range(self._len)]

    def points(self, max_points: int = 720, since_ms: int | None = None) -> list[list[Any]]:
        """[[t_ms, risk or None], ...] with at most `max_points` points: equal-count buckets,
        each represented by its highest-risk sample."""
        data = self.samples()
        if since_ms is not None:
            data = [s for s in data if s[0] >= since_ms]
        if max_points < 1:
            return []
        if len(data) > max_points:
            size = math.ceil(len(data) / max_points)
            picked = []
            for i in range(0, len(data), size):
                bucket = data[i : i + size]
                finite = [s for s in bucket if not math.isnan(s[1])]
                picked.append(max(finite, key=lambda s: s[1]) if finite else bucket[-1])
            data = picked
        return [[t, None if math.isnan(r) else r] for t, r in data]


@dataclass(frozen=True, slots=True)
class AlertEntry:
    """One alert as the dashboard shows it."""

    t_ms: int
    kind: str
    level: str | None
    risk: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.t_ms,
            "kind": self.kind,
            "level": self.level,
            "risk": self.risk,
            "detail": self.detail,
        }


class AlertLog:
    """The last `capacity` alerts of an account, oldest first."""

    def __init__(self, capacity: int = DEFAULT_ALERTS) -> None:
        self._entries: deque[AlertEntry] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: AlertEntry) -> None:
        self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self._entries]
