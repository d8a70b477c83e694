"""Shared budgets: REST weight reserved before a request, riskiest first; connection attempts
paced; the fake exchange's 429 / 418; and 200 accounts' clients resyncing at once after an
outage without a single 429 or 418 (while without the shared budget the same burst is refused)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from monitor import examples
from monitor.binance.budget import AttemptBudget, BudgetBook, WeightBudget
from monitor.binance.endpoints import endpoints_for
from monitor.binance.rest import RestClient, RestError
from monitor.sim.limits import AttemptLimiter, RestLimiter
from monitor.sim.server import FakeExchange

KEY, SECRET = "budget-key-Xb4Rt8", "budget-secret-Nq2Lm7Vw"
#: A USDⓈ-M resync: 5 + 5 + 1 + 1 weight (+ 1 for the time sync before the first signed one).
SNAPSHOT = ("/fapi/v3/account", "/fapi/v3/positionRisk", "/fapi/v1/premiumIndex",
            "/fapi/v1/leverageBracket")


async def test_weight_is_reserved_and_waiters_go_riskiest_first() -> None:
    budget = WeightBudget(100, headroom=0.5, window_s=0.4)  # cap 50 per 0.4 s window
    # Start right after a window boundary so the first window is (nearly) whole.
    await asyncio.sleep(0.4 - time.time() % 0.4 + 0.01)
    assert await budget.acquire(30) < 0.01  # granted at once (one event-loop turn)
    assert budget.used == 30
    order: list[str] = []

    async def one(name: str, weight: int, priority: float) -> None:
        await budget.acquire(weight, priority)
        order.append(name)

    # 30 + 25 > 50: all three wait; the next window takes the two riskiest (30 + 20 = 50).
    await asyncio.gather(one("calm", 25, 0.1), one("risky", 30, 0.9), one("mid", 20, 0.5))
    assert order == ["risky", "mid", "calm"]
    assert budget.waits == 3 and budget.queued == 0
    assert budget.peak <= 50
    budget.observe(45)  # the header knows of more (another process on the address)
    assert budget.used >= 45


async def test_weight_still_in_flight_counts_in_the_next_window_too() -> None:
    """A request granted late in a window may reach Binance in the next one, where it counts:
    until it is answered, its weight starts the next window's count (so a loop lagging past
    the boundary cannot let two windows' grants land in one of Binance's)."""
    now = [10.0]
    budget = WeightBudget(100, headroom=0.5, window_s=1.0, clock=lambda: now[0])  # cap 50
    await budget.acquire(30)  # granted at 10.0, still in flight
    await budget.acquire(10)
    budget.settle(10)  # answered within the window
    now[0] = 11.2  # the next window: the 30 may land here
    assert budget.used == 30 and budget.in_flight == 30
    waiter = asyncio.ensure_future(budget.acquire(25))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not waiter.done()  # 30 + 25 > 50: waits for a window without it
    budget.settle(30)
    now[0] = 12.3
    budget._release()  # the pump's call at the boundary (a fake clock: no timers run)
    await asyncio.sleep(0)
    assert waiter.done() and budget.used == 25
    assert budget.peak <= budget.cap


async def test_connection_attempts_are_paced_in_a_sliding_window() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    attempts = AttemptBudget(3, 10.0, clock=lambda: now[0], sleep=sleep)
    waits = []
    for _ in range(7):
        attempt = await attempts.acquire()
        waits.append(attempt.waited_s)
        attempt.done()
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(10.0)  # the 4th waits for the 1st to leave the window
    assert attempts.attempts == 7
    assert now[0] == pytest.approx(20.0)  # 7 attempts at 3 per 10 s: the last at t = 20
    # An attempt counts from its end: one that took 4 s keeps its slot until 4 s + the window.
    slow = AttemptBudget(1, 10.0, clock=lambda: now[0], sleep=sleep)
    first = await slow.acquire()
    now[0] += 4.0
    first.done()
    second = await slow.acquire()
    assert second.waited_s == pytest.approx(10.0)


def test_fake_limiter_429_then_ban_418_then_free_again() -> None:
    now = [120.5]
    limiter = RestLimiter(100, window_s=60.0, ban_s=30.0, clock=lambda: now[0])
    assert limiter.check(100, 0) is None
    refused = limiter.check(105, 0)
    assert refused is not None and refused.status == 429
    assert refused.headers["Retry-After"] == "60"  # until the minute ends at 180
    banned = limiter.check(106, 0)  # did not back off
    assert banned is not None and banned.status == 418
    now[0] = 185.0  # a new minute, but the ban runs until 150.5 + 30: still banned? no: ended
    assert limiter.check(1, 0) is None
    assert limiter.answers == {"429": 1, "418": 1}


def test_fake_refuses_connection_attempts_beyond_its_window() -> None:
    now = [0.0]
    limiter = AttemptLimiter(3, 10.0, clock=lambda: now[0])
    assert [limiter.allow() for _ in range(4)] == [True, True, True, False]
    now[0] = 10.5  # the first attempts left the window
    assert limiter.allow() and limiter.refused == 1


async def _burst(fake: FakeExchange, clients: list[RestClient]) -> list[object]:
    async def one(client: RestClient) -> object:
        try:
            return await client.snapshot(SNAPSHOT)
        except RestError as exc:
            return exc

    return await asyncio.gather(*(one(c) for c in clients))


def _clients(fake: FakeExchange, n: int, book: BudgetBook | None,
             risks: list[float]) -> list[RestClient]:
    endpoints = endpoints_for("custom", fake.rest_url, fake.ws_url)
    return [
        RestClient(endpoints, KEY, SECRET, budgets=book, priority=lambda r=risks[i]: r,
                   max_attempts=3, max_retry_after_s=5.0)
        for i in range(n)
    ]


@pytest.mark.e2e  # end to end: real processes or real timeouts
async def test_200_accounts_resync_after_an_outage_without_429_or_418() -> None:
    # A compressed "minute" of 1 s and a limit of 1,000: 200 resyncs of 13 weight (with the
    # time sync) need 2,600, over four windows at the 80 % headroom.
    fake = FakeExchange.from_file(examples.path("usdm"), api_key=KEY, api_secret=SECRET,
                                  weight_limit=1000, weight_window_s=1.0, ban_s=2.0)
    await fake.start()
    n = 200
    risks = [i / n for i in range(n)]
    book = BudgetBook({"futures": 1000}, window_s=1.0)
    clients = _clients(fake, n, book, risks)
    done: dict[int, float] = {}
    try:
        started = time.monotonic()

        async def tracked(i: int) -> None:
            await clients[i].snapshot(SNAPSHOT)
            done[i] = time.monotonic() - started

        await asyncio.gather(*(tracked(i) for i in range(n)))
        assert len(done) == n  # every account resynced
        state = fake.stats["rate_limit"]
        assert state["answers"] == {}, state  # not one 429 or 418
        assert not any(str(s) in ("429", "418") for c in fake.stats["requests"].values()
                       for s in c)
        (budget,) = book.budgets().values()
        assert budget.peak <= 1000 and budget.waits > 0
        # Spread over several windows, riskiest first: the 20 riskiest all done before any of
        # the 20 calmest.
        assert max(done.values()) > 1.5
        riskiest = [done[i] for i in range(n - 20, n)]
        calmest = [done[i] for i in range(20)]
        assert max(riskiest) < min(calmest)
    finally:
        for client in clients:
            await client.close()
        await fake.stop()


@pytest.mark.e2e  # end to end: real processes or real timeouts
async def test_without_the_shared_budget_the_same_burst_is_refused(tmp_path: Path) -> None:
    fake = FakeExchange.from_file(examples.path("usdm"), api_key=KEY, api_secret=SECRET,
                                  weight_limit=1000, weight_window_s=1.0, ban_s=1.0)
    await fake.start()
    clients = _clients(fake, 200, None, [0.0] * 200)  # each client paces on its own
    try:
        await _burst(fake, clients)
        answers = fake.stats["rate_limit"]["answers"]
        assert answers.get("429", 0) + answers.get("418", 0) > 0, answers
    finally:
        for client in clients:
            await client.close()
        await fake.stop()
