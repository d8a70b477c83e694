"""Full evaluation of an account's margin figures from its state, optionally under a price move.

One set of formulas (margin-math.md §1–§5, summary §7), written once and generic over the number
type: with `float` it is the O(account) full recompute (the benchmark baseline, and the stress
evaluator behind distance-to-liquidation); with `Decimal` it is the exact reference the
incremental book is tested against (`reference.py`). It shares nothing with the book's
incremental bookkeeping, which is what makes it an oracle for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Asset, Contract, ContractKind, Mode, Position
from monitor.engine.risk import (
    AssetFigures,
    LegFigures,
    PoolFigures,
    RiskSnapshot,
    pool_risk,
)

Num = TypeVar("Num", float, Decimal)


@dataclass(frozen=True, slots=True)
class Move:
    """Multiply prices by `factor`: every non-stablecoin price, or only those of `underlying`.

    A moved price is a mark of a contract on that base asset, and in Multi-Assets / Portfolio
    Margin the asset's own conversion rate (bid/ask rate, asset index price).
    """

    factor: float
    underlying: str | None = None

    def moves(self, asset: str, stablecoins: frozenset[str]) -> bool:
        if self.underlying is None:
            return asset not in stablecoins
        return asset == self.underlying


@dataclass(slots=True)
class _Sums(Generic[Num]):
    upnl: Num
    mm: Num


def _tier_value(tiers: CollateralTiers, usd: Num, conv: Callable[[float], Num]) -> Num:
    if usd <= 0:
        return usd
    k = tiers.index_of(float(usd))
    return usd * conv(tiers.rates[k]) + conv(tiers.cums[k])


def _leg(
    contract: Contract, pos: Position, mark: Num, conv: Callable[[float], Num]
) -> tuple[Num, Num, Num]:
    """(uPnL, MM, notional) of one leg in its settle asset at `mark`."""
    q = conv(pos.qty)
    size = abs(q)
    if contract.kind is ContractKind.LINEAR:
        upnl = q * (mark - conv(pos.entry_price))
        notional = size * mark
    else:
        cs = conv(contract.contract_size)
        one = conv(1.0)
        upnl = q * cs * (one / conv(pos.entry_price) - one / mark) if q else conv(0.0)
        notional = size * cs / mark
    if not q:
        return upnl, conv(0.0), notional
    k = contract.brackets.index(float(notional))
    mm = notional * conv(contract.brackets.mmrs[k]) - conv(contract.brackets.cums[k])
    return upnl, mm, notional


def evaluate_with(
    state: AccountState, conv: Callable[[float], Num], move: Move | None = None
) -> RiskSnapshot:
    """Every figure of `state` computed from scratch in the number type `conv` produces."""
    zero = conv(0.0)
    stable = state.stablecoins

    def scale(asset: str) -> Num:
        if move is not None and move.moves(asset, stable):
            return conv(move.factor)
        return conv(1.0)

    sums: dict[str, _Sums[Num]] = {}
    legs: list[LegFigures] = []
    pools: list[PoolFigures] = []
    for pos in state.positions.values():
        if pos.qty == 0:
            continue
        contract = state.contracts[pos.symbol]
        mark = conv(state.marks[pos.symbol]) * scale(contract.base_asset)
        upnl, mm, notional = _leg(contract, pos, mark, conv)
        legs.append(
            LegFigures(
                pos.symbol,
                pos.side,
                pos.qty,
                pos.entry_price,
                float(mark),
                float(upnl),
                float(mm),
                float(notional),
                contract.settle_asset,
                pos.isolated,
                pos.isolated_wallet,
            )
        )
        if pos.isolated and state.mode in (Mode.USDM, Mode.COINM):
            equity = conv(pos.isolated_wallet) + upnl
            pools.append(
                PoolFigures(
                    f"{pos.symbol}:{pos.side}",
                    contract.settle_asset,
                    float(equity),
                    float(mm),
                    1.0,
                    True,
                    pool_risk(float(equity), float(mm), 1.0),
                )
            )
            continue
        acc = sums.get(contract.settle_asset)
        if acc is None:
            acc = sums[contract.settle_asset] = _Sums(zero, zero)
        acc.upnl += upnl
        acc.mm += mm

    names = sorted(set(sums) | {a for a, rec in state.assets.items() if rec.holds(state.mode)})
    assets: list[AssetFigures] = []
    if state.mode in (Mode.USDM, Mode.COINM):
        for name in names:
            acc = sums.get(name) or _Sums(zero, zero)
            equity = conv(_asset(state, name).cross_wallet) + acc.upnl
            assets.append(
                AssetFigures(name, float(equity), float(equity), float(acc.mm), float(acc.mm))
            )
            pools.append(
                PoolFigures(
                    name,
                    name,
                    float(equity),
                    float(acc.mm),
                    1.0,
                    False,
                    pool_risk(float(equity), float(acc.mm), 1.0),
                )
            )
    else:
        total_eq, total_mm = zero, zero
        pm = state.mode is Mode.PORTFOLIO_MARGIN
        loan_mmr = conv(state.margin_loan_mmr())
        for name in names:
            rec = _asset(state, name)
            acc = sums.get(name) or _Sums(zero, zero)
            s = scale(name)
            if pm:
                price = conv(rec.index_price) * s
                x = conv(rec.pm_base) + acc.upnl
                value = _tier_value(rec.collateral, x * price, conv)
                mm_asset = acc.mm + conv(rec.loan) * loan_mmr
                mm_value = mm_asset * price
            else:
                x = conv(rec.cross_wallet) + acc.upnl
                bid, ask = conv(rec.bid_rate) * s, conv(rec.ask_rate) * s
                value = min(x * bid, x * ask)
                mm_asset = acc.mm
                mm_value = mm_asset * ask
            total_eq += value
            total_mm += mm_value
            assets.append(
                AssetFigures(name, float(x), float(value), float(mm_value), float(mm_asset))
            )
        threshold = 1.05 if pm else 1.0
        if pm:
            total_eq -= conv(state.open_loss_usd)
        pools.append(
            PoolFigures(
                "USD",
                "USD",
                float(total_eq),
                float(total_mm),
                threshold,
                False,
                pool_risk(float(total_eq), float(total_mm), threshold),
            )
        )
    risk = max((p.risk for p in pools), default=0.0)
    return RiskSnapshot(state.mode, risk, tuple(pools), tuple(assets), tuple(legs), state.status)


def _asset(state: AccountState, name: str) -> Asset:
    """The asset record, or an empty one (read-only: evaluation never adds to the state)."""
    return state.assets.get(name) or Asset(name)


def evaluate(state: AccountState, move: Move | None = None) -> RiskSnapshot:
    """Full float recompute: O(positions + assets)."""
    return evaluate_with(state, float, move)
