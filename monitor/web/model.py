"""What the dashboard shows, kept beside a running `Daemon`: history, alerts, live pushes.

`Dashboard` hooks the daemon's one-second clock and its alert hook: every tick it appends each
account's risk to that account's `RiskRing`, and, while somebody watches, builds one update —
every account's `/status` entry plus its latest alerts, secrets masked — serialized once and
offered to every `Subscriber`. A subscriber holds at most one unread update (a newer one
replaces it and counts as dropped): a slow or stalled client costs one update of memory, never
a growing queue. At most `max_subscribers` watch at once.

The HTTP server finds the running daemon's dashboard through `current()`: the daemon
registers it when it starts and withdraws it (closing every subscriber) when it stops.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from monitor.base.secrets import registered_secrets, secret_forms
from monitor.core.step import TimedAlert
from monitor.engine.model import Mode
from monitor.web.history import DEFAULT_CAPACITY, AlertEntry, AlertLog, RiskRing

if TYPE_CHECKING:
    from monitor.engine.book import Book
    from monitor.service.daemon import Daemon

#: Concurrent live-update clients (each holds one HTTP connection of the server's 64).
MAX_SUBSCRIBERS = 8
#: Risk samples kept for the whole fleet: 100 accounts at one a second for six hours (35 MB);
#: beyond, each account's step is coarser.
FLEET_SAMPLES = 100 * DEFAULT_CAPACITY
#: Alerts of each account included in every live update.
RECENT_ALERTS = 10


class Subscriber:
    """One live client: a one-update mailbox."""

    def __init__(self) -> None:
        self._latest: bytes | None = None
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = 0
        self.delivered = 0

    def offer(self, payload: bytes) -> None:
        if self._latest is not None:
            self.dropped += 1
        self._latest = payload
        self._ready.set()

    def take(self) -> bytes | None:
        """The unread update, if any (and the mailbox emptied)."""
        payload, self._latest = self._latest, None
        self._ready.clear()
        if payload is not None:
            self.delivered += 1
        return payload

    async def wait(self, timeout_s: float) -> bytes | None:
        """The next update; None after `timeout_s` without one or once closed."""
        if self._latest is None and not self.closed:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                return None
        return None if self.closed else self.take()

    def close(self) -> None:
        self.closed = True
        self._ready.set()


class Dashboard:
    """History, alert log and live updates of one daemon's accounts."""

    def __init__(
        self,
        daemon: Daemon,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_subscribers: int = MAX_SUBSCRIBERS,
        secrets: Callable[[], Iterable[str]] = registered_secrets,
    ) -> None:
        self.daemon = daemon
        self.max_subscribers = max_subscribers
        self._secrets = secrets
        # Six hours at one sample a second per account; a big fleet keeps the six hours at a
        # coarser step (each step's highest risk) within FLEET_SAMPLES in all (issue 17).
        step_s = max(1, math.ceil(len(daemon.slots) * capacity / FLEET_SAMPLES))
        self.rings = {
            name: RiskRing(max(1, capacity // step_s), step_ms=1000 * step_s if step_s > 1 else 0)
            for name in daemon.slots
        }
        self.alerts = {name: AlertLog() for name in daemon.slots}
        self.subscribers: set[Subscriber] = set()
        self.updates = 0
        daemon.tick_hooks.append(self.tick)
        daemon.alert_hooks.append(self.on_alert)

    # ------------------------------------------------------------------ accounts
    @property
    def accounts(self) -> list[str]:
        return list(self.daemon.slots)

    def book(self, account: str) -> Book | None:
        slot = self.daemon.slots.get(account)
        return None if slot is None else slot.runtime.core.book

    def levels(self, account: str) -> list[float]:
        config = self.daemon.slots[account].runtime.core.config
        return [config.warning, config.critical, config.emergency]

    def secret_forms(self) -> set[str]:
        values = list(self._secrets()) + self.daemon.secrets()
        return {form for value in values for form in secret_forms(value)}

    def scrubbed(self, document: Any) -> Any:
        from monitor.service.http import scrub_document

        return scrub_document(document, self.secret_forms())

    # ------------------------------------------------------------------ hooks
    def tick(self) -> None:
        """The daemon's clock: sample every account's risk, push an update to subscribers."""
        now = self.daemon.now_ms()
        for name, slot in self.daemon.slots.items():
            book = slot.runtime.core.book
            if book is not None:
                self.rings[name].append(now, book.risk)
        if self.subscribers:
            self.publish(self.update_payload(now))

    def on_alert(self, timed: TimedAlert) -> None:
        intent = timed.intent
        log = self.alerts.get(intent.account)
        if log is None:
            return
        log.add(
            AlertEntry(
                intent.t_ms,
                intent.kind.value,
                None if intent.level is None else intent.level.value,
                intent.risk,
                intent.detail,
            )
        )

    # ------------------------------------------------------------------ live updates
    def update_document(self, now_ms: int | None = None) -> dict[str, Any]:
        """One live update: every account's /status entry plus its latest alerts (scrubbed)."""
        now = self.daemon.now_ms() if now_ms is None else now_ms
        accounts = self.daemon.status(now)
        for doc in accounts:
            log = self.alerts.get(doc["account"])
            doc["alerts"] = [] if log is None else log.entries()[-RECENT_ALERTS:]
            book = self.book(doc["account"])
            doc["collateral"] = [] if book is None else collateral_rows(book)
        document = {"t": now, "accounts": accounts}
        scrubbed: dict[str, Any] = self.scrubbed(document)
        return scrubbed

    def update_payload(self, now_ms: int | None = None) -> bytes:
        text = json.dumps(self.update_document(now_ms), allow_nan=False, ensure_ascii=False)
        return text.encode()

    def publish(self, payload: bytes) -> None:
        self.updates += 1
        for sub in self.subscribers:
            sub.offer(payload)

    def subscribe(self) -> Subscriber | None:
        """A new subscriber, or None when `max_subscribers` already watch."""
        if len(self.subscribers) >= self.max_subscribers:
            return None
        sub = Subscriber()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        sub.close()
        self.subscribers.discard(sub)

    def close(self) -> None:
        for sub in list(self.subscribers):
            self.unsubscribe(sub)

    # ------------------------------------------------------------------ history
    def history(self, account: str, max_points: int = 720) -> dict[str, Any]:
        ring = self.rings[account]
        document: dict[str, Any] = self.scrubbed(
            {
                "account": account,
                "levels": self.levels(account),
                "capacity": ring.capacity,
                "points": ring.points(max_points),
                "alerts": self.alerts[account].entries(),
            }
        )
        return document


def collateral_rows(book: Book) -> list[dict[str, Any]]:
    """Multi-Assets and Portfolio Margin: each asset's balance, USD price, collateral rate and
    haircut (1 - rate) as valued now, and its USD value (empty in the single-asset modes)."""
    mode = book.mode
    if mode not in (Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN):
        return []
    pm = mode is Mode.PORTFOLIO_MARGIN
    out = []
    for fig in book.snapshot().assets:
        rec = book.state.assets.get(fig.asset)
        if rec is None:
            continue
        price = rec.index_price if pm else rec.bid_rate
        rate: float | None = None
        gross = fig.equity * price
        if pm:
            rate = fig.equity_value / gross if gross > 0 else rec.collateral.rates[0]
        out.append(
            {
                "asset": fig.asset,
                "balance": fig.equity,
                "price": price,
                "rate": rate,
                "haircut": None if rate is None else 1.0 - rate,
                "value": fig.equity_value,
                "price_source": "asset index" if pm else "bid rate",
            }
        )
    return out
