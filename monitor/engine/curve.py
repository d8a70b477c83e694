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
    brackets: BracketTable
    wallet: float  # isolated wallet


@dataclass(slots=True)
class _Asset:
    sums: int  # index into the per-asset sums (-1: no leg settles in it)
    base: float  # cross wallet, or the Portfolio Margin net balance before uPnL
    bid: float
    ask: float
    price: float  # Portfolio Margin asset index price
    tiers: CollateralTiers
    loan_mm: float  # Portfolio Margin margin loan x the margin-loan MMR


class CurveData:
    """The state read once: legs, assets and pools, shared by the curves of every scenario."""

    def __init__(self, state: AccountState) -> None:
        mode = state.mode
        self.unified = mode in (Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN)
        self.pm = mode is Mode.PORTFOLIO_MARGIN
        self.open_loss = state.open_loss_usd
        sums_of: dict[str, int] = {}
        isolated: list[PoolInfo] = []
        self.legs: list[_Leg] = []
        self.contracts: list[Contract] = []
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
            self.contracts.append(contract)
            self.legs.append(
                _Leg(
                    index,
                    own,
                    contract.kind is ContractKind.LINEAR,
                    pos.qty,
                    abs(pos.qty),
                    pos.entry_price,
                    contract.contract_size,
                    state.marks[pos.symbol],
                    contract.brackets,
                    pos.isolated_wallet,
                )
            )
        held = {a for a, rec in state.assets.items() if rec.holds(mode)}
        self.names = sorted(set(sums_of) | held)
        loan_mmr = state.margin_loan_mmr()
        self.assets: list[_Asset] = []
        for name in self.names:
            rec = state.assets.get(name) or Asset(name)
            self.assets.append(
                _Asset(
                    sums_of.get(name, -1),
                    rec.pm_base if self.pm else rec.cross_wallet,
                    rec.bid_rate,
                    rec.ask_rate,
                    rec.index_price,
                    rec.collateral,
                    rec.loan * loan_mmr,
                )
            )
        self.n_sums = len(sums_of)
        self.n_isolated = len(isolated)
        if self.unified:
            self.pools: tuple[PoolInfo, ...] = (
                *isolated,
                PoolInfo("USD", "USD", 1.05 if self.pm else 1.0),
            )
        else:
            self.pools = (*isolated, *(PoolInfo(name, name, 1.0) for name in self.names))


class PoolCurve:
    """(equity, MM) of every pool of `state` at price factor s.

    `leg_moves(contract)`: whether that contract's mark scales with s; `asset_moves(asset)`:
    whether that asset's conversion rate or index price does (Multi-Assets, Portfolio Margin).
    `data`: the state already read (`CurveData(state)`), when several scenarios share it.
    """

    def __init__(
        self,
        state: AccountState,
        leg_moves: Callable[[Contract], bool],
        asset_moves: Callable[[str], bool],
        data: CurveData | None = None,
    ) -> None:
        self._data = data = data or CurveData(state)
        self.pools = data.pools
        self._legs = list(zip(data.legs, [leg_moves(c) for c in data.contracts], strict=True))
        self._assets = list(zip(data.assets, [asset_moves(n) for n in data.names], strict=True))

    def at(self, s: float) -> list[tuple[float, float]]:
        """(equity, MM) per pool at factor `s`, in the order of `pools`."""
        data = self._data
        upnls = [0.0] * data.n_sums
        mms = [0.0] * data.n_sums
        isolated: list[tuple[float, float]] = [(0.0, 0.0)] * data.n_isolated
        for leg, moves in self._legs:
            mark = leg.mark * s if moves else leg.mark
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
        if not data.unified:
            out = isolated
            for asset, _ in self._assets:
                j = asset.sums
                upnl, mm = (upnls[j], mms[j]) if j >= 0 else (0.0, 0.0)
                out.append((asset.base + upnl, mm))
            return out
        pm = data.pm
        total_eq = total_mm = 0.0
        for asset, moves in self._assets:
            j = asset.sums
            upnl, mm = (upnls[j], mms[j]) if j >= 0 else (0.0, 0.0)
            f = s if moves else 1.0
            x = asset.base + upnl
            if pm:
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
        if pm:
            total_eq -= data.open_loss
        isolated.append((total_eq, total_mm))
        return isolated
