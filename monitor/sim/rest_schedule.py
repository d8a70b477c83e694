"""`RestSchedule`: when each recorded GET answer of a recording becomes current in playback."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from monitor.feed.recording import RestLine


class RestSchedule:
    """The recorded GET answers of a recording in time order.

    `initial` are the first answer of every path (current from the start, also before playback);
    `due(t)` returns the later ones recorded at or before `t` not handed out yet. `restart()`
    begins a new loop cycle (the later answers become due again)."""

    def __init__(self, lines: Iterable[RestLine]) -> None:
        seen: set[str] = set()
        self.initial: list[RestLine] = []
        later: list[RestLine] = []
        for line in sorted(lines, key=lambda line: line.t):
            if line.method.upper() != "GET":
                continue
            path = line.path.split("?", 1)[0]
            (later if path in seen else self.initial).append(line)
            seen.add(path)
        self._later = later
        self._times = [line.t for line in later]
        self._next = 0

    def due(self, t: float) -> list[RestLine]:
        end = bisect.bisect_right(self._times, t)
        if end <= self._next:
            return []
        lines, self._next = self._later[self._next : end], end
        return lines

    def restart(self) -> None:
        self._next = 0
