"""The account state the engine works on: modes, contracts, positions, assets and rates.

These are plain mutable records holding floats (parsed once from Binance's decimal strings).
The incremental book (`book.py`) owns one `AccountState` and keeps derived running sums beside
it; the exact reference (`reference.py`) and the stress evaluator (`valuation.py`) read it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.engine.brackets import BracketTable
from monitor.engine.collateral import CollateralTiers


class Mode(StrEnum):
    """The margin modes; the values are the names used in recordings and config."""

    USDM = "usdm"
    USDM_MULTI_ASSETS = "usdm_multi_assets"
    COINM = "coinm"
    PORTFOLIO_MARGIN = "portfolio_margin"


class ContractKind(StrEnum):
    """Linear (USDⓈ-M: PnL in the quote asset) or inverse (COIN-M: PnL in the base coin)."""

    LINEAR = "linear"
    INVERSE = "inverse"


#: Position sides as Binance names them; hedge mode uses LONG/SHORT legs, one-way mode BOTH.
SIDES = ("BOTH", "LONG", "SHORT")

#: Stablecoins keep their price in a "uniform move" of all other prices (margin-math.md §6.1).
STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "DAI", "BFUSD", "USD1"})

#: Portfolio Margin liquidates at uniMMR <= 1.05; risk = 1.05 / uniMMR.
PM_LIQUIDATION_UNIMMR = 1.05

#: Margin-loan maintenance margin rate by chosen margin leverage (margin-math.md §5.2).
MARGIN_LOAN_MMR = {3: 0.10, 5: 0.08, 10: 0.05}


@dataclass(slots=True)
class Contract:
    """One futures symbol: how its PnL and maintenance margin are computed."""

    symbol: str
    kind: ContractKind
    settle_asset: str  # the margin asset PnL and MM are denominated in (USDT, USDC, BTC, ...)
    base_asset: str  # the underlying (BTC for BTCUSDT and BTCUSD_PERP)
    brackets: BracketTable
    contract_size: float = 1.0  # USD per contract for inverse contracts; 1 for linear
    product: str = "UM"  # "UM" or "CM": which PM futures wallet it settles into


@dataclass(slots=True)
class Position:
    """One position leg. `qty` is signed: base units (linear) or contracts (inverse)."""

    symbol: str
    side: str  # BOTH, LONG or SHORT
    qty: float
    entry_price: float
    isolated: bool = False
    isolated_wallet: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.symbol, self.side)


@dataclass(slots=True)
class Asset:
    """Balances and conversion rates of one asset.

    Futures modes use `cross_wallet` (the cross wallet balance of the margin asset). Portfolio
    Margin nets `margin_free + margin_locked - borrowed - interest + um_wallet + cm_wallet` and
    futures uPnL per asset before applying the collateral rate.
    """

    asset: str
    cross_wallet: float = 0.0
    um_wallet: float = 0.0
    cm_wallet: float = 0.0
    margin_free: float = 0.0
    margin_locked: float = 0.0
    borrowed: float = 0.0
    interest: float = 0.0
    bid_rate: float = 1.0  # Multi-Assets: USD value of one unit of positive equity
    ask_rate: float = 1.0  # Multi-Assets: USD value of one unit of negative equity and of MM
    index_price: float = 1.0  # Portfolio Margin: assetIndexPrice in USD
    collateral: CollateralTiers = field(default_factory=CollateralTiers.full)

    @property
    def pm_base(self) -> float:
        """Portfolio Margin net balance before futures uPnL, in asset units."""
        return (
            self.margin_free
            + self.margin_locked
            - self.borrowed
            - self.interest
            + self.um_wallet
            + self.cm_wallet
        )

    def holds(self, mode: Mode) -> bool:
        """Whether this asset has a balance that makes it part of the figures in `mode`."""
        if mode is Mode.PORTFOLIO_MARGIN:
            return self.pm_base != 0.0 or self.loan != 0.0
        return self.cross_wallet != 0.0

    @property
    def loan(self) -> float:
        """Margin loan incl. accrued interest (margin-math.md §5.2, INFERRED mapping)."""
        return self.borrowed + self.interest


@dataclass(slots=True)
class AccountState:
    """Everything the margin figures depend on, for one account in one mode."""

    mode: Mode
    contracts: dict[str, Contract] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    open_loss_usd: float = 0.0  # PM totalMarginOpenLoss
    margin_leverage: int = 3  # PM: chosen margin leverage, selects the margin-loan MMR
    status: str = "ok"  # "ok" or a status the exchange reported (MARGIN_CALL, REDUCE_ONLY, ...)
    stablecoins: frozenset[str] = STABLECOINS

    def asset(self, name: str) -> Asset:
        """The asset record, created empty on first use."""
        found = self.assets.get(name)
        if found is None:
            found = self.assets[name] = Asset(name)
        return found

    def copy(self) -> AccountState:
        """A deep copy (the book mutates its own state; copies are for what-if evaluation)."""
        return copy.deepcopy(self)

    def validate(self) -> None:
        """Raise `EngineError` naming a held leg the engine cannot compute with (see `admit`) or
        a held symbol without a mark; legs are normalized to the mode in place."""
        for key, pos in list(self.positions.items()):
            self.positions[key] = admitted = self.admit(pos)
            if admitted.qty != 0 and admitted.symbol not in self.marks:
                raise EngineError(f"held symbol {pos.symbol} has no mark price")

    def admit(self, pos: Position) -> Position:
        """`pos` as this account holds it, or `EngineError` when the engine cannot value it.

        A leg needs its contract's data and bracket table (and, inverse, a contract size and a
        positive entry price: its uPnL is qty × size × (1/entry − 1/mark)). Isolated margin
        exists only in the single-asset modes; Binance has none in Multi-Assets or Portfolio
        Margin, so an "isolated" flag there is read as cross, the same way by every consumer.
        """
        if pos.isolated and self.mode not in (Mode.USDM, Mode.COINM):
            pos = Position(pos.symbol, pos.side, pos.qty, pos.entry_price)
        if pos.qty == 0:
            return pos
        contract = self.contracts.get(pos.symbol)
        if contract is None:
            raise EngineError(f"held symbol {pos.symbol} has no contract data (exchangeInfo)")
        if not contract.brackets.floors:
            raise EngineError(f"held symbol {pos.symbol} has no leverage bracket table")
        if contract.kind is ContractKind.INVERSE:
            if not contract.contract_size > 0:
                raise EngineError(f"held symbol {pos.symbol} has no contract size (exchangeInfo)")
            if not pos.entry_price > 0:
                raise EngineError(
                    f"inverse leg {pos.symbol} {pos.side} has entry price {pos.entry_price:g}:"
                    " its uPnL cannot be computed"
                )
        return pos

    def margin_loan_mmr(self) -> float:
        """The margin-loan maintenance margin rate for the configured margin leverage."""
        return MARGIN_LOAN_MMR.get(self.margin_leverage, MARGIN_LOAN_MMR[3])


class EngineError(ValueError):
    """Inputs the engine cannot compute with (missing brackets, contract size, mark price)."""
