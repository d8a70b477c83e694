"""Typed schemas of every Binance REST response and stream message the monitor reads.

One frozen pydantic model per Binance message, named after it (`BinanceFuturesAccountUpdateMsg`,
`BinanceUsdmPositionRiskV3`, ...). Field names are Binance's own, so a model reads like the wire
spec (docs/wire.md). Unknown fields are ignored (Binance adds `st`, `ps`, `er`, ... over time).
Decimal strings become floats through `WireFloat`, which also takes JSON numbers and reads the
empty string Binance sends for "no value" as 0.0; times and ids go through `WireInt` (an int or
a numeric string: `updateTime: "0"`, `E: "1736996475556"`). `parse_rest` dispatches a REST body
by its path, `parse_user_event` a user-stream event by its `e`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


class WireError(ValueError):
    """A Binance payload that cannot be decoded: bad JSON, wrong type, missing field."""


class UnknownPath(WireError):
    """A REST path this module has no schema for."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no schema for REST path {path!r} (see recording.md for the known paths)")
        self.path = path


class UnknownEvent(WireError):
    """A user-stream event whose `e` this module has no schema for."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown user-stream event {name!r}")
        self.name = name


class ExchangeError(WireError):
    """A REST body that is a Binance error (`{"code": -2015, "msg": "..."}`) instead of data."""

    def __init__(self, path: str, code: int, msg: str) -> None:
        super().__init__(f"{path}: Binance error {code}: {msg}")
        self.path, self.code, self.msg = path, code, msg


# ---------------------------------------------------------------------------------- field types
#: No Binance amount, balance or quantity comes near this; the bound keeps every sum and product
#: the engine forms finite (1e20 × a price of at most 1e12 is far below the float range).
WIRE_MAX = 1e20
#: Prices and rates outside this range are not prices of anything Binance lists (the smallest
#: quoted assets trade near 1e-8, the largest contracts near 1e6): a frame carrying one is
#: damaged, and a denormal or a 1e308 "price" would turn the figures into 0/0 or inf − inf.
PRICE_MIN, PRICE_MAX = 1e-12, 1e12


def plausible_price(value: float) -> bool:
    """Whether `value` can be a price or conversion rate (positive, in [PRICE_MIN, PRICE_MAX])."""
    return PRICE_MIN <= value <= PRICE_MAX


def checked_price(value: float, what: str) -> float:
    """`value` if it is a plausible price, else `WireError` naming `what`."""
    if not plausible_price(value):
        raise WireError(f"{what}: {value!r} is not a plausible price")
    return value


def _to_float(value: object) -> float:
    """A decimal string or JSON number as a finite float; Binance's empty string reads 0.0."""
    if isinstance(value, str):
        if value == "":
            return 0.0
        result = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError as exc:
            raise ValueError("number too large for a float") from exc
    else:
        raise ValueError(f"expected a decimal string or a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    if abs(result) > WIRE_MAX:
        raise ValueError(f"{value!r} is beyond any plausible Binance figure (|x| > {WIRE_MAX:g})")
    return result


def _to_int(value: object) -> int:
    """An int, or a string of digits (Binance sends `E` and `updateTime` both ways)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if not value.isascii():
            raise ValueError(f"expected ASCII digits, got {value!r}")
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer or a numeric string, got {value!r}")


def _to_bool(value: object) -> bool:
    """A JSON boolean, or the strings "true"/"false" (`isAutoAddMargin`)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f'expected a boolean or "true"/"false", got {value!r}')


WireFloat = Annotated[float, BeforeValidator(_to_float)]
WireInt = Annotated[int, BeforeValidator(_to_int)]
WireBool = Annotated[bool, BeforeValidator(_to_bool)]


class WireModel(BaseModel):
    """Base of every schema: frozen, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------------------------- USDⓈ-M REST
class BinanceMultiAssetsMargin(WireModel):
    """`GET /fapi/v1/multiAssetsMargin`."""

    multiAssetsMargin: WireBool


class BinancePositionSideDual(WireModel):
    """`GET /fapi/v1/positionSide/dual` and `/dapi/v1/positionSide/dual` (hedge mode on/off)."""

    dualSidePosition: WireBool


class BinanceFuturesAsset(WireModel):
    """One `assets[]` entry of `/fapi/v2|v3/account` and `/dapi/v1/account`."""

    asset: str
    walletBalance: WireFloat = 0.0
    unrealizedProfit: WireFloat = 0.0
    marginBalance: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    initialMargin: WireFloat = 0.0
    crossWalletBalance: WireFloat
    crossUnPnl: WireFloat = 0.0
    availableBalance: WireFloat = 0.0
    maxWithdrawAmount: WireFloat = 0.0
    marginAvailable: WireBool | None = None
    updateTime: WireInt = 0


class _AccountPositionRow(WireModel):
    """Fields common to `positions[]` of `/fapi/v2/account` and `/dapi/v1/account`."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    entryPrice: WireFloat = 0.0
    unrealizedProfit: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    initialMargin: WireFloat = 0.0
    leverage: WireFloat = 0.0
    isolated: WireBool = False
    updateTime: WireInt = 0


