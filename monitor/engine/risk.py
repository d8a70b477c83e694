"""The risk snapshot: the figures every consumer (alerts, /status, calc) reads.

`risk` is the one number alerts speak in: 1.0 means liquidation in every mode. Futures pools:
risk = maintenance margin / margin balance (Binance's margin ratio). Portfolio Margin:
risk = 1.05 / uniMMR. Zero or negative equity with anything at stake reports `RISK_CAP`.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.engine.model import Mode

#: Risk reported when equity is zero or negative (or the ratio exceeds it): far past liquidation.
RISK_CAP = 10.0


def pool_risk(equity: float, maint_margin: float, threshold: float) -> float:
    """threshold·MM/equity, never dividing by zero: ≥ 1 whenever equity ≤ threshold·MM."""
    if equity > 0.0:
        r = threshold * maint_margin / equity
        return r if r < RISK_CAP else RISK_CAP
    if maint_margin > 0.0 or equity < 0.0:
        return RISK_CAP
    return 0.0


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """One margin pool: a cross margin asset, an isolated leg, or the whole USD account."""

    key: str  # asset name, "USD", or "SYMBOL:SIDE" for an isolated leg
    unit: str  # the unit equity and MM are in (USDT, BTC, USD)
    equity: float
    maint_margin: float
    threshold: float  # equity = threshold·MM at liquidation (1 futures, 1.05 PM)
    isolated: bool
    risk: float


@dataclass(frozen=True, slots=True)
class AssetFigures:
    """Per asset: equity in asset units, its USD value (MA/PM), and MM in the account unit."""

    asset: str
    equity: float  # wallet (+ net margin balance in PM) + uPnL, in asset units
    equity_value: float  # in the account unit: same as equity (single-asset), USD (MA / PM)
    maint_margin: float  # in the account unit (USD for MA / PM)
    maint_margin_asset: float  # in asset units (futures MM, plus margin-loan MM in PM)


@dataclass(frozen=True, slots=True)
class LegFigures:
    symbol: str
    side: str
    qty: float
    entry_price: float
    mark_price: float
    unrealized_pnl: float
    maint_margin: float
    notional: float
    settle_asset: str
    isolated: bool
    isolated_wallet: float


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    mode: Mode
    risk: float
    pools: tuple[PoolFigures, ...]
    assets: tuple[AssetFigures, ...]
    legs: tuple[LegFigures, ...]
    status: str

    @property
    def headline(self) -> PoolFigures | None:
        """The cross pool that sets the account's margin ratio (worst risk, then largest MM)."""
        cross = [p for p in self.pools if not p.isolated]
        if not cross:
            return None
        return max(cross, key=lambda p: (p.risk, p.maint_margin, abs(p.equity)))

    @property
    def equity(self) -> float:
        head = self.headline
        return head.equity if head else 0.0

    @property
    def maint_margin(self) -> float:
        head = self.headline
        return head.maint_margin if head else 0.0

    @property
    def unit(self) -> str:
        head = self.headline
        return head.unit if head else "USD"

    @property
    def margin_ratio(self) -> float | None:
        """Futures modes: MM / margin balance of the worst cross margin asset. PM: None."""
        if self.mode is Mode.PORTFOLIO_MARGIN:
            return None
        head = self.headline
        return head.risk if head else 0.0

    @property
    def uni_mmr(self) -> float | None:
        """PM only: adjusted equity / MM; None when there is no MM (infinitely safe)."""
        if self.mode is not Mode.PORTFOLIO_MARGIN:
            return None
        head = self.headline
        if head is None or head.maint_margin <= 0.0:
            return None
        return head.equity / head.maint_margin
