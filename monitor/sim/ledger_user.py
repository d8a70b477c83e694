"""The user-stream side of the fake exchange's ledger (`Ledger` inherits it): what each user
event does to the REST bodies.

`ACCOUNT_UPDATE` (wallets and position legs, rows added and dropped), `ACCOUNT_CONFIG_UPDATE`
(leverage), the Portfolio Margin margin events (`outboundAccountPosition`, `balanceUpdate`,
`liabilityChange` → `/papi/v1/balance`), `openOrderLoss` and `riskLevelChange`
(`/papi/v1/account`); an item older, by `E`, than the one that set it last is skipped. A mixin:
the bodies, the symbol index and the mark prices are the ledger's (`ledger.py`; the class
declares what it reads of them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from decimal import Decimal
from typing import Any

from monitor.sim import ledger_balances as bal
from monitor.sim.ledger_rows import (
    POSITION_SPECS,
    Leg,
    Mark,
    PositionSpec,
    dec,
    fmt_dec,
    new_position_row,
    num,
    render,
)
from monitor.sim.ledger_totals import COINM, PORTFOLIO_MARGIN


class BadEvent(ValueError):
    """A user event whose fields do not make sense (counted, skipped)."""


def time_of(event: dict[str, Any]) -> int | None:
    for key in ("T", "E"):
        value = event.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class LedgerUserEvents(ABC):
    """The user-event handlers of `Ledger` (see the module docstring); the abstract methods
    are the ledger's own, which `Ledger` (ledger.py) implements."""

    # The ledger's state these handlers read and change (set by `Ledger.__init__`).
    counters: Counter[str]
    _legs: dict[str, dict[tuple[str, str], Leg]]
    _marks: dict[str, Mark]
    _sizes: dict[str, float]
    _margin_assets: dict[str, str]
    _pos_rows: dict[str, dict[tuple[str, str], dict[str, Any]]]
    _stamps: dict[tuple[str, ...], int]

    @property
    @abstractmethod
    def mode(self) -> str: ...

    @abstractmethod
    def _body(self, path: str) -> Any: ...

    @abstractmethod
    def _changed(self, rows: bool = False) -> None: ...

    @abstractmethod
    def _ensure_index(
        self,
    ) -> dict[str, list[tuple[PositionSpec | None, dict[str, Any], str]]]: ...

    def _product(self, event: dict[str, Any]) -> str:
        fs = event.get("fs")
        if self.mode == PORTFOLIO_MARGIN:
            return fs if fs in ("UM", "CM") else "UM"
        return "CM" if self.mode == COINM else "UM"

    def _account_update(self, event: dict[str, Any]) -> None:
        update = event.get("a")
        if not isinstance(update, dict):
            raise BadEvent("ACCOUNT_UPDATE without an 'a' object")
        product = self._product(event)
        t = time_of(event)
        for item in update.get("B") or []:
            asset, wb, cw = item.get("a"), item.get("wb"), item.get("cw")
            if not isinstance(asset, str) or num(wb) is None:
                raise BadEvent(f"balance entry {item!r} is malformed")
            if self._older(event, ("wallet", product, asset)):
                continue
            if self.mode == PORTFOLIO_MARGIN:
                row = bal.pm_row(self._body, asset, t)
                if row is not None:
                    bal.set_pm_wallet(row, product, str(wb))
            else:
                if num(cw) is None:
                    raise BadEvent(f"balance entry {item!r} has no cross wallet")
                bal.set_futures_wallet(self._body, product, asset, str(wb), str(cw), t)
        for item in update.get("P") or []:
            key = ("position", product, str(item.get("s")), str(item.get("ps") or "BOTH"))
            if not self._older(event, key):
                self._position(product, item, t)

    def _older(self, event: dict[str, Any], key: tuple[str, ...]) -> bool:
        """True (and counted) when an item update is older, by `E`, than the one that set the
        item last; otherwise the item is stamped with this event's `E`."""
        e = event.get("E")
        if not isinstance(e, int) or isinstance(e, bool):
            return False
        last = self._stamps.get(key)
        if last is not None and last > e:
            self.counters["stale_user_items"] += 1
            return True
        self._stamps[key] = e
        return False

    def _position(self, product: str, item: dict[str, Any], t: int | None) -> None:
        symbol, side = item.get("s"), item.get("ps") or "BOTH"
        if not isinstance(symbol, str) or not isinstance(side, str):
            raise BadEvent(f"position entry {item!r} is malformed")
        portfolio = self.mode == PORTFOLIO_MARGIN
        isolated = not portfolio and str(item.get("mt", "cross")).lower() == "isolated"
        wallet = dec(item.get("iw", "0")) if isolated else None
        leg = Leg.make(
            side,
            item.get("pa"),
            item.get("ep"),
            item.get("bep"),
            isolated,
            wallet if wallet is not None else Decimal(0),
        )
        if leg is None or (isolated and wallet is None):
            raise BadEvent(f"position entry {item!r} is malformed")
        key = (symbol, side)
        if leg.qty:
            self._legs[product][key] = leg
        else:
            self._legs[product].pop(key, None)
        self._ensure_index()
        mark = self._marks.get(symbol)
        size = self._sizes.get(symbol)
        leverage = self._leverage_of(product, symbol)
        for spec in POSITION_SPECS:
            if spec.product != product:
                continue
            rows = spec.rows(self._body(spec.path))
            if rows is None:
                continue
            by_key = self._pos_rows.setdefault(spec.path, {})
            row = by_key.get(key)
            if row is None:
                if not leg.qty:
                    continue
                row = new_position_row(spec, rows, symbol, side, leverage)
                asset = self._margin_assets.get(symbol)
                if asset is not None and "marginAsset" in row:
                    row["marginAsset"] = asset
                rows.append(row)
                self._changed(rows=True)
            elif not leg.qty and spec.drop_flat:
                rows.remove(row)
                self._changed(rows=True)
                continue
            render(row, spec, leg, mark, size, t)
        self._ensure_index()

    def _leverage_of(self, product: str, symbol: str) -> str | None:
        for spec in POSITION_SPECS:
            if spec.product != product or not spec.leverage:
                continue
            for row in spec.rows(self._body(spec.path)) or []:
                if isinstance(row, dict) and row.get("symbol") == symbol and "leverage" in row:
                    return str(row["leverage"])
        return None

    def _config_update(self, event: dict[str, Any]) -> None:
        config = event.get("ac")
        if not isinstance(config, dict):
            return  # the Multi-Assets toggle (`ai`) changes no body here
        symbol, leverage = config.get("s"), config.get("l")
        if not isinstance(symbol, str) or num(leverage) is None:
            raise BadEvent(f"leverage change {config!r} is malformed")
        product = self._product(event)
        for spec, row, _side in self._ensure_index().get(symbol, []):
            if spec is not None and spec.product == product and "leverage" in row:
                row["leverage"] = str(leverage)

    def _pm_row(self, event: dict[str, Any], asset: object) -> dict[str, Any] | None:
        if not isinstance(asset, str):
            raise BadEvent(f"event without an asset: {event!r}")
        return bal.pm_row(self._body, asset, time_of(event))

    def _outbound_position(self, event: dict[str, Any]) -> None:
        for item in event.get("B") or []:
            row = self._pm_row(event, item.get("a"))
            if row is not None and not self._older(event, ("margin", str(item.get("a")))):
                bal.set_margin_balance(row, str(item.get("f")), str(item.get("l")))

    def _balance_update(self, event: dict[str, Any]) -> None:
        row = self._pm_row(event, event.get("a"))
        if row is not None:
            bal.add_margin_free(row, str(event.get("d")))

    def _liability_change(self, event: dict[str, Any]) -> None:
        row = self._pm_row(event, event.get("a"))
        if row is not None and not self._older(event, ("liability", str(event.get("a")))):
            bal.set_liability(row, str(event.get("t")), str(event.get("i")), str(event.get("l")))

    def _pm_account(self) -> dict[str, Any] | None:
        body = self._body(bal.PM_ACCOUNT)
        return body if isinstance(body, dict) else None

    def _open_order_loss(self, event: dict[str, Any]) -> None:
        items = event.get("O")
        if not isinstance(items, list):
            raise BadEvent("openOrderLoss without an 'O' list")
        total = bal.open_loss_usd(items, self._body)
        account = self._pm_account()
        if total is None:
            self.counters["open_loss_unpriced"] += 1
        elif account is not None:
            account["totalMarginOpenLoss"] = fmt_dec(total)

    def _risk_level_change(self, event: dict[str, Any]) -> None:
        status = event.get("s")
        if not isinstance(status, str) or not status:
            raise BadEvent("riskLevelChange without a status")
        account = self._pm_account()
        if account is not None:
            account["accountStatus"] = status
