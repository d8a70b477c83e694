"""Engine events: what can happen to an account, already decoded from the wire.

The book applies them in order (`Book.apply`). A `Resync` replaces the whole state atomically
(after a REST snapshot); every other event is a delta. Mark prices have a dedicated fast path
(`Book.on_mark`) that builds no objects; `MarkPrice` exists for uniform event streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.engine.brackets import BracketTable
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState


@dataclass(frozen=True, slots=True)
class MarkPrice:
    symbol: str
    price: float


@dataclass(frozen=True, slots=True)
class AssetRates:
    """Multi-Assets conversion rates of one margin asset (from `!assetIndex@arr`)."""

    asset: str
    bid_rate: float
    ask_rate: float


@dataclass(frozen=True, slots=True)
class AssetIndexPrice:
    """Portfolio Margin USD index price of one asset (`/sapi/v1/portfolio/asset-index-price`)."""

    asset: str
    price: float


@dataclass(frozen=True, slots=True)
class FuturesWallet:
    """A futures wallet balance (`ACCOUNT_UPDATE` `B[]`); `product` picks the PM wallet."""

    asset: str
    cross_wallet: float
    product: str = "UM"


@dataclass(frozen=True, slots=True)
class MarginBalance:
    """Portfolio Margin cross-margin balance of one asset (`outboundAccountPosition`)."""

    asset: str
    free: float
    locked: float


@dataclass(frozen=True, slots=True)
class MarginLiability:
    """Portfolio Margin margin loan of one asset after a `liabilityChange`.

    `total` is the whole liability left after the change (Binance's `l`: principal plus
    interest outstanding); `interest` is the interest amount of this transaction (`i`) and
    `kind` its type (`t`: BORROW, REPAY, INTEREST, ...), which only split `total` into principal
    and interest for display: every figure depends on the total alone.
    """

    asset: str
    total: float
    interest: float = 0.0
    kind: str = ""


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position leg's new size and entry price (`ACCOUNT_UPDATE` `P[]`). qty 0 closes it."""

    symbol: str
    side: str
    qty: float
    entry_price: float
    isolated: bool = False
    isolated_wallet: float = 0.0


@dataclass(frozen=True, slots=True)
class OpenLoss:
    """Portfolio Margin `totalMarginOpenLoss` in USD."""

    usd: float


@dataclass(frozen=True, slots=True)
class BracketUpdate:
    symbol: str
    brackets: BracketTable


@dataclass(frozen=True, slots=True)
class CollateralUpdate:
    asset: str
    tiers: CollateralTiers


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """An account status the exchange reported ("ok" for NORMAL)."""

    status: str


@dataclass(frozen=True, slots=True)
class Resync:
    """Replace the whole account state (a fresh REST snapshot). The book copies nothing."""

    state: AccountState


EngineEvent = (
    MarkPrice
    | AssetRates
    | AssetIndexPrice
    | FuturesWallet
    | MarginBalance
    | MarginLiability
    | PositionUpdate
    | OpenLoss
    | BracketUpdate
    | CollateralUpdate
    | AccountStatus
    | Resync
)
