"""What restores safety: the deposit or the position cut that brings risk back to a target, and
how much can be withdrawn.

All three read the current figures (`valuation.evaluate`) and solve in closed form: equity is
linear in a deposit (piecewise, where Multi-Assets values a negative balance at the ask rate or
Portfolio Margin applies collateral tiers), and maintenance margin is piecewise linear in the
size of a leg (one piece per bracket). The pool that matters is always the worst one (highest
risk): a cross margin asset, an isolated leg, or the single USD pool of Multi-Assets / Portfolio
Margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.engine.brackets import BracketTable
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Asset, Mode
from monitor.engine.risk import LegFigures, PoolFigures, RiskSnapshot
from monitor.engine.valuation import evaluate

#: The asset a deposit is made in when the account is valued in USD (Multi-Assets, PM).
USD_DEPOSIT_ASSET = "USDT"

#: Portfolio Margin withdrawals must leave equity ≥ 1.2 × MM (margin-math.md §5.4, [B14]).
PM_WITHDRAW_UNIMMR = 1.2


@dataclass(frozen=True, slots=True)
class Deposit:
    """Deposit `amount` of `asset` into `pool`; an isolated pool "SYMBOL:SIDE" means isolated
    margin added to that leg."""

    asset: str
    amount: float
    pool: str


@dataclass(frozen=True, slots=True)
class Cut:
    """Close `fraction` of the leg at its mark; `sufficient` is False when closing all of it
    still leaves the pool above the target."""

    symbol: str
    side: str
    fraction: float
    sufficient: bool


def _check_target(target_risk: float) -> None:
    if not target_risk > 0.0:
        raise ValueError(f"target risk must be positive, got {target_risk!r}")


def _worst(snap: RiskSnapshot) -> PoolFigures | None:
    """The pool with the highest risk (then the largest MM)."""
    return max(snap.pools, key=lambda p: (p.risk, p.maint_margin, abs(p.equity)), default=None)


def _rates(state: AccountState, asset: str) -> Asset:
    """The asset's record, or one with neutral rates (1 USD, 100 % collateral) if none is held."""
    return state.assets.get(asset) or Asset(asset)


# ---------------------------------------------------------------------------------------------
# Deposit


def deposit_to_target(state: AccountState, target_risk: float = 0.5) -> Deposit:
    """The deposit that brings the worst pool's risk down to `target_risk` (0 if already there).

    Futures pools (USDⓈ-M single-asset, COIN-M, isolated legs): in the pool's margin asset,
    equity rises 1:1, so amount = T·MM/target − equity. Multi-Assets: USDT, valued at its bid
    rate (at its ask rate while it pays off a negative USDT balance). Portfolio Margin: USDT at
    its asset index price times its (possibly tiered) collateral rate.
    """
    _check_target(target_risk)
    snap = evaluate(state)
    pool = _worst(snap)
    if pool is None:
        return Deposit(USD_DEPOSIT_ASSET, 0.0, "")
    unified = state.mode in (Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN)
    asset = USD_DEPOSIT_ASSET if unified else pool.unit
    if pool.risk <= target_risk:
        return Deposit(asset, 0.0, pool.key)
    needed = pool.threshold * pool.maint_margin / target_risk - pool.equity
    if not unified:
        return Deposit(asset, needed, pool.key)
    held = next((a.equity for a in snap.assets if a.asset == asset), 0.0)
    rec = _rates(state, asset)
    if state.mode is Mode.PORTFOLIO_MARGIN:
        price = rec.index_price
        now = rec.collateral.value(held * price)
        after = _usd_for_collateral(rec.collateral, now + needed) / price
    else:
        now = min(held * rec.bid_rate, held * rec.ask_rate)
        value = now + needed
        after = value / rec.bid_rate if value >= 0.0 else value / rec.ask_rate
    return Deposit(asset, after - held, pool.key)


def _usd_for_collateral(tiers: CollateralTiers, value: float) -> float:
    """The USD value whose collateral value is `value` (inverse of `CollateralTiers.value`)."""
    if value <= 0.0:
        return value
    k = len(tiers.floors) - 1
    while k > 0 and value < tiers.floors[k] * tiers.rates[k] + tiers.cums[k]:
        k -= 1
    if tiers.rates[k] == 0.0:
        return tiers.floors[k] if value <= tiers.cums[k] else math.inf
    return (value - tiers.cums[k]) / tiers.rates[k]


# ---------------------------------------------------------------------------------------------
# Cut


