"""A recording as the fake exchange's timeline: REST answers by time, websocket frames by pace.

`Timeline` indexes a recording (docs/recording.md): the `ws` lines in order, and per
(method, path) the `rest` lines sorted by time, so `rest_at` gives the latest answer recorded at
or before a playback time (the first one before that path's first line or before playback
starts). `PlaybackClock` maps wall time to playback time: it starts at the first `ws` line and
runs at `speed`; when looping, the timeline repeats every `period` ms.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from monitor.feed.recording import Line, Meta, RestLine, WsLine

#: Pause (recording ms) between the last frame of a cycle and the first of the next when looping.
LOOP_GAP_MS = 1000

Source = str | Path | tuple[Meta, Iterable[Line]]


class Timeline:
    """The lines of one recording, indexed for playback."""

    def __init__(self, meta: Meta, lines: Iterable[Line]) -> None:
        self.meta = meta
        self.ws: list[WsLine] = []
        rest: dict[tuple[str, str], list[RestLine]] = {}
        for line in lines:
            if isinstance(line, WsLine):
                self.ws.append(line)
            elif isinstance(line, RestLine):
                rest.setdefault((line.method.upper(), line.path), []).append(line)
        for answers in rest.values():
            answers.sort(key=lambda answer: answer.t)
        self._rest = rest
        self._rest_times = {key: [answer.t for answer in answers] for key, answers in rest.items()}
        self.ws.sort(key=lambda line: line.t)
        if self.ws:
            self.t0 = self.ws[0].t
            self.t_end = self.ws[-1].t
        else:
            firsts = [answers[0].t for answers in rest.values()]
            self.t0 = min(firsts) if firsts else (meta.started or 0)
            self.t_end = self.t0
        self.period = self.t_end - self.t0 + LOOP_GAP_MS

    @property
    def paths(self) -> list[str]:
        """`METHOD /path` of every recorded REST answer."""
        return sorted(f"{method} {path}" for method, path in self._rest)

    def has_path(self, path: str) -> bool:
        return any(key[1] == path for key in self._rest)

    def rest_at(self, method: str, path: str, t: float | None) -> RestLine | None:
        """The latest recorded answer with time <= `t` (its first answer when `t` is earlier
        or None); None when the recording never called that path with that method."""
        key = (method.upper(), path)
        answers = self._rest.get(key)
        if not answers:
            return None
        if t is None:
            return answers[0]
        index = bisect.bisect_right(self._rest_times[key], t) - 1
        return answers[max(index, 0)]


class PlaybackClock:
    """Wall time → playback time (recording ms) at `speed`, optionally looping."""

    def __init__(
        self,
        timeline: Timeline,
        *,
        speed: float = 1.0,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 (got {speed!r})")
        self.timeline = timeline
        self.speed = speed
        self.loop = loop
        self._clock = clock
        self.started_at: float | None = None

    @property
    def started(self) -> bool:
        return self.started_at is not None

    def start(self) -> bool:
        """Start the clock now; False if it was already running."""
        if self.started_at is not None:
            return False
        self.started_at = self._clock()
        return True

    def elapsed_ms(self) -> float | None:
        """Recording milliseconds since the first ws line (not wrapped); None before start."""
        if self.started_at is None:
            return None
        wall = max(0.0, self._clock() - self.started_at)
        if math.isinf(self.speed):
            return math.inf
        return wall * 1000.0 * self.speed

    def now_t(self) -> float | None:
        """Playback time on the recording's timeline; None before playback starts."""
        elapsed = self.elapsed_ms()
        if elapsed is None:
            return None
        if self.loop:
            if math.isinf(elapsed):
                return float(self.timeline.t_end)
            elapsed = elapsed % self.timeline.period
        return self.timeline.t0 + elapsed

    def due_at(self, t: int, cycle: int = 0) -> float:
        """The monotonic time at which a line recorded at `t` (in loop `cycle`) is due."""
        assert self.started_at is not None, "the clock has not started"
        offset_ms = t - self.timeline.t0 + cycle * self.timeline.period
        return self.started_at + offset_ms / 1000.0 / self.speed
