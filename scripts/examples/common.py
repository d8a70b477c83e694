"""What every example generator shares: times, seeded price paths, the line collector, a solver.

Prices follow seeded random walks pinned at key times (`price_path`), so the final figures are
round constants the tests recompute by hand; `Recorder` collects recording lines
(docs/recording.md) and writes them in receive order; `solve_down_up` finds the single-symbol
liquidation price the REST answers report.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from monitor.feed.recording import Line, Meta, NoteLine, RestLine, WsLine, write_recording

HOUR = 3_600_000
JSON = dict[str, Any]


def epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO UTC timestamp."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def price_path(
    rng: random.Random, keys: list[tuple[int, float]], vol: float, places: int
) -> list[Decimal]:
    """Prices at t = 0..last key (1 s steps): linear through the keys plus a Brownian bridge
    of relative volatility `vol` per step that is zero at every key, so keys are hit exactly."""
    out: list[float] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(keys):
        n = t1 - t0
        walk = [0.0]
        for _ in range(n):
            walk.append(walk[-1] + rng.gauss(0.0, vol))
        for j in range(n):
            bridge = walk[j] - walk[n] * j / n
            out.append((v0 + (v1 - v0) * j / n) * (1.0 + bridge))
    out.append(keys[-1][1])
    return [Decimal(str(round(v, places))) for v in out]


@dataclass
class Recorder:
    """Collects recording lines; `rest`/`ws`/`note` append one line each; `write` puts them
    into `out`."""

    out: Path
    lines: list[Line] = field(default_factory=list)

    def rest(self, t: int, path: str, data: Any, params: JSON | None = None) -> None:
        self.lines.append(RestLine(t, "GET", path, data, params or {}, 200))

    def ws(self, t: int, conn: str, data: Any) -> None:
        self.lines.append(WsLine(t, conn, data))

    def note(self, t: int, text: str) -> None:
        self.lines.append(NoteLine(t, text))

    def write(self, name: str, meta: Meta) -> Path:
        self.lines.sort(key=lambda line: line.t)  # receive order (stable for equal times)
        path = self.out / name
        write_recording(path, meta, self.lines)
        return path


def latency(rng: random.Random) -> int:
    return rng.randint(3, 45)


def solve_down_up(health: Callable[[float], float], mark: float) -> float:
    """The price nearest `mark` where `health` (margin balance − threshold·MM) reaches 0, moving
    one symbol's mark down and up; 0 when neither direction reaches it within ×0.01..×10."""
    best = 0.0
    for lo_factor, hi_factor in ((0.01, 1.0), (1.0, 10.0)):
        grid = [mark * (lo_factor + (hi_factor - lo_factor) * i / 2000) for i in range(2001)]
        if lo_factor < 1.0:
            grid.reverse()
        prev = grid[0]
        for price in grid[1:]:
            if (health(prev) > 0) != (health(price) > 0):
                a, b = prev, price
                for _ in range(80):
                    m = (a + b) / 2
                    if (health(a) > 0) == (health(m) > 0):
                        a = m
                    else:
                        b = m
                root = (a + b) / 2
                if best == 0.0 or abs(root - mark) < abs(best - mark):
                    best = root
                break
            prev = price
    return best
