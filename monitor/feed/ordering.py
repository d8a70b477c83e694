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

The stamps outlive a resync, and a resync raises them to the `updateTime` the REST rows carry
(`rest_stamps`): a snapshot is at least as new as the last change of each row, so an update
older than that is older than the snapshot too, even for an item no update has touched yet.

Pure: no clock, no IO. The ingest stage (`core/ingest.py`) calls `fresh` before applying a user
frame and `floor` after a resync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from monitor.engine.events import (
    AccountStatus,
    EngineEvent,
    FuturesWallet,
    MarginBalance,
    MarginLiability,
    PositionUpdate,
)

ItemKey = tuple[str, ...]

#: Account bodies whose `assets` rows (and `positions`, where present) carry `updateTime`,
#: with the product of their wallets.
_ACCOUNT_WALLETS = {
    "/fapi/v2/account": "UM",
    "/fapi/v3/account": "UM",
    "/dapi/v1/account": "CM",
    "/papi/v1/um/account": "UM",
    "/papi/v1/cm/account": "CM",
}
PM_BALANCE = "/papi/v1/balance"
#: An `updateTime` beyond this is not a millisecond timestamp (ignored).
_TIME_MAX = 10**15


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


_Note = Callable[[ItemKey, Mapping[str, object]], None]


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

    def floor(self, stamps: Mapping[ItemKey, int]) -> None:
        """Raise the stamps to at least `stamps` (a resync's `rest_stamps`)."""
        mine = self._stamps
        for key, t in stamps.items():
            if t > mine.get(key, 0):
                mine[key] = t

    def stamp(self, key: ItemKey) -> int | None:
        """The event time that last set `key` (None: no update seen)."""
        return self._stamps.get(key)


def rest_stamps(rest: Mapping[str, object]) -> dict[ItemKey, int]:
    """Per item, the `updateTime` of the REST row that describes it (rows without one, or with
    0, give nothing). `rest`: REST path → raw body, as `Replay` keeps them."""
    out: dict[ItemKey, int] = {}

    def note(key: ItemKey, row: Mapping[str, object]) -> None:
        t = _millis(row.get("updateTime"))
        if t and t > out.get(key, 0):
            out[key] = t

    for path, body in rest.items():
        if path.endswith("/positionRisk"):
            for row in _rows(body):
                _position(row, note)
        elif path in _ACCOUNT_WALLETS and isinstance(body, Mapping):
            product = _ACCOUNT_WALLETS[path]
            for row in _rows(body.get("assets")):
                if isinstance(row.get("asset"), str):
                    note(("wallet", product, str(row["asset"])), row)
            for row in _rows(body.get("positions")):
                _position(row, note)
        elif path == PM_BALANCE:
            for row in _rows(body):
                asset = row.get("asset")
                if isinstance(asset, str):
                    for key in (("wallet", "UM", asset), ("wallet", "CM", asset),
                                ("margin", asset), ("liability", asset)):
                        note(key, row)
    return out


def _rows(body: object) -> Iterator[Mapping[str, object]]:
    if isinstance(body, Mapping):
        body = [body]
    if isinstance(body, list):
        for row in body:
            if isinstance(row, Mapping):
                yield row


def _position(row: Mapping[str, object], note: _Note) -> None:
    symbol, side = row.get("symbol"), row.get("positionSide", "BOTH")
    if isinstance(symbol, str) and isinstance(side, str):
        note(("position", symbol, side), row)


def _millis(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, int) and 0 < value < _TIME_MAX:
        return value
    return None
