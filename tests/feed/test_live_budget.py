"""A resync queued behind the shared REST weight budget is reported as such (issue 18 item 3).

`LiveFeed` runs its resync through the account's REST client, which reserves weight from the
`BudgetBook` every account on the egress shares (`binance/budget.py`) as the request's owner.
While one of its requests waits there, the feed tells its sink once, typed:
`HealthKind.RESYNC_QUEUED` with the resync's `ResyncReason` and "waiting for REST budget" (the
account is blind with that reason until the resync lands).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from monitor.binance.budget import BudgetBook
from monitor.binance.decode.user_events import ServiceSignal
from monitor.core.health import WAITING_FOR_BUDGET, FeedHealth, HealthKind, ResyncReason
from monitor.engine.model import Mode
from monitor.feed.live import BUDGET_CHECK_S, Holdings, LiveFeed
from monitor.feed.recording import RestLine, WsLine


class Sink:
    """Records what the feed reports."""

    def __init__(self) -> None:
        self.health_events: list[FeedHealth] = []
        self.groups: list[tuple[str, ResyncReason | None]] = []

    def rest_group(
        self, lines: Sequence[RestLine], reason: str, resync: ResyncReason | None = None
    ) -> None:
        self.groups.append((reason, resync))

    def frame(self, line: WsLine) -> Sequence[ServiceSignal]:
        return ()

    def holdings(self) -> Holdings | None:
        return None

    def health(self, event: FeedHealth) -> None:
        self.health_events.append(event)

    def reconcile(self, result: Any) -> bool:
        return False

    def key_permissions(self, enabled: tuple[str, ...]) -> None:
        pass


class Rest:
    """A REST client's budget behaviour: each snapshot reserves weight as its owner."""

    def __init__(self, budgets: BudgetBook) -> None:
        self.budgets = budgets

    async def snapshot(self, paths: Sequence[str]) -> list[Any]:
        await self.budgets.budget("fapi", "futures").acquire(5, 0.0, owner=self)
        return []


def _feed(budgets: BudgetBook) -> tuple[LiveFeed, Sink]:
    sink = Sink()
    endpoints = SimpleNamespace(rest_um="http://fapi")  # all the feed reads of them here
    feed = LiveFeed("acct", endpoints, Rest(budgets), sink, mode=Mode.USDM)  # type: ignore[arg-type]
    return feed, sink


async def _until(check: Any, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_queued_resync_is_reported_with_its_reason() -> None:
    t = [0.0]
    budgets = BudgetBook({"futures": 10}, headroom=1.0, window_s=3600.0, clock=lambda: t[0])
    await budgets.budget("fapi", "futures").acquire(10)  # the window is used up
    feed, sink = _feed(budgets)
    feed.request_resync("drift from the exchange's figures", ResyncReason.DRIFT)
    task = asyncio.create_task(feed._resync_loop())
    try:
        await _until(lambda: sink.health_events)
        [event] = sink.health_events
        assert (event.kind, event.stream, event.detail, event.reason) == (
            HealthKind.RESYNC_QUEUED, "rest", WAITING_FOR_BUDGET, ResyncReason.DRIFT
        )
        assert not sink.groups  # still waiting: nothing applied
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_resync_with_room_is_not_reported_as_queued() -> None:
    budgets = BudgetBook({"futures": 100}, headroom=1.0)
    feed, sink = _feed(budgets)
    feed.request_resync("user stream reconnected", ResyncReason.GAP)
    task = asyncio.create_task(feed._resync_loop())
    try:
        await _until(lambda: sink.health_events)
        await asyncio.sleep(3 * BUDGET_CHECK_S)
        assert [(e.kind, e.reason) for e in sink.health_events] == [
            (HealthKind.RESYNC, ResyncReason.GAP)
        ]
        assert sink.groups == [("user stream reconnected", ResyncReason.GAP)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
