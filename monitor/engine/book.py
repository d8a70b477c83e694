"""The incremental margin book: one account's state plus running sums, updated per event.

A mark-price tick costs O(legs on that symbol): each leg's uPnL and MM are recomputed (bracket
re-picked by notional), their deltas go into the running sums of the leg's settle asset, that
asset is revalued (wallet + uPnL; bid/ask rate in Multi-Assets; collateral rate and index price
in Portfolio Margin) and its change goes into its pool's sums. Sums are Neumaier-compensated so
that long event sequences stay within 1e-9 of the exact reference (`reference.py`); `resum()`
rebuilds them from scratch (after a resync, and every 10 minutes: `service/account.py`).

Pools: one per cross margin asset (USDⓈ-M single-asset, COIN-M), one per isolated leg, or a
single USD pool (Multi-Assets, Portfolio Margin). `risk` is the worst pool's risk.

Why this module stays whole (above ~500 lines, issue 18): it is the per-tick hot path, and the
running sums are one invariant (every delta a handler adds is what `resum()` would rebuild) that
each event handler must keep. Splitting `Book` would put its handlers behind extra calls or
attribute hops on every tick, and scatter the invariant across files, where no one review could
check that every path updates the sums the same way.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from monitor.engine import events as ev
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import (
    AccountState,
    Asset,
    ContractKind,
    EngineError,
    Mode,
    Position,
)
from monitor.engine.risk import (
    AssetFigures,
    LegFigures,
    PoolFigures,
    RiskSnapshot,
    pool_risk,
)

_PLAIN, _MULTI_ASSETS, _PORTFOLIO = 0, 1, 2


class _Pool:
    """Running equity and MM of one margin pool, in its unit."""

    __slots__ = ("eq", "eq_c", "isolated", "key", "mm", "mm_c", "risk", "threshold", "unit")

    def __init__(self, key: str, unit: str, threshold: float, isolated: bool) -> None:
        self.key, self.unit, self.threshold, self.isolated = key, unit, threshold, isolated
        self.eq = self.eq_c = self.mm = self.mm_c = 0.0
        self.risk = 0.0


class _Acc:
    """Running sums of the legs settling in one asset of one pool, and the asset's valuation."""

    __slots__ = (
        "ask",
        "base",
        "bid",
        "kind",
        "legs",
        "loan_mm",
        "mm",
        "mm_c",
        "mm_value",
        "name",
        "pool",
        "price",
        "tiers",
        "upnl",
        "upnl_c",
        "value",
    )

    def __init__(self, name: str, pool: _Pool, kind: int) -> None:
        self.name, self.pool, self.kind = name, pool, kind
        self.upnl = self.upnl_c = self.mm = self.mm_c = 0.0
        self.value = self.mm_value = 0.0
        self.base = self.loan_mm = 0.0
        self.bid = self.ask = self.price = 1.0
        self.tiers: CollateralTiers | None = None
        self.legs = 0


class _Leg:
    """One position leg with its current uPnL, MM and the bracket table it looks up."""

    __slots__ = (
        "acc",
        "cs",
        "cums",
        "entry",
        "floors",
        "inv_entry",
        "linear",
        "mm",
        "mmrs",
        "notional",
        "pos",
        "qty",
        "size",
        "upnl",
    )

    def __init__(self, pos: Position, acc: _Acc, linear: bool, cs: float, brackets: Any) -> None:
        self.pos, self.acc, self.linear, self.cs = pos, acc, linear, cs
        self.qty, self.size, self.entry = pos.qty, abs(pos.qty), pos.entry_price
        self.inv_entry = 1.0 / pos.entry_price if pos.entry_price else 0.0
        self.floors, self.mmrs, self.cums = brackets.floors, brackets.mmrs, brackets.cums
        self.upnl = self.mm = self.notional = 0.0


def split_liability(interest_before: float, e: ev.MarginLiability) -> tuple[float, float]:
    """(principal, interest) outstanding after a liability change: the total is Binance's `l`;
    a repayment pays interest first, an interest accrual adds to it, a borrow leaves it."""
    kind = e.kind.upper()
    if kind == "REPAY":
        interest = interest_before - e.interest
    elif kind == "INTEREST":
        interest = interest_before + e.interest
    else:
        interest = interest_before
    total = e.total
    interest = min(max(interest, 0.0), max(total, 0.0))
    return total - interest, interest


def _kadd(total: float, comp: float, x: float) -> tuple[float, float]:
    """Neumaier-compensated total += x; returns (total, compensation)."""
    t = total + x
    if abs(total) >= abs(x):
        comp += (total - t) + x
    else:
        comp += (x - t) + total
    return t, comp


