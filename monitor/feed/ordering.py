"""Order user-stream updates by the exchange's event time `E`, per item.

Binance does not promise in-order user-data payloads under load ("Strongly recommend you order
your updates using E", USDⓈ-M and COIN-M user-data pages; Portfolio Margin orders events of one
type by `T` and `E` and says to order across types by `E`; wire.md §3.2). The events are
*absolute values of the items they name* — an asset's futures wallet, a position leg, a PM
margin balance or loan, the account status — so a late frame would roll those items back to an
older value: a position that was reduced would grow again, a wallet would lose a funding fee.

`EventOrder` remembers, per item, the `E` of the update that last set it. An item update older
than that is dropped; the frame's other items still apply (a late `ACCOUNT_UPDATE` may be the
only news about an asset the newer frame did not touch). Equal `E` applies: a repeated frame
writes the same values again, and two services may stamp one instant.

The stamps outlive a resync. A REST snapshot is newer than every update applied before it, so
an update older than a stamp is older than the snapshot too. (An update older than the snapshot
but newer than every stamp cannot be told apart without the snapshot's own exchange time; the
next update of that item, or the next resync, corrects it.)

Pure: no clock, no IO. The feed (`Replay`) calls `fresh` before applying a user frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.engine.events import (
    AccountStatus,
    EngineEvent,
    FuturesWallet,
    MarginBalance,
    MarginLiability,
    PositionUpdate,
)

ItemKey = tuple[str, ...]


def item_key(event: EngineEvent) -> ItemKey | None:
    """The item a user-stream event sets; None for events that are not per-item values."""
    if isinstance(event, PositionUpdate):
        return ("position", event.symbol, event.side)
    if isinstance(event, FuturesWallet):
        return ("wallet", event.product, event.asset)
    if isinstance(event, MarginBalance):
        return ("margin", event.asset)
    if isinstance(event, MarginLiability):
        return ("liability", event.asset)
    if isinstance(event, AccountStatus):
        return ("status",)
    return None


class EventOrder:
    """Per-item event-time stamps; `fresh` keeps the updates that are not older."""

    __slots__ = ("_stamps", "dropped")

    def __init__(self) -> None:
        self._stamps: dict[ItemKey, int] = {}
        #: Item updates dropped as older than the state they would overwrite.
        self.dropped = 0

    def fresh(
        self, events: Sequence[EngineEvent], event_time: int | None
    ) -> tuple[list[EngineEvent], int]:
        """The events of one frame stamped `event_time` that may apply, and how many were
        dropped. Call `commit` once they are applied (a rejected frame stamps nothing).
        A frame without an event time is applied as it is."""
        if event_time is None:
            return list(events), 0
        stamps = self._stamps
        kept: list[EngineEvent] = []
        for event in events:
            key = item_key(event)
            if key is not None and stamps.get(key, event_time) > event_time:
                continue
            kept.append(event)
        return kept, len(events) - len(kept)

    def commit(self, events: Sequence[EngineEvent], event_time: int | None, dropped: int) -> None:
        """Record that `events` (as `fresh` returned them) were applied at `event_time`."""
        self.dropped += dropped
        if event_time is None:
            return
        stamps = self._stamps
        for event in events:
            key = item_key(event)
            if key is not None:
                stamps[key] = event_time

    def stamp(self, key: ItemKey) -> int | None:
        """The event time that last set `key` (None: no update seen)."""
        return self._stamps.get(key)
