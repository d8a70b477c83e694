"""Budgets shared by every account on one egress address: REST weight and connection attempts.

Binance counts REST weight per IP and venue family (USDⓈ-M and COIN-M share 2,400 a minute;
Portfolio Margin 6,000; `/sapi` and `/api` their own), and websocket connection attempts per IP
(300 per 5 minutes). Hundreds of accounts each throttling on their own would all see room at the
same moment and overshoot together (a 429, then a 418 ban). Here one `WeightBudget` per
(egress address, venue host, pool) is shared by every `RestClient` on it: a request *reserves*
its weight before it goes (so concurrent requests cannot all pass the same check), the
`X-MBX-USED-WEIGHT-1M` header is the truth whenever it says more than we counted (another
process on the address), and a request that does not fit waits for the next window — waiters
are served riskiest first (`priority`, the account's last known risk), so after a venue-wide
outage the resyncs run queued and spread over the windows, the accounts nearest liquidation
first. `AttemptBudget` paces websocket connection attempts the same way (a sliding window).

Windows are aligned to the wall clock (`floor(t / window_s)`), like Binance's minute. A request
granted in one window may reach the exchange in the next (event-loop lag, a slow connect), where
Binance counts it: so the weight of requests still in flight (granted, not yet `settle`d) is
counted again in the window that follows — a new window starts at the weight granted in the
window before it and not yet answered, not at zero (only the one before: a grant never settled
cannot hold a budget shut for good).

Who is waiting: a request may name its `owner` (a `RestClient` passes itself), so a caller can
tell an account "waiting for REST budget" from a blind one: `BudgetBook.waiting(owner)` gives
the seconds the owner's oldest queued request has waited (None when nothing of it is queued),
`BudgetBook.queued(owner)` whether it has any, `BudgetBook.queued_owners()` how many owners
(accounts' resyncs, in the daemon) are queued at all; `WeightBudget.queued` counts requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: Binance's REST weight limits per IP and pool (per minute), `monitor.binance.rest.weight_pool`.
DEFAULT_LIMITS: dict[str, int] = {"futures": 2400, "papi": 6000, "spot": 6000}
#: Websocket connection attempts per IP: Binance allows 300 per 5 minutes; 90 % of it, so the
#: exchange (which counts an attempt a little later than we do) never sees one too many.
DEFAULT_ATTEMPTS = (270, 300.0)
#: After a window starts, waiters go this much later (clock uncertainty against the server's).
BOUNDARY_MARGIN_S = 0.25

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(order=True)
class _Waiter:
    key: tuple[float, int]
    weight: int = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)
    owner: object | None = field(default=None, compare=False)
    since: float = field(default=0.0, compare=False)


class WeightBudget:
    """One REST weight budget (see the module doc): `await acquire(w, priority)` before a
    request of weight `w`, `observe(used)` with the reply's used-weight header."""

    def __init__(
        self,
        limit: int,
        *,
        headroom: float = 0.8,
        window_s: float = 60.0,
        clock: Clock = time.time,
        name: str = "",
    ) -> None:
        if limit <= 0 or not 0.0 < headroom <= 1.0 or window_s <= 0:
            raise ValueError("need limit > 0, 0 < headroom <= 1 and window_s > 0")
        self.limit = limit
        self.headroom = headroom
        self.window_s = window_s
        self.name = name
        self._clock = clock
        self._window = -1
        self._used = 0
        #: Window → weight granted in it whose request has not been answered yet (`settle`).
        self._flight: dict[int, int] = {}
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._pump: asyncio.Handle | None = None
        #: Owner → its requests in the queue (`waiting`, `queued_for`).
        self._owners: dict[object, list[_Waiter]] = {}
        #: Requests that had to wait, and the seconds they waited in total.
        self.waits = 0
        self.waited_s = 0.0
        #: The highest weight counted in one window so far.
        self.peak = 0
        #: 429 / 418 answers reported (`refused`), and until when (clock) nothing is granted.
        self.refusals = 0
        self._closed_until = 0.0

    @property
    def cap(self) -> int:
        return max(1, int(self.limit * self.headroom))

    @property
    def used(self) -> int:
        self._roll()
        return self._used

    @property
    def queued(self) -> int:
        """Requests waiting for room."""
        return len(self._waiters)

    def queued_for(self, owner: object) -> int:
        """How many of `owner`'s requests are waiting."""
        return len(self._owners.get(owner, ()))

    def waiting(self, owner: object) -> float | None:
        """Seconds `owner`'s oldest queued request has waited; None when none is queued."""
        mine = self._owners.get(owner)
        if not mine:
            return None
        return max(0.0, self._clock() - min(w.since for w in mine))

    def owners(self) -> set[object]:
        """The owners with a request in the queue (anonymous requests are not counted)."""
        return set(self._owners)

    def _forget(self, waiter: _Waiter) -> None:
        if waiter.owner is None:
            return
        mine = self._owners.get(waiter.owner)
        if mine is not None:
            with contextlib.suppress(ValueError):
                mine.remove(waiter)
            if not mine:
                del self._owners[waiter.owner]

    @property
    def in_flight(self) -> int:
        """Weight granted whose request has not been answered yet."""
        return sum(self._flight.values())

    def _roll(self) -> None:
        window = int(self._clock() // self.window_s)
        if window != self._window:
            # What the last window granted and is still in flight may land in this one.
            self._flight = {w: v for w, v in self._flight.items() if w >= window - 1}
            self._window, self._used = window, self._flight.get(window - 1, 0)
            self.peak = max(self.peak, self._used)

    def _fits(self, weight: int) -> bool:
        if self._clock() < self._closed_until:
            return False
        # A request heavier than the whole cap still goes, alone, once nothing is in flight.
        return self._used + weight <= self.cap or self._used == 0

    def refused(self, retry_after_s: float | None) -> None:
        """A request on this budget was answered 429 or 418: every account on the address must
        stop, not just the one that was told (Binance bans an address that keeps sending after
        a 429), so nothing more is granted until `Retry-After` (else the window) has passed."""
        now = self._clock()
        self.refusals += 1
        if retry_after_s is None or retry_after_s <= 0:
            retry_after_s = (int(now // self.window_s) + 1) * self.window_s - now
        self._closed_until = max(self._closed_until, now + retry_after_s)

    def _take(self, weight: int) -> None:
        self._used += weight
        self._flight[self._window] = self._flight.get(self._window, 0) + weight
        self.peak = max(self.peak, self._used)

    def settle(self, weight: int) -> None:
        """A request granted `weight` was answered (or failed before it went): it no longer
        counts in windows that start from now."""
        for window in sorted(self._flight):  # the oldest grants are answered first
            taken = min(weight, self._flight[window])
            self._flight[window] -= taken
            weight -= taken
            if not self._flight[window]:
                del self._flight[window]
            if not weight:
                break

    async def acquire(
        self, weight: int, priority: float = 0.0, owner: object | None = None
    ) -> float:
        """Reserve `weight` in the current window, waiting for a later one if it does not fit
        (higher `priority` first); returns the seconds waited. `owner` (hashable, e.g. the
        account's REST client) makes the wait visible through `waiting(owner)`.

        Requests arriving together (in the same event-loop turn, like every account's resync
        after an outage) are granted in priority order, not in the order they asked."""
        started = self._clock()
        loop = asyncio.get_running_loop()
        waiter = _Waiter((-priority, next(self._seq)), weight, loop.create_future(), owner,
                         started)
        heapq.heappush(self._waiters, waiter)
        if owner is not None:
            self._owners.setdefault(owner, []).append(waiter)
        if self._pump is None:
            self._pump = loop.call_soon(self._release)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                heapq.heapify(self._waiters)
            raise
        finally:
            self._forget(waiter)
        waited = max(0.0, self._clock() - started)
        if waited > 0.001:
            self.waits += 1
            self.waited_s += waited
        return waited

    def observe(self, used: int | None) -> None:
        """The reply's `X-MBX-USED-WEIGHT-1M`: the truth when it says more than we counted."""
        if used is None:
            return
        self._roll()
        if used > self._used:
            self._used = used
            self.peak = max(self.peak, used)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Release again at the start of the next window; when only a refusal holds the queue
        (the next request fits this window), when its wait ends."""
        now = self._clock()
        next_start = (int(now // self.window_s) + 1) * self.window_s
        if self._closed_until > now:
            head = self._waiters[0]
            if self._used + head.weight <= self.cap:  # only the refusal holds it: its end
                next_start = self._closed_until
            else:
                next_start = max(next_start, self._closed_until)
        self._pump = loop.call_later(next_start - now + BOUNDARY_MARGIN_S, self._release)

    def _release(self) -> None:
        """Grant the waiters that fit in this window, riskiest first; the rest wait for the
        next one."""
        self._pump = None
        self._roll()
        while self._waiters:
            head = self._waiters[0]
            if head.future.done():
                heapq.heappop(self._waiters)
                self._forget(head)
                continue
            if not self._fits(head.weight):
                break
            heapq.heappop(self._waiters)
            self._forget(head)
            self._take(head.weight)
            head.future.set_result(None)
        if self._waiters:
            self._schedule(asyncio.get_running_loop())


class Attempt:
    """One connection attempt taken from an `AttemptBudget`; `done()` when it has ended."""

    __slots__ = ("_clock", "t", "waited_s")

    def __init__(self, t: float, waited_s: float, clock: Clock) -> None:
        self.t = t
        self.waited_s = waited_s
        self._clock = clock

    def done(self) -> None:
        """The attempt ended (connected or failed): it counts from now, since the exchange may
        have seen it as late as this (an attempt never done counts from when it began)."""
        self.t = self._clock()


class AttemptBudget:
    """At most `limit` connection attempts in any `window_s` (a sliding window); `acquire()`
    waits for the oldest attempt to leave the window when it is full."""

    def __init__(
        self,
        limit: int = DEFAULT_ATTEMPTS[0],
        window_s: float = DEFAULT_ATTEMPTS[1],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("need limit > 0 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._recent: list[Attempt] = []
        self._lock = asyncio.Lock()
        self.attempts = 0
        self.waited_s = 0.0
        #: Attempts waiting for their turn right now.
        self.queued = 0
        #: The most attempts ever counted in one window.
        self.peak = 0

    def in_window(self) -> int:
        """Attempts counted in the current window (the sliding `window_s` up to now)."""
        now = self._clock()
        return sum(1 for a in self._recent if a.t > now - self.window_s)

    async def acquire(self) -> Attempt:
        """Take one attempt, after waiting for room (`Attempt.waited_s` says how long)."""
        self.queued += 1
        try:
            return await self._acquire()
        finally:
            self.queued -= 1

    async def _acquire(self) -> Attempt:
        async with self._lock:  # attempts go in the order they asked
            waited = 0.0
            while True:
                now = self._clock()
                self._recent = [a for a in self._recent if a.t > now - self.window_s]
                if len(self._recent) < self.limit:
                    break
                delay = max(0.01, min(a.t for a in self._recent) + self.window_s - now)
                waited += delay
                await self._sleep(delay)
            attempt = Attempt(self._clock(), waited, self._clock)
            self._recent.append(attempt)
            self.peak = max(self.peak, len(self._recent))
            self.attempts += 1
            self.waited_s += waited
            return attempt


class BudgetBook:
    """The weight budgets of one egress address, one per (venue host, pool), made on first use
    with Binance's limits (`limits` overrides them, e.g. compressed for tests)."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        headroom: float = 0.8,
        window_s: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.headroom = headroom
        self.window_s = window_s
        self._clock = clock
        self._budgets: dict[tuple[str, str], WeightBudget] = {}

    def budget(self, host: str, pool: str) -> WeightBudget:
        key = (host, pool)
        found = self._budgets.get(key)
        if found is None:
            found = WeightBudget(
                self.limits.get(pool, DEFAULT_LIMITS["spot"]),
                headroom=self.headroom,
                window_s=self.window_s,
                clock=self._clock,
                name=f"{host} {pool}",
            )
            self._budgets[key] = found
        return found

    def budgets(self) -> dict[tuple[str, str], WeightBudget]:
        return dict(self._budgets)

    def waiting(self, owner: object) -> float | None:
        """Seconds `owner`'s oldest request queued in any budget has waited (None: nothing of
        it is queued) — e.g. an account whose resync waits for REST weight."""
        waits = [w for b in self._budgets.values() if (w := b.waiting(owner)) is not None]
        return max(waits) if waits else None

    def queued(self, owner: object) -> bool:
        """Whether `owner` has a request waiting in any budget."""
        return any(b.queued_for(owner) for b in self._budgets.values())

    def queued_owners(self) -> int:
        """How many distinct owners (accounts, in the daemon) have a request waiting."""
        owners: set[object] = set()
        for b in self._budgets.values():
            owners |= b.owners()
        return len(owners)