def cut_to_target(state: AccountState, target_risk: float = 0.5) -> Cut | None:
    """The fraction of the worst pool's largest-MM leg to close so that risk comes to target.

    Closing at the mark realizes that part of the uPnL into the same asset's wallet, so equity
    is unchanged and only MM falls; MM is solved exactly on the bracket piece it lands in.
    None when no leg carries MM in the worst pool (e.g. only margin loans in PM).
    """
    _check_target(target_risk)
    snap = evaluate(state)
    pool = _worst(snap)
    if pool is None:
        return None
    weighted = [(leg.maint_margin * _mm_rate(state, leg), leg) for leg in _pool_legs(snap, pool)]
    if not weighted:
        return None
    mm_value, leg = max(weighted, key=lambda pair: pair[0])
    if pool.risk <= target_risk:
        return Cut(leg.symbol, leg.side, 0.0, True)
    allowed_value = target_risk * pool.equity / pool.threshold - (pool.maint_margin - mm_value)
    if pool.equity <= 0.0 or allowed_value < 0.0:
        return Cut(leg.symbol, leg.side, 1.0, False)
    table = state.contracts[leg.symbol].brackets
    keep = _notional_for_mm(table, allowed_value / _mm_rate(state, leg)) / leg.notional
    return Cut(leg.symbol, leg.side, min(max(1.0 - keep, 0.0), 1.0), True)


def _pool_legs(snap: RiskSnapshot, pool: PoolFigures) -> list[LegFigures]:
    if pool.key == "USD":
        return list(snap.legs)
    if pool.isolated:
        return [leg for leg in snap.legs if f"{leg.symbol}:{leg.side}" == pool.key]
    return [leg for leg in snap.legs if leg.settle_asset == pool.key and not leg.isolated]


def _mm_rate(state: AccountState, leg: LegFigures) -> float:
    """Pool-unit value of one unit of the leg's MM: ask rate (MA), index price (PM), else 1."""
    if state.mode is Mode.USDM_MULTI_ASSETS:
        return _rates(state, leg.settle_asset).ask_rate
    if state.mode is Mode.PORTFOLIO_MARGIN:
        return _rates(state, leg.settle_asset).index_price
    return 1.0


def _notional_for_mm(table: BracketTable, mm: float) -> float:
    """The notional whose maintenance margin is `mm` (MM is continuous and increasing)."""
    last = len(table) - 1
    for k in range(last):
        if mm <= table.floors[k + 1] * table.mmrs[k] - table.cums[k]:
            return _tier_notional(table, k, mm)
    return _tier_notional(table, last, mm)


def _tier_notional(table: BracketTable, k: int, mm: float) -> float:
    mmr = table.mmrs[k]
    if mmr == 0.0:
        return table.floors[k]
    return max(table.floors[k], (mm + table.cums[k]) / mmr)


# ---------------------------------------------------------------------------------------------
# Withdrawal


def max_withdrawable(state: AccountState, asset: str | None = None) -> float:
    """Binance's maximum withdrawable (transfer-out) amount, MM-based.

    Portfolio Margin: max(equity − 1.2·MM, 0) in USD ([B14]). Multi-Assets (seed FAQ
    "Calculating Maximum Withdrawable Amount"): min(wallet − MM, equity − MM) in USD, with MM
    standing in for the initial margin of positions and orders the engine does not know, and no
    loans or vouchers. Single-asset USDⓈ-M / COIN-M: the same rule on one margin asset,
    cross wallet + min(uPnL, 0) − MM, in that asset (the headline pool's unless `asset` names
    one). With `asset` in Multi-Assets / PM the USD figure is converted at the asset's bid rate /
    index price and capped by its positive balance. Never more than takes a pool to risk 1.
    """
    snap = evaluate(state)
    if state.mode is Mode.PORTFOLIO_MARGIN:
        usd = _usd_pool_withdrawable(snap, PM_WITHDRAW_UNIMMR, None)
        return usd if asset is None else _in_asset(usd, _rates(state, asset), True)
    if state.mode is Mode.USDM_MULTI_ASSETS:
        wallet = sum(min(a.cross_wallet * a.bid_rate, a.cross_wallet * a.ask_rate)
                     for a in state.assets.values())
        usd = _usd_pool_withdrawable(snap, 1.0, wallet)
        return usd if asset is None else _in_asset(usd, _rates(state, asset), False)
    pool = _cross_pool(snap, asset)
    if pool is None:
        return 0.0
    wallet = _rates(state, pool.unit).cross_wallet
    return max(min(wallet, pool.equity) - pool.maint_margin, 0.0)


def _usd_pool_withdrawable(snap: RiskSnapshot, factor: float, wallet: float | None) -> float:
    pool = _cross_pool(snap, "USD")
    if pool is None:
        return 0.0
    base = pool.equity if wallet is None else min(wallet, pool.equity)
    return max(base - factor * pool.maint_margin, 0.0)


def _cross_pool(snap: RiskSnapshot, key: str | None) -> PoolFigures | None:
    if key is None:
        return snap.headline
    return next((p for p in snap.pools if p.key == key and not p.isolated), None)


def _in_asset(usd: float, rec: Asset, portfolio: bool) -> float:
    """A USD amount in units of `rec`, capped by the asset's positive balance."""
    price = rec.index_price if portfolio else rec.bid_rate
    balance = rec.pm_base if portfolio else rec.cross_wallet
    return min(usd / price, max(balance, 0.0))