class Book:
    """The account's live margin figures, maintained incrementally from engine events."""

    def __init__(self, state: AccountState) -> None:
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.MarkPrice: self._on_mark_event,
            ev.AssetRates: self._on_asset_rates,
            ev.AssetIndexPrice: self._on_index_price,
            ev.FuturesWallet: self._on_futures_wallet,
            ev.MarginBalance: self._on_margin_balance,
            ev.MarginLiability: self._on_liability,
            ev.PositionUpdate: self._on_position,
            ev.OpenLoss: self._on_open_loss,
            ev.BracketUpdate: self._on_brackets,
            ev.CollateralUpdate: self._on_collateral,
            ev.AccountStatus: self._on_status,
            ev.Resync: self._on_resync,
        }
        self._load(state)

    # ------------------------------------------------------------------ construction
    def _load(self, state: AccountState) -> None:
        state.validate()
        self.risk = 0.0
        self.state = state
        self.mode = state.mode
        self._marks = state.marks
        self._kind = {
            Mode.USDM: _PLAIN,
            Mode.COINM: _PLAIN,
            Mode.USDM_MULTI_ASSETS: _MULTI_ASSETS,
            Mode.PORTFOLIO_MARGIN: _PORTFOLIO,
        }[state.mode]
        self._pools: dict[str, _Pool] = {}
        self._accs: dict[str, _Acc] = {}
        self._legs: dict[str, list[_Leg]] = {}
        self._leg_by_key: dict[tuple[str, str], _Leg] = {}
        self._usd_pool: _Pool | None = None
        if self._kind != _PLAIN:
            threshold = 1.05 if self._kind == _PORTFOLIO else 1.0
            self._usd_pool = self._pools["USD"] = _Pool("USD", "USD", threshold, False)
        for name in list(state.assets):
            self._acc(name)
        for pos in list(state.positions.values()):
            if pos.qty != 0.0:
                self._add_leg(pos)
        self.resum()

    def _acc(self, name: str) -> _Acc:
        """The running-sum record of a cross asset, created (with its pool) on first use."""
        acc = self._accs.get(name)
        if acc is not None:
            return acc
        pool = self._usd_pool
        if pool is None:
            pool = self._pools[name] = _Pool(name, name, 1.0, False)
        acc = self._accs[name] = _Acc(name, pool, self._kind)
        self._load_asset(acc, self.state.asset(name))
        return acc

    def _load_asset(self, acc: _Acc, rec: Asset) -> None:
        if acc.kind == _PORTFOLIO:
            acc.base = rec.pm_base
            acc.price = rec.index_price
            acc.tiers = rec.collateral
            acc.loan_mm = rec.loan * self.state.margin_loan_mmr()
        else:
            acc.base = rec.cross_wallet
            acc.bid, acc.ask = rec.bid_rate, rec.ask_rate

    def _add_leg(self, pos: Position) -> None:
        """Add a leg `AccountState.admit` accepted (so its contract data is there)."""
        contract = self.state.contracts[pos.symbol]
        linear = contract.kind is ContractKind.LINEAR
        if pos.isolated:
            key = f"{pos.symbol}:{pos.side}"
            pool = self._pools[key] = _Pool(key, contract.settle_asset, 1.0, True)
            acc = _Acc(key, pool, _PLAIN)
            acc.base = pos.isolated_wallet
        else:
            acc = self._acc(contract.settle_asset)
        leg = _Leg(pos, acc, linear, contract.contract_size, contract.brackets)
        acc.legs += 1
        self._legs.setdefault(pos.symbol, []).append(leg)
        self._leg_by_key[pos.key] = leg
        if pos.symbol not in self._marks:
            self._marks[pos.symbol] = pos.entry_price  # provisional until the first mark
        self._price_leg(leg, self._marks[pos.symbol])

    def _remove_leg(self, key: tuple[str, str]) -> None:
        leg = self._leg_by_key.pop(key, None)
        if leg is None:
            return
        legs = self._legs[leg.pos.symbol]
        legs.remove(leg)
        if not legs:
            del self._legs[leg.pos.symbol]
        acc = leg.acc
        acc.legs -= 1
        if acc.pool.isolated:
            self._pools.pop(acc.pool.key, None)
            return
        if acc.legs == 0:
            # The last leg is gone: its sums are exactly zero, not the rounding residue the
            # running sums kept (on an empty wallet, a -1e-20 residue read as equity < 0 and
            # the pool's risk jumped to the cap; found by the property test against the
            # Decimal reference, COIN-M, a leg moved from cross to isolated).
            acc.upnl = acc.upnl_c = acc.mm = acc.mm_c = 0.0
        else:
            acc.upnl, acc.upnl_c = _kadd(acc.upnl, acc.upnl_c, -leg.upnl)
            acc.mm, acc.mm_c = _kadd(acc.mm, acc.mm_c, -leg.mm)
        self._revalue(acc)

    def _price_leg(self, leg: _Leg, price: float) -> None:
        """Set a new leg's uPnL/MM at `price` and add them to its asset (used off the hot path)."""
        self._reprice(leg, price)
        acc = leg.acc
        acc.upnl, acc.upnl_c = _kadd(acc.upnl, acc.upnl_c, leg.upnl)
        acc.mm, acc.mm_c = _kadd(acc.mm, acc.mm_c, leg.mm)
        self._revalue(acc)

    @staticmethod
    def _reprice(leg: _Leg, price: float) -> None:
        if leg.linear:
            leg.upnl = leg.qty * (price - leg.entry)
            notional = leg.size * price
        else:
            leg.upnl = leg.qty * leg.cs * (leg.inv_entry - 1.0 / price)
            notional = leg.size * leg.cs / price
        k = bisect_right(leg.floors, notional) - 1
        if k < 0:
            k = 0
        leg.notional = notional
        leg.mm = notional * leg.mmrs[k] - leg.cums[k]

    # ------------------------------------------------------------------ the hot path
    def on_mark(self, symbol: str, price: float) -> float:
        """Apply one mark price; returns the account risk. O(legs on `symbol`)."""
        self._marks[symbol] = price
        legs = self._legs.get(symbol)
        if legs is None:
            return self.risk
        for leg in legs:
            if leg.linear:
                upnl = leg.qty * (price - leg.entry)
                notional = leg.size * price
            else:
                upnl = leg.qty * leg.cs * (leg.inv_entry - 1.0 / price)
                notional = leg.size * leg.cs / price
            k = bisect_right(leg.floors, notional) - 1
            mm = notional * leg.mmrs[k if k > 0 else 0] - leg.cums[k if k > 0 else 0]
            acc = leg.acc
            # Neumaier-compensated acc.upnl += upnl - leg.upnl (inlined: this is the hot path)
            x = upnl - leg.upnl
            s = acc.upnl
            t = s + x
            if abs(s) >= abs(x):
                acc.upnl_c += (s - t) + x
            else:
                acc.upnl_c += (x - t) + s
            acc.upnl = t
            x = mm - leg.mm
            s = acc.mm
            t = s + x
            if abs(s) >= abs(x):
                acc.mm_c += (s - t) + x
            else:
                acc.mm_c += (x - t) + s
            acc.mm = t
            leg.upnl, leg.mm, leg.notional = upnl, mm, notional
            if len(legs) == 1:
                return self._revalue(acc)
        for acc in {leg.acc for leg in legs}:
            self._revalue(acc)
        return self.risk

    def _revalue(self, acc: _Acc) -> float:
        """Recompute one asset's value and MM in its pool's unit; update pool and account risk."""
        kind = acc.kind
        upnl = acc.upnl + acc.upnl_c
        if kind == _PLAIN:
            pool = acc.pool
            pool.eq = acc.base + upnl
            pool.mm = acc.mm + acc.mm_c
            eq, mm = pool.eq, pool.mm
        else:
            if kind == _MULTI_ASSETS:
                x = acc.base + upnl
                value = min(x * acc.bid, x * acc.ask)
                mm_value = (acc.mm + acc.mm_c) * acc.ask
            else:
                usd = (acc.base + upnl) * acc.price
                tiers = acc.tiers
                assert tiers is not None
                value = tiers.value(usd)
                mm_value = (acc.mm + acc.mm_c + acc.loan_mm) * acc.price
            pool = acc.pool
            x = value - acc.value
            s = pool.eq
            t = s + x
            if abs(s) >= abs(x):
                pool.eq_c += (s - t) + x
            else:
                pool.eq_c += (x - t) + s
            pool.eq = t
            x = mm_value - acc.mm_value
            s = pool.mm
            t = s + x
            if abs(s) >= abs(x):
                pool.mm_c += (s - t) + x
            else:
                pool.mm_c += (x - t) + s
            pool.mm = t
            acc.value, acc.mm_value = value, mm_value
            eq, mm = pool.eq + pool.eq_c, pool.mm + pool.mm_c
        old = pool.risk
        if eq > 0.0:
            r = pool.threshold * mm / eq
            new = r if r < 10.0 else 10.0
        else:
            new = pool_risk(eq, mm, pool.threshold)
        pool.risk = new
        if new >= self.risk:
            self.risk = new
        elif old >= self.risk:
            self.risk = max(p.risk for p in self._pools.values())
        return self.risk

    # ------------------------------------------------------------------ other events
    def apply(self, event: ev.EngineEvent) -> float:
        """Apply any engine event; returns the account risk afterwards."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise EngineError(f"unknown engine event {type(event).__name__}")
        handler(event)
        return self.risk

    def _on_mark_event(self, e: ev.MarkPrice) -> None:
        self.on_mark(e.symbol, e.price)

    def _revalue_asset(self, name: str) -> None:
        acc = self._acc(name)
        self._load_asset(acc, self.state.asset(name))
        self._revalue(acc)

    def _on_asset_rates(self, e: ev.AssetRates) -> None:
        rec = self.state.asset(e.asset)
        rec.bid_rate, rec.ask_rate = e.bid_rate, e.ask_rate
        if self._kind == _MULTI_ASSETS:
            self._revalue_asset(e.asset)

    def _on_index_price(self, e: ev.AssetIndexPrice) -> None:
        self.state.asset(e.asset).index_price = e.price
        if self._kind == _PORTFOLIO:
            self._revalue_asset(e.asset)

    def _on_futures_wallet(self, e: ev.FuturesWallet) -> None:
        rec = self.state.asset(e.asset)
        if self._kind == _PORTFOLIO:
            if e.product == "CM":
                rec.cm_wallet = e.cross_wallet
            else:
                rec.um_wallet = e.cross_wallet
        else:
            rec.cross_wallet = e.cross_wallet
        self._revalue_asset(e.asset)

    def _on_margin_balance(self, e: ev.MarginBalance) -> None:
        rec = self.state.asset(e.asset)
        rec.margin_free, rec.margin_locked = e.free, e.locked
        self._revalue_asset(e.asset)

    def _on_liability(self, e: ev.MarginLiability) -> None:
        rec = self.state.asset(e.asset)
        rec.borrowed, rec.interest = split_liability(rec.interest, e)
        self._revalue_asset(e.asset)

    def _on_collateral(self, e: ev.CollateralUpdate) -> None:
        self.state.asset(e.asset).collateral = e.tiers
        if self._kind == _PORTFOLIO:
            self._revalue_asset(e.asset)

    def _on_position(self, e: ev.PositionUpdate) -> None:
        pos = self._position(e)  # raises EngineError before anything changes
        key = pos.key
        self._remove_leg(key)
        if pos.qty == 0.0:
            self.state.positions.pop(key, None)
            self._refresh_risk()
            return
        self.state.positions[key] = pos
        self._add_leg(pos)
        self._refresh_risk()

    def _position(self, e: ev.PositionUpdate) -> Position:
        return self.state.admit(
            Position(e.symbol, e.side, e.qty, e.entry_price, e.isolated, e.isolated_wallet)
        )

    def admit(self, event: ev.EngineEvent) -> None:
        """Raise `EngineError` if `apply(event)` would reject it, changing nothing.

        Callers check every event of one exchange message first, so a message is applied whole
        or not at all.
        """
        if type(event) not in self._handlers:
            raise EngineError(f"unknown engine event {type(event).__name__}")
        if isinstance(event, ev.PositionUpdate):
            self._position(event)
        elif isinstance(event, ev.BracketUpdate):
            self._check_brackets(event)

    def _check_brackets(self, e: ev.BracketUpdate) -> None:
        if not e.brackets.floors and e.symbol in self._legs:
            raise EngineError(f"held symbol {e.symbol}: empty leverage bracket table")

    def _on_open_loss(self, e: ev.OpenLoss) -> None:
        delta = e.usd - self.state.open_loss_usd
        self.state.open_loss_usd = e.usd
        pool = self._usd_pool
        if pool is not None and self._kind == _PORTFOLIO:
            pool.eq, pool.eq_c = _kadd(pool.eq, pool.eq_c, -delta)
            pool.risk = pool_risk(pool.eq + pool.eq_c, pool.mm + pool.mm_c, pool.threshold)
            self._refresh_risk()

    def _on_brackets(self, e: ev.BracketUpdate) -> None:
        self._check_brackets(e)
        contract = self.state.contracts.get(e.symbol)
        if contract is None:
            return
        contract.brackets = e.brackets
        for key in [leg.pos.key for leg in self._legs.get(e.symbol, [])]:
            pos = self.state.positions[key]
            self._remove_leg(key)
            self._add_leg(pos)
        self._refresh_risk()

    def _on_status(self, e: ev.AccountStatus) -> None:
        self.state.status = e.status

    def _on_resync(self, e: ev.Resync) -> None:
        previous = self.state
        try:
            self._load(e.state)
        except EngineError:
            self._load(previous)  # a rejected snapshot leaves the book as it was
            raise

    def _refresh_risk(self) -> None:
        self.risk = max((p.risk for p in self._pools.values()), default=0.0)

    # ------------------------------------------------------------------ exact re-summation
    def resum(self) -> None:
        """Rebuild every running sum from the legs with exact summation (math.fsum)."""
        by_acc: dict[int, list[_Leg]] = {}
        isolated: list[_Leg] = []
        for legs in self._legs.values():
            for leg in legs:
                self._reprice(leg, self._marks[leg.pos.symbol])
                if leg.acc.pool.isolated:
                    isolated.append(leg)
                else:
                    by_acc.setdefault(id(leg.acc), []).append(leg)
        for acc in self._accs.values():
            mine = by_acc.get(id(acc), [])
            acc.upnl, acc.upnl_c = math.fsum(leg.upnl for leg in mine), 0.0
            acc.mm, acc.mm_c = math.fsum(leg.mm for leg in mine), 0.0
        for leg in isolated:
            leg.acc.upnl, leg.acc.mm = leg.upnl, leg.mm
            leg.acc.upnl_c = leg.acc.mm_c = 0.0
        for pool in self._pools.values():
            pool.eq = pool.eq_c = pool.mm = pool.mm_c = 0.0
        for acc in self._accs.values():
            acc.value = acc.mm_value = 0.0
            self._revalue(acc)
        for leg in isolated:
            self._revalue(leg.acc)
        if self._usd_pool is not None:
            pool = self._usd_pool
            if self._kind == _PORTFOLIO:
                pool.eq = math.fsum(
                    [a.value for a in self._accs.values()] + [-self.state.open_loss_usd]
                )
            else:
                pool.eq = math.fsum(a.value for a in self._accs.values())
            pool.mm = math.fsum(a.mm_value for a in self._accs.values())
            pool.eq_c = pool.mm_c = 0.0
            pool.risk = pool_risk(pool.eq, pool.mm, pool.threshold)
        self._refresh_risk()

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> RiskSnapshot:
        """All current figures (allocates; call per alert/status, not necessarily per tick)."""
        legs: list[LegFigures] = []
        for pos in self.state.positions.values():
            leg = self._leg_by_key.get(pos.key)
            if leg is None:
                continue
            contract = self.state.contracts[pos.symbol]
            legs.append(
                LegFigures(
                    pos.symbol,
                    pos.side,
                    pos.qty,
                    pos.entry_price,
                    self._marks[pos.symbol],
                    leg.upnl,
                    leg.mm,
                    leg.notional,
                    contract.settle_asset,
                    pos.isolated,
                    pos.isolated_wallet,
                )
            )
        pools: list[PoolFigures] = []
        assets: list[AssetFigures] = []
        for name in sorted(self._accs):
            acc = self._accs[name]
            if acc.legs == 0 and not self._holds(name):
                continue
            upnl, mm = acc.upnl + acc.upnl_c, acc.mm + acc.mm_c
            x = acc.base + upnl
            if acc.kind == _PLAIN:
                assets.append(AssetFigures(name, x, x, mm, mm))
            elif acc.kind == _MULTI_ASSETS:
                assets.append(AssetFigures(name, x, acc.value, acc.mm_value, mm))
            else:
                assets.append(AssetFigures(name, x, acc.value, acc.mm_value, mm + acc.loan_mm))
        for pool in self._pools.values():
            if pool is not self._usd_pool and not pool.isolated:
                acc = self._accs[pool.key]
                if acc.legs == 0 and not self._holds(pool.key):
                    continue
            eq, mm = pool.eq + pool.eq_c, pool.mm + pool.mm_c
            pools.append(
                PoolFigures(pool.key, pool.unit, eq, mm, pool.threshold, pool.isolated, pool.risk)
            )
        return RiskSnapshot(
            self.mode, self.risk, tuple(pools), tuple(assets), tuple(legs), self.state.status
        )

    def _holds(self, name: str) -> bool:
        rec = self.state.assets.get(name)
        return rec is not None and rec.holds(self.mode)