class BinanceUsdmAccountV2Position(_AccountPositionRow):
    """One `positions[]` entry of `/fapi/v2/account` (every symbol, with leverage)."""

    maxNotional: WireFloat = 0.0


class BinanceUsdmAccountV3Position(WireModel):
    """One `positions[]` entry of `/fapi/v3/account` (held symbols only, reduced fields)."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    unrealizedProfit: WireFloat = 0.0
    isolatedMargin: WireFloat = 0.0
    notional: WireFloat = 0.0
    isolatedWallet: WireFloat = 0.0
    initialMargin: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    updateTime: WireInt = 0


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

    positions: list[BinanceUsdmAccountV2Position] = []


class BinanceUsdmAccountV3(_UsdmAccount):
    """`GET /fapi/v3/account`."""

    positions: list[BinanceUsdmAccountV3Position] = []


class BinanceUsdmPositionRiskV2(WireModel):
    """One row of `GET /fapi/v2/positionRisk` (one per symbol and side)."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    entryPrice: WireFloat
    breakEvenPrice: WireFloat = 0.0
    markPrice: WireFloat = 0.0
    unRealizedProfit: WireFloat = 0.0
    liquidationPrice: WireFloat = 0.0
    leverage: WireFloat = 0.0
    maxNotionalValue: WireFloat = 0.0
    marginType: str = "cross"
    isolatedMargin: WireFloat = 0.0
    isAutoAddMargin: WireBool = False
    notional: WireFloat = 0.0
    #: Absent from older rows (the 2020-21 docs example): derive it with
    #: `snapshot.isolated_wallet` (isolatedMargin − unRealizedProfit), never read it as 0.
    isolatedWallet: WireFloat | None = None
    updateTime: WireInt = 0


class BinanceUsdmPositionRiskV3(WireModel):
    """One row of `GET /fapi/v3/positionRisk` (held symbols only; no leverage / marginType)."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    entryPrice: WireFloat
    breakEvenPrice: WireFloat = 0.0
    markPrice: WireFloat = 0.0
    unRealizedProfit: WireFloat = 0.0
    liquidationPrice: WireFloat = 0.0
    isolatedMargin: WireFloat = 0.0
    notional: WireFloat = 0.0
    marginAsset: str | None = None
    #: None when absent; see `BinanceUsdmPositionRiskV2.isolatedWallet`.
    isolatedWallet: WireFloat | None = None
    initialMargin: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    positionInitialMargin: WireFloat = 0.0
    openOrderInitialMargin: WireFloat = 0.0
    adl: WireInt = 0
    updateTime: WireInt = 0


class BinanceUsdmBracket(WireModel):
    """One tier of a USDⓈ-M leverage bracket: floor/cap in notional (quote asset)."""

    bracket: WireInt
    initialLeverage: WireFloat = 0.0
    notionalCap: WireFloat
    notionalFloor: WireFloat
    maintMarginRatio: WireFloat
    cum: WireFloat


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


class BinancePremiumIndex(WireModel):
    """`GET /fapi/v1/premiumIndex` and `/dapi/v1/premiumIndex`, one symbol (mark and index)."""

    symbol: str
    pair: str | None = None
    markPrice: WireFloat
    indexPrice: WireFloat = 0.0
    estimatedSettlePrice: WireFloat = 0.0
    lastFundingRate: WireFloat = 0.0
    interestRate: WireFloat = 0.0
    nextFundingTime: WireInt = 0
    time: WireInt = 0


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
    assets: list[BinanceExchangeAsset] = []
    symbols: list[BinanceUsdmSymbol]


# ---------------------------------------------------------------------------------- COIN-M REST
class BinanceCoinmAccountPosition(_AccountPositionRow):
    """One `positions[]` entry of `GET /dapi/v1/account` (`positionAmt` in contracts)."""

    maxQty: WireFloat = 0.0


class BinanceCoinmAccount(WireModel):
    """`GET /dapi/v1/account` (balances per coin)."""

    assets: list[BinanceFuturesAsset]
    positions: list[BinanceCoinmAccountPosition] = []
    updateTime: WireInt = 0


class BinanceCoinmPositionRisk(WireModel):
    """One row of `GET /dapi/v1/positionRisk`; `positionAmt` in contracts."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    entryPrice: WireFloat
    breakEvenPrice: WireFloat = 0.0
    markPrice: WireFloat = 0.0
    unRealizedProfit: WireFloat = 0.0
    liquidationPrice: WireFloat = 0.0
    leverage: WireFloat = 0.0
    maxQty: WireFloat = 0.0
    marginType: str = "cross"
    isolatedMargin: WireFloat = 0.0
    isolatedWallet: WireFloat | None = None
    isAutoAddMargin: WireBool = False
    updateTime: WireInt = 0


