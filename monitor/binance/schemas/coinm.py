"""COIN-M Futures REST (`/dapi`): account, positions, brackets, symbols (inverse contracts).

The bodies of wire.md §4 for COIN-M: `/dapi/v1/account`, `/dapi/v1/positionRisk`,
`/dapi/v2/leverageBracket` (per symbol; also read for PM's `/papi/v1/cm/leverageBracket`) and
the older per-pair `/dapi/v1/leverageBracket`, `/dapi/v1/exchangeInfo`. Amounts are in contracts
(`positionAmt`) and bracket floors and caps in coin. The rows COIN-M shares with USDⓈ-M are in
`common`.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field

from monitor.binance.schemas.common import (
    AccountPositionRow,
    BinanceFuturesAsset,
    BracketTier,
    MarginTypeRiskRow,
    WireFloat,
    WireInt,
    WireModel,
)


class BinanceCoinmAccountPosition(AccountPositionRow):
    """One `positions[]` entry of `GET /dapi/v1/account` (`positionAmt` in contracts)."""

    maxQty: WireFloat = 0.0


class BinanceCoinmAccount(WireModel):
    """`GET /dapi/v1/account` (balances per coin)."""

    assets: list[BinanceFuturesAsset]
    positions: list[BinanceCoinmAccountPosition] = Field(default_factory=list)
    updateTime: WireInt = 0


class BinanceCoinmPositionRisk(MarginTypeRiskRow):
    """One row of `GET /dapi/v1/positionRisk`; `positionAmt` in contracts."""

    maxQty: WireFloat = 0.0


class BinanceCoinmBracket(BracketTier):
    """One tier of a COIN-M bracket: floor/cap are notional in coin (`qtylFloor` sic on /dapi)."""

    qtyCap: WireFloat
    qtyFloor: WireFloat = Field(validation_alias=AliasChoices("qtyFloor", "qtylFloor"))


class BinanceCoinmLeverageBracket(WireModel):
    """`GET /dapi/v2/leverageBracket` and `/papi/v1/cm/leverageBracket`, one symbol."""

    symbol: str
    notionalCoef: WireFloat | None = None
    brackets: list[BinanceCoinmBracket]


class BinanceCoinmPairLeverageBracket(WireModel):
    """`GET /dapi/v1/leverageBracket`, one pair ("not recommended" by Binance; v2 preferred)."""

    pair: str
    brackets: list[BinanceCoinmBracket]


class BinanceCoinmSymbol(WireModel):
    """One `symbols[]` entry of `GET /dapi/v1/exchangeInfo`; `contractSize` in USD/contract."""

    symbol: str
    pair: str = ""
    contractType: str = ""
    contractStatus: str = ""
    contractSize: WireFloat
    baseAsset: str
    quoteAsset: str
    marginAsset: str


class BinanceCoinmExchangeInfo(WireModel):
    """`GET /dapi/v1/exchangeInfo`."""

    serverTime: WireInt = 0
    symbols: list[BinanceCoinmSymbol]
