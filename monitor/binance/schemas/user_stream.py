"""User-stream events of every product: account and order updates, margin calls, PM events.

wire.md §3.3 (USDⓈ-M: `ACCOUNT_UPDATE`, `ORDER_TRADE_UPDATE`, `TRADE_LITE`, `MARGIN_CALL`,
`ACCOUNT_CONFIG_UPDATE`, `listenKeyExpired`), §3.4 (COIN-M: the same, with the account alias
`i`) and §3.5 (Portfolio Margin: the futures events with `fs`, and `riskLevelChange`,
`balanceUpdate`, `outboundAccountPosition`, `liabilityChange`, `openOrderLoss`). `UserEvent`
is their union and `USER_EVENTS` maps an event's `e` to its model
(`dispatch.parse_user_event`); `decode/user_events.py` turns them into engine events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.binance.schemas.common import EventMsg, WireBool, WireFloat, WireInt, WireModel


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
    B: list[BinanceBalance] = Field(default_factory=list)
    P: list[BinancePosition] = Field(default_factory=list)


class FuturesEventMsg(EventMsg):
    """Fields common to `ACCOUNT_UPDATE` and `ORDER_TRADE_UPDATE` of every product: transaction
    time `T`, COIN-M's account alias `i`, PM's business unit `fs` (`UM` or `CM`)."""

    T: WireInt = 0
    i: str | None = None
    fs: str | None = None


class BinanceFuturesAccountUpdateMsg(FuturesEventMsg):
    """`ACCOUNT_UPDATE` (a delta): UM; CM adds alias `i`; PM adds business unit `fs`."""

    e: Literal["ACCOUNT_UPDATE"]
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


class BinanceFuturesOrderUpdateMsg(FuturesEventMsg):
    """`ORDER_TRADE_UPDATE` (UM, CM with `i`, PM with `fs`)."""

    e: Literal["ORDER_TRADE_UPDATE"]
    o: BinanceOrderData


class BinanceTradeLiteMsg(EventMsg):
    """`TRADE_LITE`: fills only; `i` (order id) may exceed 2^53 and stays an int."""

    e: Literal["TRADE_LITE"]
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


class BinanceMarginCallMsg(EventMsg):
    """`MARGIN_CALL` (UM, CM with `i`); `cw` only for cross."""

    e: Literal["MARGIN_CALL"]
    i: str | None = None
    cw: WireFloat | None = None
    p: list[BinanceMarginCallPosition] = Field(default_factory=list)


class BinanceLeverageConfig(WireModel):
    """`ACCOUNT_CONFIG_UPDATE` `ac`: symbol and new leverage."""

    s: str
    l: WireInt  # noqa: E741 (Binance's name: leverage)


class BinanceMultiAssetsConfig(WireModel):
    """`ACCOUNT_CONFIG_UPDATE` `ai`: Multi-Assets mode on/off."""

    j: WireBool


class BinanceAccountConfigUpdateMsg(EventMsg):
    """`ACCOUNT_CONFIG_UPDATE`: leverage (`ac`) or Multi-Assets mode (`ai`); PM adds `fs`."""

    e: Literal["ACCOUNT_CONFIG_UPDATE"]
    T: WireInt = 0
    fs: str | None = None
    ac: BinanceLeverageConfig | None = None
    ai: BinanceMultiAssetsConfig | None = None


class BinanceListenKeyExpiredMsg(EventMsg):
    """`listenKeyExpired`: `E` is a string on UM, a number on CM/PM; PM has no `listenKey`."""

    e: Literal["listenKeyExpired"]
    listenKey: str | None = None


class BinanceRiskLevelChangeMsg(EventMsg):
    """PM `riskLevelChange`: uniMMR `u`, status `s`, equity `eq`/`ae`, maintenance `m` (USD)."""

    e: Literal["riskLevelChange"]
    u: WireFloat
    s: str
    eq: WireFloat = 0.0
    ae: WireFloat = 0.0
    m: WireFloat = 0.0


class BinanceBalanceUpdateMsg(EventMsg):
    """PM `balanceUpdate`: a cross-margin balance delta `d` of asset `a`."""

    e: Literal["balanceUpdate"]
    a: str
    d: WireFloat
    U: WireInt = 0
    T: WireInt = 0


class BinanceMarginAssetBalance(WireModel):
    """One `outboundAccountPosition` `B[]` item: free `f`, locked `l`."""

    a: str
    f: WireFloat
    l: WireFloat  # noqa: E741 (Binance's name: locked)


class BinanceOutboundAccountPositionMsg(EventMsg):
    """PM `outboundAccountPosition`: cross-margin balances of the assets that changed."""

    e: Literal["outboundAccountPosition"]
    u: WireInt = 0
    U: WireInt = 0
    B: list[BinanceMarginAssetBalance]


class BinanceLiabilityChangeMsg(EventMsg):
    """PM `liabilityChange`: principal `p`, interest `i`, total `l`; `T` exceeds 2^53 (int)."""

    e: Literal["liabilityChange"]
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


class BinanceOpenOrderLossMsg(EventMsg):
    """PM `openOrderLoss`: cross-margin open-order loss per asset."""

    e: Literal["openOrderLoss"]
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