class BinanceCoinmBracket(WireModel):
    """One tier of a COIN-M bracket: floor/cap are notional in coin (`qtylFloor` sic on /dapi)."""

    bracket: WireInt
    initialLeverage: WireFloat = 0.0
    qtyCap: WireFloat
    qtyFloor: WireFloat = Field(validation_alias=AliasChoices("qtyFloor", "qtylFloor"))
    maintMarginRatio: WireFloat
    cum: WireFloat


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


# ------------------------------------------------------------------------- Portfolio Margin REST
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


class _PmPositionRiskRow(WireModel):
    """Fields common to the PM UM and CM positionRisk rows (PM futures are cross only)."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    entryPrice: WireFloat
    markPrice: WireFloat = 0.0
    unRealizedProfit: WireFloat = 0.0
    liquidationPrice: WireFloat = 0.0
    leverage: WireFloat = 0.0
    updateTime: WireInt = 0


class BinancePmUmPositionRisk(_PmPositionRiskRow):
    """One row of `GET /papi/v1/um/positionRisk`; `positionAmt` in base units."""

    maxNotionalValue: WireFloat = 0.0
    notional: WireFloat = 0.0


class BinancePmCmPositionRisk(_PmPositionRiskRow):
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


# ---------------------------------------------------------------------------------- market streams
class BinanceMarkPriceUpdateMsg(WireModel):
    """`markPriceUpdate` (UM and CM; `st` 1 = UM, 2 = CM since 2026-06)."""

    e: Literal["markPriceUpdate"]
    E: WireInt
    s: str
    p: WireFloat
    i: WireFloat = 0.0
    P: WireFloat = 0.0
    r: WireFloat = 0.0
    T: WireInt = 0
    st: WireInt | None = None


class BinanceAssetIndexUpdateMsg(WireModel):
    """`assetIndexUpdate` (`!assetIndex@arr`): `B`/`A` are the bid/ask conversion rates."""

    e: Literal["assetIndexUpdate"]
    E: WireInt
    s: str
    i: WireFloat
    b: WireFloat = 0.0
    a: WireFloat = 0.0
    B: WireFloat
    A: WireFloat
    q: WireFloat = 0.0
    g: WireFloat = 0.0
    Q: WireFloat = 0.0
    G: WireFloat = 0.0


class BinanceIndexPriceUpdateMsg(WireModel):
    """COIN-M `indexPriceUpdate`: `i` is the pair (BTCUSD), `p` its index price."""

    e: Literal["indexPriceUpdate"]
    E: WireInt
    i: str
    p: WireFloat


class BinanceCombinedStreamMsg(WireModel):
    """The combined-stream wrapper `{"stream": name, "data": payload}`."""

    stream: str
    data: dict[str, object] | list[object]


class BinanceSubscriptionAck(WireModel):
    """Reply to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS: `{"result": null, "id": 1}`."""

    result: list[str] | None
    id: WireInt


# ---------------------------------------------------------------------------------- user events
class BinanceBalance(WireModel):
    """`ACCOUNT_UPDATE` `a.B[]`: wallet `wb`, cross wallet `cw`, change `bc` (absent in 2021)."""

    a: str
    wb: WireFloat
    cw: WireFloat
    bc: WireFloat = 0.0


class BinancePosition(WireModel):
    """`ACCOUNT_UPDATE` `a.P[]`; PM items have no `mt`/`iw` (cross only)."""

    s: str
    pa: WireFloat
    ep: WireFloat
    bep: WireFloat = 0.0
    cr: WireFloat = 0.0
    up: WireFloat = 0.0
    mt: str = "cross"
    iw: WireFloat = 0.0
    ps: str = "BOTH"
    ma: str | None = None


class BinanceAccountUpdateData(WireModel):
    """`ACCOUNT_UPDATE` `a`: reason `m`, changed balances `B`, changed positions `P`."""

    m: str = ""
    B: list[BinanceBalance] = []
    P: list[BinancePosition] = []


class BinanceFuturesAccountUpdateMsg(WireModel):
    """`ACCOUNT_UPDATE` (a delta): UM; CM adds alias `i`; PM adds business unit `fs`."""

    e: Literal["ACCOUNT_UPDATE"]
    E: WireInt
    T: WireInt = 0
    i: str | None = None
    fs: str | None = None
    a: BinanceAccountUpdateData


class BinanceOrderData(WireModel):
    """`ORDER_TRADE_UPDATE` `o` (the fields the monitor reads or logs)."""

    s: str
    c: str = ""
    S: str = ""
    o: str = ""
    q: WireFloat = 0.0
    p: WireFloat = 0.0
    ap: WireFloat = 0.0
    x: str = ""
    X: str = ""
    i: WireInt = 0
    l: WireFloat = 0.0  # noqa: E741 (Binance's name: last filled quantity)
    z: WireFloat = 0.0
    L: WireFloat = 0.0
    T: WireInt = 0
    t: WireInt = 0
    R: WireBool = False
    ps: str = "BOTH"
    rp: WireFloat = 0.0


class BinanceFuturesOrderUpdateMsg(WireModel):
    """`ORDER_TRADE_UPDATE` (UM, CM with `i`, PM with `fs`)."""

    e: Literal["ORDER_TRADE_UPDATE"]
    E: WireInt
    T: WireInt = 0
    i: str | None = None
    fs: str | None = None
    o: BinanceOrderData


class BinanceTradeLiteMsg(WireModel):
    """`TRADE_LITE`: fills only; `i` (order id) may exceed 2^53 and stays an int."""

    e: Literal["TRADE_LITE"]
    E: WireInt
    T: WireInt = 0
    s: str
    q: WireFloat = 0.0
    p: WireFloat = 0.0
    m: WireBool = False
    c: str = ""
    S: str = ""
    L: WireFloat = 0.0
    l: WireFloat = 0.0  # noqa: E741 (Binance's name: last filled quantity)
    t: WireInt = 0
    i: WireInt = 0


class BinanceMarginCallPosition(WireModel):
    """One `MARGIN_CALL` `p[]` item."""

    s: str
    ps: str = "BOTH"
    pa: WireFloat
    mt: str = "CROSSED"
    iw: WireFloat = 0.0
    mp: WireFloat
    up: WireFloat = 0.0
    mm: WireFloat


class BinanceMarginCallMsg(WireModel):
    """`MARGIN_CALL` (UM, CM with `i`); `cw` only for cross."""

    e: Literal["MARGIN_CALL"]
    E: WireInt
    i: str | None = None
    cw: WireFloat | None = None
    p: list[BinanceMarginCallPosition] = []


class BinanceLeverageConfig(WireModel):
    """`ACCOUNT_CONFIG_UPDATE` `ac`: symbol and new leverage."""

    s: str
    l: WireInt  # noqa: E741 (Binance's name: leverage)


class BinanceMultiAssetsConfig(WireModel):
    """`ACCOUNT_CONFIG_UPDATE` `ai`: Multi-Assets mode on/off."""

    j: WireBool


class BinanceAccountConfigUpdateMsg(WireModel):
    """`ACCOUNT_CONFIG_UPDATE`: leverage (`ac`) or Multi-Assets mode (`ai`); PM adds `fs`."""

    e: Literal["ACCOUNT_CONFIG_UPDATE"]
    E: WireInt
    T: WireInt = 0
    fs: str | None = None
    ac: BinanceLeverageConfig | None = None
    ai: BinanceMultiAssetsConfig | None = None


class BinanceListenKeyExpiredMsg(WireModel):
    """`listenKeyExpired`: `E` is a string on UM, a number on CM/PM; PM has no `listenKey`."""

    e: Literal["listenKeyExpired"]
    E: WireInt
    listenKey: str | None = None


class BinanceRiskLevelChangeMsg(WireModel):
    """PM `riskLevelChange`: uniMMR `u`, status `s`, equity `eq`/`ae`, maintenance `m` (USD)."""

    e: Literal["riskLevelChange"]
    E: WireInt
    u: WireFloat
    s: str
    eq: WireFloat = 0.0
    ae: WireFloat = 0.0
    m: WireFloat = 0.0


class BinanceBalanceUpdateMsg(WireModel):
    """PM `balanceUpdate`: a cross-margin balance delta `d` of asset `a`."""

    e: Literal["balanceUpdate"]
    E: WireInt
    a: str
    d: WireFloat
    U: WireInt = 0
    T: WireInt = 0


class BinanceMarginAssetBalance(WireModel):
    """One `outboundAccountPosition` `B[]` item: free `f`, locked `l`."""

    a: str
    f: WireFloat
    l: WireFloat  # noqa: E741 (Binance's name: locked)


class BinanceOutboundAccountPositionMsg(WireModel):
    """PM `outboundAccountPosition`: cross-margin balances of the assets that changed."""

    e: Literal["outboundAccountPosition"]
    E: WireInt
    u: WireInt = 0
    U: WireInt = 0
    B: list[BinanceMarginAssetBalance]


class BinanceLiabilityChangeMsg(WireModel):
    """PM `liabilityChange`: principal `p`, interest `i`, total `l`; `T` exceeds 2^53 (int)."""

    e: Literal["liabilityChange"]
    E: WireInt
    a: str
    t: str = ""
    T: WireInt = 0
    p: WireFloat
    i: WireFloat
    l: WireFloat  # noqa: E741 (Binance's name: the total liability after the change)


class BinanceOpenOrderLoss(WireModel):
    """One `openOrderLoss` `O[]` item: asset `a`, amount `o` (negative)."""

    a: str
    o: WireFloat


class BinanceOpenOrderLossMsg(WireModel):
    """PM `openOrderLoss`: cross-margin open-order loss per asset."""

    e: Literal["openOrderLoss"]
    E: WireInt
    O: list[BinanceOpenOrderLoss]  # noqa: E741 (Binance's name)


UserEvent = (
    BinanceFuturesAccountUpdateMsg
    | BinanceFuturesOrderUpdateMsg
    | BinanceTradeLiteMsg
    | BinanceMarginCallMsg
    | BinanceAccountConfigUpdateMsg
    | BinanceListenKeyExpiredMsg
    | BinanceRiskLevelChangeMsg
    | BinanceBalanceUpdateMsg
    | BinanceOutboundAccountPositionMsg
    | BinanceLiabilityChangeMsg
    | BinanceOpenOrderLossMsg
)

USER_EVENTS: dict[str, type[UserEvent]] = {
    "ACCOUNT_UPDATE": BinanceFuturesAccountUpdateMsg,
    "ORDER_TRADE_UPDATE": BinanceFuturesOrderUpdateMsg,
    "TRADE_LITE": BinanceTradeLiteMsg,
    "MARGIN_CALL": BinanceMarginCallMsg,
    "ACCOUNT_CONFIG_UPDATE": BinanceAccountConfigUpdateMsg,
    "listenKeyExpired": BinanceListenKeyExpiredMsg,
    "riskLevelChange": BinanceRiskLevelChangeMsg,
    "balanceUpdate": BinanceBalanceUpdateMsg,
    "outboundAccountPosition": BinanceOutboundAccountPositionMsg,
    "liabilityChange": BinanceLiabilityChangeMsg,
    "openOrderLoss": BinanceOpenOrderLossMsg,
}


# ---------------------------------------------------------------------------------- dispatch
#: REST body shapes: a JSON object, a JSON array of objects, or either (endpoints that return an
#: object when called with `symbol=` / `asset=` and an array without it).
OBJECT, ARRAY, EITHER = "object", "array", "either"

REST_SCHEMAS: dict[str, tuple[type[WireModel], str]] = {
    "/fapi/v1/multiAssetsMargin": (BinanceMultiAssetsMargin, OBJECT),
    "/fapi/v1/positionSide/dual": (BinancePositionSideDual, OBJECT),
    "/dapi/v1/positionSide/dual": (BinancePositionSideDual, OBJECT),
    "/fapi/v2/account": (BinanceUsdmAccountV2, OBJECT),
    "/fapi/v3/account": (BinanceUsdmAccountV3, OBJECT),
    "/fapi/v2/positionRisk": (BinanceUsdmPositionRiskV2, ARRAY),
    "/fapi/v3/positionRisk": (BinanceUsdmPositionRiskV3, ARRAY),
    "/fapi/v1/leverageBracket": (BinanceUsdmLeverageBracket, EITHER),
    "/fapi/v1/assetIndex": (BinanceAssetIndex, EITHER),
    "/fapi/v1/premiumIndex": (BinancePremiumIndex, EITHER),
    "/fapi/v1/exchangeInfo": (BinanceUsdmExchangeInfo, OBJECT),
    "/dapi/v1/account": (BinanceCoinmAccount, OBJECT),
    "/dapi/v1/positionRisk": (BinanceCoinmPositionRisk, ARRAY),
    "/dapi/v2/leverageBracket": (BinanceCoinmLeverageBracket, EITHER),
    "/dapi/v1/leverageBracket": (BinanceCoinmPairLeverageBracket, EITHER),
    "/dapi/v1/exchangeInfo": (BinanceCoinmExchangeInfo, OBJECT),
    "/dapi/v1/premiumIndex": (BinancePremiumIndex, EITHER),
    "/papi/v1/account": (BinancePmAccount, OBJECT),
    "/papi/v1/balance": (BinancePmBalance, EITHER),
    "/papi/v1/um/positionRisk": (BinancePmUmPositionRisk, ARRAY),
    "/papi/v1/cm/positionRisk": (BinancePmCmPositionRisk, ARRAY),
    "/papi/v1/um/leverageBracket": (BinanceUsdmLeverageBracket, EITHER),
    "/papi/v1/cm/leverageBracket": (BinanceCoinmLeverageBracket, EITHER),
    "/sapi/v1/portfolio/collateralRate": (BinanceCollateralRate, ARRAY),
    "/sapi/v2/portfolio/collateralRate": (BinanceTieredCollateralRate, ARRAY),
    "/sapi/v1/portfolio/asset-index-price": (BinanceAssetIndexPrice, EITHER),
}

M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError, limit: int = 3) -> str:
    """Pydantic's errors as `field.path[0].name: message; ...` (the first `limit` of them)."""
    parts = []
    for err in exc.errors()[:limit]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        parts.append(f"{where.lstrip('.') or '<root>'}: {err['msg']}")
    extra = exc.error_count() - limit
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


