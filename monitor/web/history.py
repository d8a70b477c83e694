"""Bounded in-memory history of one account: risk samples and alerts, for the dashboard.

`RiskRing` keeps the last `capacity` (t_ms, risk) samples in two arrays that grow as samples
arrive, up to `capacity` (one sample a second for six hours is 21 600 samples, 350 kB), then
wrap: memory never grows past its capacity, however long the daemon runs, and an account that
just started costs next to nothing. With `step_ms`, samples in one step are merged into one
keeping the highest risk (a fleet's history at a coarser step: issue 17). `points(max_points)`
downsamples for a chart, keeping each bucket's highest risk (a spike never disappears from the
picture). `AlertLog` keeps the last alerts.
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

    def __init__(self, capacity: int = DEFAULT_CAPACITY, step_ms: int = 0) -> None:
        if capacity < 1 or step_ms < 0:
            raise ValueError("capacity must be at least 1 and step_ms at least 0")
        self.capacity = capacity
        self.step_ms = step_ms
        self._t = array("q")  # grown by append up to `capacity`, then circular
        self._r = array("d")
        self._start = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, t_ms: int, risk: float) -> None:
        """Add a sample; non-finite risks (no maintenance margin yet) are stored as NaN."""
        value = risk if math.isfinite(risk) else math.nan
        if self._len and t_ms < self.last_t():
            return  # the clock went backwards: keep time order
        step = self.step_ms
        if step and self._len and t_ms // step == self.last_t() // step:
            k = (self._start + self._len - 1) % self.capacity
            old = self._r[k]
            if math.isnan(old) or value > old:  # the step's highest risk (NaN: none yet)
                self._r[k] = value
            return
        if self._len < self.capacity:
            self._t.append(t_ms)
            self._r.append(value)
            self._len += 1
            return
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
