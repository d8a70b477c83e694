"""Each pool's equity and maintenance margin as prices move: the distance search's inner loop.

The distance and liquidation-price searches (`liquidation.py`) evaluate one account at dozens of
price factors s. `valuation.evaluate` would rebuild every figure (legs, assets, pools, as
objects) each time; `PoolCurve` reads the state once per scenario — which legs and assets move
with s, in which pool each sums — and `at(s)` returns only (equity, MM) per pool. The arithmetic
is `valuation.evaluate_with`'s for floats, operation for operation and in the same order, so the
results are identical (tests compare the two on random accounts and factors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.engine.brackets import BracketTable
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Asset, Contract, ContractKind, Mode


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """What does not change along the curve: a pool's key, unit and liquidation threshold."""

    key: str
    unit: str
    threshold: float


@dataclass(slots=True)
class _Leg:
    sums: int  # index of the settle asset's sums, or of the isolated pool (`isolated`)
    isolated: bool
    linear: bool
    qty: float
    size: float  # |qty|
    entry: float
    cs: float
    mark: float
    moves: bool
    brackets: BracketTable
    wallet: float  # isolated wallet


@dataclass(slots=True)
class _Asset:
    sums: int  # index into the per-asset sums (-1: no leg settles in it)
    base: float  # cross wallet, or the Portfolio Margin net balance before uPnL
    moves: bool
    bid: float
    ask: float
    price: float  # Portfolio Margin asset index price
    tiers: CollateralTiers
    loan_mm: float  # Portfolio Margin margin loan x the margin-loan MMR


class PoolCurve:
    """(equity, MM) of every pool of `state` at price factor s.

    `leg_moves(contract)`: whether that contract's mark scales with s; `asset_moves(asset)`:
    whether that asset's conversion rate or index price does (Multi-Assets, Portfolio Margin).
    """

    def __init__(
        self,
        state: AccountState,
        leg_moves: Callable[[Contract], bool],
        asset_moves: Callable[[str], bool],
    ) -> None:
        mode = state.mode
        self._unified = mode in (Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN)
        self._pm = mode is Mode.PORTFOLIO_MARGIN
        self._open_loss = state.open_loss_usd
        sums_of: dict[str, int] = {}
        isolated: list[PoolInfo] = []
        legs: list[_Leg] = []
        for pos in state.positions.values():
            if pos.qty == 0:
                continue
            contract = state.contracts[pos.symbol]
            own = pos.isolated and mode in (Mode.USDM, Mode.COINM)
            if own:
                index = len(isolated)
                isolated.append(PoolInfo(f"{pos.symbol}:{pos.side}", contract.settle_asset, 1.0))
            else:
                index = sums_of.setdefault(contract.settle_asset, len(sums_of))
            legs.append(
                _Leg(
                    index,
                    own,
                    contract.kind is ContractKind.LINEAR,
                    pos.qty,
                    abs(pos.qty),
                    pos.entry_price,
                    contract.contract_size,
                    state.marks[pos.symbol],
                    leg_moves(contract),
                    contract.brackets,
                    pos.isolated_wallet,
                )
            )
        held = {a for a, rec in state.assets.items() if rec.holds(mode)}
        names = sorted(set(sums_of) | held)
        loan_mmr = state.margin_loan_mmr()
        assets: list[_Asset] = []
        for name in names:
            rec = state.assets.get(name) or Asset(name)
            assets.append(
                _Asset(
                    sums_of.get(name, -1),
                    rec.pm_base if self._pm else rec.cross_wallet,
                    asset_moves(name),
                    rec.bid_rate,
                    rec.ask_rate,
                    rec.index_price,
                    rec.collateral,
                    rec.loan * loan_mmr,
                )
            )
        self._legs = legs
        self._assets = assets
        self._n_sums = len(sums_of)
        self._n_isolated = len(isolated)
        if self._unified:
            self.pools: tuple[PoolInfo, ...] = (
                *isolated,
                PoolInfo("USD", "USD", 1.05 if self._pm else 1.0),
            )
        else:
            self.pools = (*isolated, *(PoolInfo(name, name, 1.0) for name in names))

    def at(self, s: float) -> list[tuple[float, float]]:
        """(equity, MM) per pool at factor `s`, in the order of `pools`."""
        upnls = [0.0] * self._n_sums
        mms = [0.0] * self._n_sums
        isolated: list[tuple[float, float]] = [(0.0, 0.0)] * self._n_isolated
        for leg in self._legs:
            mark = leg.mark * s if leg.moves else leg.mark
            q = leg.qty
            if leg.linear:
                upnl = q * (mark - leg.entry)
                notional = leg.size * mark
            else:
                upnl = q * leg.cs * (1.0 / leg.entry - 1.0 / mark)
                notional = leg.size * leg.cs / mark
            table = leg.brackets
            k = table.index(notional)
            mm = notional * table.mmrs[k] - table.cums[k]
            if leg.isolated:
                isolated[leg.sums] = (leg.wallet + upnl, mm)
            else:
                upnls[leg.sums] += upnl
                mms[leg.sums] += mm
        if not self._unified:
            out = isolated
            for asset in self._assets:
                j = asset.sums
                upnl, mm = (upnls[j], mms[j]) if j >= 0 else (0.0, 0.0)
                out.append((asset.base + upnl, mm))
            return out
        total_eq = total_mm = 0.0
        for asset in self._assets:
            j = asset.sums
            upnl, mm = (upnls[j], mms[j]) if j >= 0 else (0.0, 0.0)
            f = s if asset.moves else 1.0
            x = asset.base + upnl
            if self._pm:
                price = asset.price * f
                usd = x * price
                if usd <= 0:
                    value = usd
                else:
                    tiers = asset.tiers
                    t = tiers.index_of(usd)
                    value = usd * tiers.rates[t] + tiers.cums[t]
                mm_value = (mm + asset.loan_mm) * price
            else:
                bid, ask = asset.bid * f, asset.ask * f
                value = min(x * bid, x * ask)
                mm_value = mm * ask
            total_eq += value
            total_mm += mm_value
        if self._pm:
            total_eq -= self._open_loss
        isolated.append((total_eq, total_mm))
        return isolated
