"""Market-stream messages: mark prices, Multi-Assets asset indexes, COIN-M index prices.

wire.md §1 (USDⓈ-M `markPriceUpdate` §1.2, COIN-M mark and index prices §1.3) and §2 (the
`assetIndexUpdate` bid/ask conversion rates of Multi-Assets mode), the combined-stream wrapper
and the reply to a SUBSCRIBE request (§1.1). The hot path does not build these models
(`decode/marks.py` reads the few fields it needs from the text); they are the fallback and the
reference for what a frame holds.
"""

from __future__ import annotations

from typing import Literal

from monitor.binance.schemas.common import EventMsg, WireFloat, WireInt, WireModel


class BinanceMarkPriceUpdateMsg(EventMsg):
    """`markPriceUpdate` (UM and CM; `st` 1 = UM, 2 = CM since 2026-06)."""

    e: Literal["markPriceUpdate"]
    s: str
    p: WireFloat
    i: WireFloat = 0.0
    P: WireFloat = 0.0
    r: WireFloat = 0.0
    T: WireInt = 0
    st: WireInt | None = None


class BinanceAssetIndexUpdateMsg(EventMsg):
    """`assetIndexUpdate` (`!assetIndex@arr`): `B`/`A` are the bid/ask conversion rates."""

    e: Literal["assetIndexUpdate"]
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


class BinanceIndexPriceUpdateMsg(EventMsg):
    """COIN-M `indexPriceUpdate`: `i` is the pair (BTCUSD), `p` its index price."""

    e: Literal["indexPriceUpdate"]
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
