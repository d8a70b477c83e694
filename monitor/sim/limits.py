"""Binance's per-IP REST weight limit, enforced by the fake exchange (when it is given one).

Every request's weight counts in the current window (`weights.WeightMeter`). A request that
takes the window past `limit` is answered 429 (-1003) with `Retry-After` until the window ends;
a client that keeps sending in that window after its 429 is banned: 418 with "IP banned until"
and `Retry-After` for `ban_s`, every request answered 418 until the ban ends — the behaviour
Binance documents for clients that do not back off. `AttemptLimiter` refuses websocket
connection attempts beyond `limit` per sliding `window_s` (Binance: 300 per 5 minutes per IP)
with HTTP 429.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping

from monitor.sim import errors
from monitor.sim.errors import Answer


class RestLimiter:
    """The 429 / 418 decisions for one fake exchange (one "IP")."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = 60.0,
        ban_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit <= 0 or window_s <= 0 or ban_s <= 0:
            raise ValueError("need limit, window_s and ban_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.ban_s = ban_s
        self._clock = clock
        self._warned_window: int | None = None
        self._banned_until: float | None = None
        #: Answers given: "429" and "418".
        self.answers: Counter[str] = Counter()

    def check(self, used: int, server_ms: int) -> Answer | None:
        """The refusal of a request that brought the window's weight to `used`, if any."""
        now = self._clock()
        if self._banned_until is not None:
            if now < self._banned_until:
                return self._ban(now, server_ms)
            self._banned_until = None
        window = int(now // self.window_s)
        if used <= self.limit:
            return None
        if self._warned_window == window:  # it did not back off after its 429
            self._banned_until = now + self.ban_s
            return self._ban(now, server_ms)
        self._warned_window = window
        self.answers["429"] += 1
        retry = math.ceil((window + 1) * self.window_s - now)
        return errors.error(429, errors.TOO_MANY_REQUESTS, {"Retry-After": str(max(1, retry))})

    def _ban(self, now: float, server_ms: int) -> Answer:
        assert self._banned_until is not None
        left = self._banned_until - now
        self.answers["418"] += 1
        return errors.error(
            418,
            errors.banned_until(server_ms + int(left * 1000)),
            {"Retry-After": str(max(1, math.ceil(left)))},
        )

    def state(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "window_s": self.window_s,
            "answers": dict(self.answers),
            "banned": self._banned_until is not None and self._clock() < self._banned_until,
        }


def rate_limit_state(limiters: Mapping[str, RestLimiter]) -> dict[str, object] | None:
    """The stats of a fake's per-pool limiters: the answers of all together (what a test checks
    first: none at all), and each pool's state; None when no limit is enforced."""
    if not limiters:
        return None
    answers: Counter[str] = Counter()
    for limiter in limiters.values():
        answers.update(limiter.answers)
    pools = {pool: limiter.state() for pool, limiter in limiters.items()}
    return {
        "answers": dict(answers),
        "banned": any(bool(state["banned"]) for state in pools.values()),
        "pools": pools,
    }


class AttemptLimiter:
    """Websocket connection attempts per sliding window; `allow()` counts one attempt."""

    def __init__(
        self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("need limit and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self.refused = 0

    def allow(self) -> bool:
        now = self._clock()
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        self._times.append(now)  # a refused attempt counts too, as on Binance
        if len(self._times) > self.limit:
            self.refused += 1
            return False
        return True
