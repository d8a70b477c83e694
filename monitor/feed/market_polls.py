"""Market data that only REST has, polled once per venue and shared by every account on it.

Portfolio Margin collateral is valued at `/sapi/v1/portfolio/asset-index-price`. Polled by each
account on its own, 50 PM accounts on one IP made 50× the requests and the per-account weight
limiter delayed some polls by up to 50 s, while every account reported itself live. Here one
poller per venue (`Endpoints`) asks for the union of the assets its subscribers value, every
`interval_s`, and hands every subscriber the answers about its assets, so the cost does not grow
with the number of accounts and no account's prices wait behind another account's traffic.

The poller has a REST client of its own (`RestClient.sibling()` of the first subscriber's), so
its calls never queue behind an account's snapshot or its retries; with the per-client weight
limiter that is the priority market data gets over per-account refreshes. A failed call is
reported to every subscriber that wanted the asset (a `rest_error` of the feed); the accounts'
freshness limits (`index:ASSET`, `core/ingest.py`) turn a poller that stays silent into a blind
account naming the asset.

Fewer than `ALL_ASSETS_WEIGHT` assets are asked for one by one (weight 1 each); more in one
all-asset call (weight 50).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.binance.endpoints import Endpoints
from monitor.binance.rest import RestClient
from monitor.binance.rest_errors import RestError
from monitor.feed.recording import RestLine
from monitor.feed.rest_lines import to_rest_line

log = logging.getLogger(__name__)

ASSET_INDEX_PRICE = "/sapi/v1/portfolio/asset-index-price"
#: The all-asset call's weight: asking for this many assets one by one costs as much.
ALL_ASSETS_WEIGHT = 50


@dataclass(eq=False, slots=True)
class PollLease:
    """One account's share of its venue's poller."""

    owner: str
    wanted: Callable[[], frozenset[str]]
    deliver: Callable[[list[RestLine]], None]
    on_error: Callable[[str], None]
    poller: VenuePoller

    async def leave(self) -> None:
        await self.poller.remove(self)


@dataclass(eq=False, slots=True)
class VenuePoller:
    """The asset-index poller of one venue."""

    endpoints: Endpoints
    interval_s: float
    client: RestClient
    leases: list[PollLease] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    polls: int = 0
    requests: int = 0
    failures: int = 0
    on_empty: Callable[[VenuePoller], None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"asset-index poller {self.endpoints}")

    async def remove(self, lease: PollLease) -> None:
        if lease in self.leases:
            self.leases.remove(lease)
        if not self.leases:
            if self.on_empty is not None:
                self.on_empty(self)
            await self.close()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await self.client.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one subscriber's delivery must not stop the others
                log.exception("asset-index poller: a poll failed unexpectedly")

    async def poll_once(self) -> None:
        """Ask for the union of the wanted assets and deliver each subscriber its answers."""
        wanted = {lease: lease.wanted() for lease in list(self.leases)}
        union = sorted(set().union(*wanted.values())) if wanted else []
        if not union:
            return
        self.polls += 1
        if len(union) < ALL_ASSETS_WEIGHT:
            calls: list[dict[str, str | int]] = [{"asset": asset} for asset in union]
        else:
            calls = [{}]
        lines: list[RestLine] = []
        for params in calls:
            self.requests += 1
            try:
                result = await self.client.get(ASSET_INDEX_PRICE, params)
            except (RestError, OSError, TimeoutError) as exc:
                self.failures += 1
                detail = f"{ASSET_INDEX_PRICE}: {exc}"
                asset = params.get("asset")
                for lease, assets in wanted.items():
                    if asset is None or asset in assets:
                        lease.on_error(detail)
                continue
            lines.append(to_rest_line(result))
        for lease, assets in wanted.items():
            mine = [
                line for line in lines if line.params.get("asset", None) in (None, *assets)
            ]
            if mine and lease in self.leases:
                lease.deliver(mine)


class MarketPolls:
    """The daemon's venue pollers (one per `Endpoints`), shared like the market streams."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._pollers: dict[Endpoints, VenuePoller] = {}

    def join(
        self,
        owner: str,
        endpoints: Endpoints,
        client: Callable[[], RestClient],
        wanted: Callable[[], frozenset[str]],
        deliver: Callable[[list[RestLine]], None],
        on_error: Callable[[str], None],
    ) -> PollLease:
        """Subscribe `owner` to its venue's asset-index poller (started on first use with a
        client from `client()`). Call from the event loop."""
        poller = self._pollers.get(endpoints)
        if poller is None:
            poller = VenuePoller(endpoints, self.interval_s, client(), on_empty=self._forget)
            self._pollers[endpoints] = poller
            poller.start()
        lease = PollLease(owner, wanted, deliver, on_error, poller)
        poller.leases.append(lease)
        return lease

    def pollers(self) -> list[VenuePoller]:
        return list(self._pollers.values())

    def _forget(self, poller: VenuePoller) -> None:
        if self._pollers.get(poller.endpoints) is poller:
            del self._pollers[poller.endpoints]
