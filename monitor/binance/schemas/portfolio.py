"""Portfolio Margin REST: `/papi` (account, balances, UM and CM positions) and the `/sapi`
portfolio endpoints (collateral rates, asset index prices).

The bodies of wire.md §4 for Portfolio Margin, and the collateral inputs of wire.md §2:
`/papi/v1/account` (uniMMR, status, open loss), `/papi/v1/balance` (cross-margin leg and the UM
and CM wallets), `/papi/v1/um|cm/positionRisk` (PM futures are cross only),
`/sapi/v1|v2/portfolio/collateralRate` (flat and tiered rates) and
`/sapi/v1/portfolio/asset-index-price`. PM's leverage brackets are the USDⓈ-M and COIN-M models
(`usdm.BinanceUsdmLeverageBracket`, `coinm.BinanceCoinmLeverageBracket`).
"""

from __future__ import annotations

from monitor.binance.schemas.common import PositionRiskRow, WireFloat, WireInt, WireModel


class BinancePmAccount(WireModel):
    """`GET /papi/v1/account` (uniMMR, status, open loss; `""` reads 0)."""

    uniMMR: WireFloat = 0.0
    accountEquity: WireFloat = 0.0
    actualEquity: WireFloat = 0.0
    accountInitialMargin: WireFloat = 0.0
    accountMaintMargin: WireFloat = 0.0
    accountStatus: str
    virtualMaxWithdrawAmount: WireFloat = 0.0
    totalAvailableBalance: WireFloat = 0.0
    totalMarginOpenLoss: WireFloat = 0.0
    updateTime: WireInt = 0


class BinancePmBalance(WireModel):
    """`GET /papi/v1/balance`, one asset (cross-margin leg, UM and CM wallets)."""

    asset: str
    totalWalletBalance: WireFloat = 0.0
    crossMarginAsset: WireFloat = 0.0
    crossMarginBorrowed: WireFloat
    crossMarginFree: WireFloat
    crossMarginInterest: WireFloat
    crossMarginLocked: WireFloat
    umWalletBalance: WireFloat
    umUnrealizedPNL: WireFloat = 0.0
    cmWalletBalance: WireFloat
    cmUnrealizedPNL: WireFloat = 0.0
    negativeBalance: WireFloat = 0.0
    updateTime: WireInt = 0


class PmPositionRiskRow(PositionRiskRow):
    """Fields common to the PM UM and CM positionRisk rows (PM futures are cross only)."""

    leverage: WireFloat = 0.0


class BinancePmUmPositionRisk(PmPositionRiskRow):
    """One row of `GET /papi/v1/um/positionRisk`; `positionAmt` in base units."""

    maxNotionalValue: WireFloat = 0.0
    notional: WireFloat = 0.0


class BinancePmCmPositionRisk(PmPositionRiskRow):
    """One row of `GET /papi/v1/cm/positionRisk`; `positionAmt` in contracts."""

    maxQty: WireFloat = 0.0
    notionalValue: WireFloat = 0.0


class BinanceCollateralRate(WireModel):
    """`GET /sapi/v1/portfolio/collateralRate`, one asset (flat rate)."""

    asset: str
    collateralRate: WireFloat


class BinanceCollateralTierInfo(WireModel):
    """One tier of `/sapi/v2/portfolio/collateralRate` (USD value floor/cap)."""

    tierFloor: WireFloat
    tierCap: WireFloat
    collateralRate: WireFloat
    cum: WireFloat = 0.0


class BinanceTieredCollateralRate(WireModel):
    """`GET /sapi/v2/portfolio/collateralRate`, one asset (tiered rates)."""

    asset: str
    collateralInfo: list[BinanceCollateralTierInfo]


class BinanceAssetIndexPrice(WireModel):
    """`GET /sapi/v1/portfolio/asset-index-price`, one asset (USD index price)."""

    asset: str
    assetIndexPrice: WireFloat
    time: WireInt = 0