def validate(model: type[M], data: object, where: str) -> M:
    """`model.model_validate(data)`, raising `WireError` naming `where` and the field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WireError(f"{where}: {describe(exc)}") from exc


def _check_error_body(path: str, data: object) -> None:
    if isinstance(data, dict) and "code" in data and "msg" in data and len(data) == 2:
        code, msg = data["code"], data["msg"]
        raise ExchangeError(path, code if isinstance(code, int) else -1, str(msg))


def parse_rest(path: str, data: object) -> BaseModel | list[BaseModel]:
    """Decode the JSON body of the REST response for `path` (a query string is ignored).

    Returns one model for object bodies and a list for array bodies. Raises `UnknownPath` for a
    path without a schema, `ExchangeError` for a Binance error body and `WireError` otherwise.
    """
    bare = path.split("?", 1)[0]
    spec = REST_SCHEMAS.get(bare)
    if spec is None:
        raise UnknownPath(bare)
    model, shape = spec
    _check_error_body(bare, data)
    if isinstance(data, list):
        if shape == OBJECT:
            raise WireError(f"{bare}: expected a JSON object, got an array")
        return [validate(model, item, f"{bare}[{n}]") for n, item in enumerate(data)]
    if shape == ARRAY:
        raise WireError(f"{bare}: expected a JSON array, got {type(data).__name__}")
    return validate(model, data, bare)


def parse_rest_items(path: str, data: object, model: type[M]) -> list[M]:
    """`parse_rest` as a list of `model` (an object body becomes a one-item list)."""
    expected = REST_SCHEMAS.get(path.split("?", 1)[0], (None, ""))[0]
    if expected is not model:
        raise TypeError(f"{path} decodes to {expected}, not {model.__name__}")
    parsed = parse_rest(path, data)
    items = parsed if isinstance(parsed, list) else [parsed]
    return [item for item in items if isinstance(item, model)]


def parse_user_event(obj: object) -> UserEvent:
    """Decode one user-stream event (bare, or in the `{"stream", "data"}` wrapper) by its `e`."""
    if isinstance(obj, dict) and "data" in obj and "stream" in obj:
        obj = obj["data"]
    if not isinstance(obj, dict):
        raise WireError(f"user event: expected a JSON object, got {type(obj).__name__}")
    name = obj.get("e")
    if not isinstance(name, str):
        raise WireError(f"user event: missing or non-string event type 'e' ({name!r})")
    model = USER_EVENTS.get(name)
    if model is None:
        raise UnknownEvent(name)
    return validate(model, obj, name)
