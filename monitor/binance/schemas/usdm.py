"""USDⓈ-M Futures REST (`/fapi`): account, positions, brackets, Multi-Assets rates, symbols.

The bodies of wire.md §4 for single-asset and Multi-Assets mode: `/fapi/v2|v3/account`,
`/fapi/v2|v3/positionRisk`, `/fapi/v1/leverageBracket` (also read for PM's
`/papi/v1/um/leverageBracket`), `/fapi/v1/assetIndex` (Multi-Assets bid/ask rates, wire.md §2),
`/fapi/v1/exchangeInfo` and `/fapi/v1/multiAssetsMargin`. The rows UM shares with COIN-M
(`BinanceFuturesAsset`, `BinancePremiumIndex`, `BinancePositionSideDual`) are in `common`.
"""

from __future__ import annotations

from pydantic import Field

from monitor.binance.schemas.common import (
    AccountPositionRow,
    BinanceFuturesAsset,
    BracketTier,
    FuturesPositionRiskRow,
    MarginTypeRiskRow,
    PositionRow,
    WireBool,
    WireFloat,
    WireInt,
    WireModel,
)


class BinanceMultiAssetsMargin(WireModel):
    """`GET /fapi/v1/multiAssetsMargin`."""

    multiAssetsMargin: WireBool


class BinanceUsdmAccountV2Position(AccountPositionRow):
    """One `positions[]` entry of `/fapi/v2/account` (every symbol, with leverage)."""

    maxNotional: WireFloat = 0.0


class BinanceUsdmAccountV3Position(PositionRow):
    """One `positions[]` entry of `/fapi/v3/account` (held symbols only, reduced fields)."""

    unrealizedProfit: WireFloat = 0.0
    isolatedMargin: WireFloat = 0.0
    notional: WireFloat = 0.0
    isolatedWallet: WireFloat = 0.0
    initialMargin: WireFloat = 0.0
    maintMargin: WireFloat = 0.0


class _UsdmAccount(WireModel):
    """What `/fapi/v2/account` and `/fapi/v3/account` share: totals and `assets[]`."""

    assets: list[BinanceFuturesAsset]
    totalInitialMargin: WireFloat = 0.0
    totalMaintMargin: WireFloat = 0.0
    totalWalletBalance: WireFloat = 0.0
    totalUnrealizedProfit: WireFloat = 0.0
    totalMarginBalance: WireFloat = 0.0
    totalCrossWalletBalance: WireFloat = 0.0
    totalCrossUnPnl: WireFloat = 0.0
    availableBalance: WireFloat = 0.0
    maxWithdrawAmount: WireFloat = 0.0
    #: Multi-Assets mode; the v2 docs list it, live v3 bodies carry it too. A mode source only
    #: when `/fapi/v1/multiAssetsMargin` was not fetched (`snapshot.multi_assets_flag`).
    multiAssetsMargin: WireBool | None = None


class BinanceUsdmAccountV2(_UsdmAccount):
    """`GET /fapi/v2/account`."""

    positions: list[BinanceUsdmAccountV2Position] = Field(default_factory=list)


class BinanceUsdmAccountV3(_UsdmAccount):
    """`GET /fapi/v3/account`."""

    positions: list[BinanceUsdmAccountV3Position] = Field(default_factory=list)


class BinanceUsdmPositionRiskV2(MarginTypeRiskRow):
    """One row of `GET /fapi/v2/positionRisk` (one per symbol and side)."""

    maxNotionalValue: WireFloat = 0.0
    notional: WireFloat = 0.0


class BinanceUsdmPositionRiskV3(FuturesPositionRiskRow):
    """One row of `GET /fapi/v3/positionRisk` (held symbols only; no leverage / marginType)."""

    notional: WireFloat = 0.0
    marginAsset: str | None = None
    initialMargin: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    positionInitialMargin: WireFloat = 0.0
    openOrderInitialMargin: WireFloat = 0.0
    adl: WireInt = 0


class BinanceUsdmBracket(BracketTier):
    """One tier of a USDⓈ-M leverage bracket: floor/cap in notional (quote asset)."""

    notionalCap: WireFloat
    notionalFloor: WireFloat


class BinanceUsdmLeverageBracket(WireModel):
    """`GET /fapi/v1/leverageBracket` and `/papi/v1/um/leverageBracket`, one symbol.

    `notionalCoef` (a number on /fapi, a string on /papi) is informational: the floors and caps
    returned are already the user's own.
    """

    symbol: str
    notionalCoef: WireFloat | None = None
    brackets: list[BinanceUsdmBracket]


class BinanceAssetIndex(WireModel):
    """`GET /fapi/v1/assetIndex`, one `XUSD` symbol: Multi-Assets bid/ask conversion rates."""

    symbol: str
    time: WireInt = 0
    index: WireFloat
    bidBuffer: WireFloat = 0.0
    askBuffer: WireFloat = 0.0
    bidRate: WireFloat
    askRate: WireFloat
    autoExchangeBidBuffer: WireFloat = 0.0
    autoExchangeAskBuffer: WireFloat = 0.0
    autoExchangeBidRate: WireFloat = 0.0
    autoExchangeAskRate: WireFloat = 0.0


class BinanceUsdmSymbol(WireModel):
    """One `symbols[]` entry of `GET /fapi/v1/exchangeInfo`."""

    symbol: str
    pair: str = ""
    contractType: str = ""
    status: str = ""
    baseAsset: str
    quoteAsset: str
    marginAsset: str


class BinanceExchangeAsset(WireModel):
    """One `assets[]` entry of `GET /fapi/v1/exchangeInfo` (`autoAssetExchange` varies in type)."""

    asset: str
    marginAvailable: WireBool = False
    autoAssetExchange: WireFloat | None = None


class BinanceUsdmExchangeInfo(WireModel):
    """`GET /fapi/v1/exchangeInfo`."""

    serverTime: WireInt = 0
    assets: list[BinanceExchangeAsset] = Field(default_factory=list)
    symbols: list[BinanceUsdmSymbol]
