"""What the shared budgets tell: who is waiting (`BudgetBook.waiting`, `queued`,
`queued_owners`, for the account's "waiting for REST budget"), the attempt budget's window, and
the metrics built from them (`Metrics.observe_budgets`, `marginwatch_rest_rate_limited_total`)."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.binance.budget import AttemptBudget, BudgetBook
from monitor.service.metrics import Metrics


def _value(metrics: Metrics, line_start: str) -> float:
    for line in metrics.render().decode().splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start}")


async def test_queued_requests_name_their_owner_until_granted() -> None:
    now = [120.1]
    book = BudgetBook({"futures": 100}, headroom=0.5, window_s=60.0, clock=lambda: now[0])
    budget = book.budget("fapi.example", "futures")
    calm, risky = object(), object()
    assert await budget.acquire(50, owner=calm) == 0.0  # the whole cap of this window
    assert book.waiting(calm) is None and not book.queued(calm)
    task_calm = asyncio.create_task(budget.acquire(10, 0.1, owner=calm))
    task_risky = asyncio.create_task(budget.acquire(10, 0.9, owner=risky))
    await asyncio.sleep(0.01)
    now[0] += 5.0
    assert book.queued(calm) and book.queued(risky)
    assert book.waiting(risky) == pytest.approx(5.0)
    assert book.queued_owners() == 2 and budget.queued == 2
    assert budget.queued_for(risky) == 1 and budget.owners() == {calm, risky}
    task_calm.cancel()  # a cancelled request leaves no trace
    await asyncio.gather(task_calm, return_exceptions=True)
    assert not book.queued(calm) and book.queued_owners() == 1
    task_risky.cancel()
    await asyncio.gather(task_risky, return_exceptions=True)
    assert book.queued_owners() == 0 and budget.queued == 0


async def test_a_granted_request_is_no_longer_queued() -> None:
    book = BudgetBook({"futures": 100}, headroom=0.5, window_s=0.3)
    budget = book.budget("fapi.example", "futures")
    await asyncio.sleep(0.3 - time.time() % 0.3 + 0.01)
    owner = object()
    await budget.acquire(50)
    waiter = asyncio.create_task(budget.acquire(20, owner=owner))
    await asyncio.sleep(0.01)
    assert book.queued(owner)
    waited = await waiter
    assert waited > 0.1 and not book.queued(owner) and book.waiting(owner) is None


async def test_the_attempt_budget_says_what_its_window_holds() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    attempts = AttemptBudget(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        (await attempts.acquire()).done()
    assert attempts.in_window() == 3 and attempts.peak == 3 and attempts.queued == 0
    now[0] += 11.0
    assert attempts.in_window() == 0


async def test_budget_metrics_follow_the_budgets() -> None:
    metrics = Metrics()
    book = BudgetBook({"futures": 2400})
    budget = book.budget("https://fapi.binance.com", "futures")
    await budget.acquire(30)
    attempts = AttemptBudget(270, 300.0)
    (await attempts.acquire()).done()
    metrics.observe_budgets(book, attempts)
    label = '{budget="futures@fapi.binance.com"}'
    assert _value(metrics, f"marginwatch_rest_budget_used_weight{label}") == 30
    assert _value(metrics, f"marginwatch_rest_budget_limit_weight{label}") == 2400
    assert _value(metrics, f"marginwatch_rest_budget_cap_weight{label}") == 1920
    assert _value(metrics, f"marginwatch_rest_budget_queued_requests{label}") == 0
    assert _value(metrics, "marginwatch_resyncs_queued") == 0
    assert _value(metrics, "marginwatch_ws_connect_attempts_window") == 1
    assert _value(metrics, "marginwatch_ws_connect_attempts_limit") == 270
    assert _value(metrics, "marginwatch_ws_connect_attempts_total") == 1
    metrics.observe_budgets(book, attempts)  # counters advance by what is new only
    assert _value(metrics, "marginwatch_ws_connect_attempts_total") == 1
    metrics.observe_budgets(None, None)  # outside a daemon: nothing to say, nothing breaks
    assert _value(metrics, 'marginwatch_rest_rate_limited_total{status="429"}') == 0
    metrics.rest_request("acct", "/fapi/v3/account", 429)
    metrics.rest_request("acct", "/fapi/v3/account", 418)
    metrics.rest_request("acct", "/fapi/v3/account", 200)
    assert _value(metrics, 'marginwatch_rest_rate_limited_total{status="429"}') == 1
    assert _value(metrics, 'marginwatch_rest_rate_limited_total{status="418"}') == 1


def test_stream_links_move_in_constant_time() -> None:
    metrics = Metrics()
    for i in range(900):
        metrics.set_stream_connection(f"acct-{i}", "user", "user-um@host/1")
    metrics.set_stream_connection("acct-1", "user", "user-um@host/2")
    metrics.set_stream_connection("acct-2", "user", None)
    text = metrics.render().decode()
    info = [ln for ln in text.splitlines() if ln.startswith("marginwatch_stream_account_info{")]
    assert len(info) == 899
    assert 'account="acct-1",connection="user-um@host/2"' in "".join(info)
    assert 'account="acct-1",connection="user-um@host/1"' not in "".join(info)
    assert not any('account="acct-2",' in ln for ln in info)


async def test_a_refusal_stops_every_account_on_the_budget_until_retry_after() -> None:
    book = BudgetBook({"futures": 100_000}, window_s=60.0)
    budget = book.budget("fapi.example", "futures")
    assert await budget.acquire(1) < 0.05
    budget.refused(0.3)  # one client was told 429 with Retry-After: 0.3
    started = time.monotonic()
    await asyncio.gather(budget.acquire(1, owner="a"), budget.acquire(1, owner="b"))
    assert time.monotonic() - started >= 0.3  # nobody went before the wait was over
    assert budget.refusals == 1
