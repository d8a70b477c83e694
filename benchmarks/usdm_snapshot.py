"""Synthetic single-asset USDⓈ-M accounts in Binance's REST shapes, for replay and the fake.

`snapshot_lines` builds the start-up REST group the daemon fetches (multi-assets flag, position
mode, exchangeInfo, leverage brackets, account, position risk, premium index) for a market of
`symbols`, of which `held` carry one-way cross positions on one USDT wallet. Every symbol gets
the same 4-tier bracket table with Binance's continuous `cum`. `mark_text` is one per-symbol
combined-stream mark frame as the daemon receives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.feed.recording import Meta, RestLine

#: (notional floor, maintenance margin ratio) of each tier.
TIERS = ((0.0, 0.004), (50_000.0, 0.005), (600_000.0, 0.01), (3_000_000.0, 0.025))
CAPS = (50_000.0, 600_000.0, 3_000_000.0, 1e12)


@dataclass(frozen=True, slots=True)
class Holding:
    """A one-way cross position: signed quantity and entry price."""

    qty: float
    entry: float


def meta(started: int, account: str = "bench") -> Meta:
    return Meta(account=account, mode="usdm", environment="custom", started=started)


def _brackets() -> list[dict[str, Any]]:
    out, cum = [], 0.0
    for k, ((floor, mmr), cap) in enumerate(zip(TIERS, CAPS, strict=True)):
        if k:
            cum += floor * (mmr - TIERS[k - 1][1])
        out.append(
            {"bracket": k + 1, "initialLeverage": max(1, int(0.5 / mmr)), "notionalCap": cap,
             "notionalFloor": floor, "maintMarginRatio": mmr, "cum": cum}
        )
    return out


def maint_margin(notional: float) -> float:
    """Maintenance margin of one position of |notional| under `TIERS`."""
    for (floor, mmr), cap, tier in zip(TIERS, CAPS, _brackets(), strict=True):
        if floor <= notional < cap:
            return notional * mmr - float(tier["cum"])
    raise ValueError(f"notional {notional} beyond the last tier")


def _symbol(symbol: str) -> dict[str, Any]:
    base = symbol.removesuffix("USDT")
    return {
        "symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "status": "TRADING",
        "baseAsset": base, "quoteAsset": "USDT", "marginAsset": "USDT",
    }


def _f(x: float) -> str:
    return f"{x:.8f}"


def snapshot_lines(
    t: int,
    symbols: Sequence[str],
    marks: Mapping[str, float],
    held: Mapping[str, Holding],
    wallet: float,
) -> list[RestLine]:
    """The USDⓈ-M start-up REST group; `marks` must price every symbol."""
    upnl = {s: h.qty * (marks[s] - h.entry) for s, h in held.items()}
    mm = {s: maint_margin(abs(h.qty) * marks[s]) for s, h in held.items()}
    total_upnl, total_mm = sum(upnl.values()), sum(mm.values())
    balance = wallet + total_upnl
    asset = {
        "asset": "USDT", "walletBalance": _f(wallet), "unrealizedProfit": _f(total_upnl),
        "marginBalance": _f(balance), "maintMargin": _f(total_mm), "initialMargin": "0",
        "positionInitialMargin": "0", "openOrderInitialMargin": "0",
        "crossWalletBalance": _f(wallet), "crossUnPnl": _f(total_upnl),
        "availableBalance": _f(balance), "maxWithdrawAmount": _f(wallet), "updateTime": t,
    }
    account = {
        "totalInitialMargin": "0", "totalMaintMargin": _f(total_mm),
        "totalWalletBalance": _f(wallet), "totalUnrealizedProfit": _f(total_upnl),
        "totalMarginBalance": _f(balance), "totalPositionInitialMargin": "0",
        "totalOpenOrderInitialMargin": "0", "totalCrossWalletBalance": _f(wallet),
        "totalCrossUnPnl": _f(total_upnl), "availableBalance": _f(balance),
        "maxWithdrawAmount": _f(wallet), "assets": [asset],
        "positions": [
            {"symbol": s, "positionSide": "BOTH", "positionAmt": _f(h.qty),
             "unrealizedProfit": _f(upnl[s]), "isolatedMargin": "0",
             "notional": _f(h.qty * marks[s]), "isolatedWallet": "0", "initialMargin": "0",
             "maintMargin": _f(mm[s]), "updateTime": t}
            for s, h in held.items()
        ],
    }
    risk = [
        {"symbol": s, "positionSide": "BOTH", "positionAmt": _f(h.qty), "entryPrice": _f(h.entry),
         "breakEvenPrice": _f(h.entry), "markPrice": _f(marks[s]), "unRealizedProfit": _f(upnl[s]),
         "liquidationPrice": "0", "isolatedMargin": "0", "notional": _f(h.qty * marks[s]),
         "marginAsset": "USDT", "isolatedWallet": "0", "initialMargin": "0",
         "maintMargin": _f(mm[s]), "positionInitialMargin": "0", "openOrderInitialMargin": "0",
         "adl": 1, "bidNotional": "0", "askNotional": "0", "updateTime": t}
        for s, h in held.items()
    ]
    premium = [
        {"symbol": s, "markPrice": _f(marks[s]), "indexPrice": _f(marks[s]),
         "estimatedSettlePrice": _f(marks[s]), "lastFundingRate": "0.00010000",
         "interestRate": "0.00010000", "nextFundingTime": t + 3_600_000, "time": t}
        for s in symbols
    ]
    brackets = _brackets()
    return [
        RestLine(t, "GET", "/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": False}),
        RestLine(t, "GET", "/fapi/v1/positionSide/dual", {"dualSidePosition": False}),
        RestLine(t, "GET", "/fapi/v1/exchangeInfo", {
            "timezone": "UTC", "serverTime": t,
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [_symbol(s) for s in symbols],
        }),
        RestLine(t, "GET", "/fapi/v1/leverageBracket",
                 [{"symbol": s, "brackets": brackets} for s in symbols]),
        RestLine(t, "GET", "/fapi/v3/account", account),
        RestLine(t, "GET", "/fapi/v3/positionRisk", risk),
        RestLine(t, "GET", "/fapi/v1/premiumIndex", premium),
    ]


_MARK = (
    '{"stream":"%s@markPrice@1s","data":{"e":"markPriceUpdate","E":%d,"s":"%s",'
    '"p":"%.8f","P":"%.8f","i":"%.8f","r":"0.00010000","T":%d,"st":1}}'
)


def mark_text(symbol: str, price: float, t: int) -> str:
    """One `<symbol>@markPrice@1s` frame, compact, in the combined-stream wrapper."""
    return _MARK % (symbol.lower(), t, symbol, price, price * 1.0001, price * 0.9999, t + 3_600_000)
