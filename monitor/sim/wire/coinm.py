"""COIN-M REST answers in Binance's shapes (wire.md §4; margin-math.md §4).

`CmLeg` is one inverse position leg of a made-up account: quantity in contracts, contract size
CS in USD, uPnL = q·CS·(1/EP − 1/MP) and MM = (|q|·CS/MP)·mmr − cum in coin (margin-math.md §4.1).
The builders render a `symbols[]` entry and the body of `GET /dapi/v1/exchangeInfo`,
`GET /dapi/v1/account` (per coin: wallet, uPnL, MM, IM; per position), a
`GET /dapi/v1/positionRisk` row (held or flat) and a `GET /dapi/v1/premiumIndex` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.sim.wire.brackets import Tier, maint
from monitor.sim.wire.decimals import ZERO, D, f8
from monitor.sim.wire.usdm import premium_row

JSON = dict[str, Any]


@dataclass
class CmLeg:
    """A COIN-M position leg (qty in contracts, signed)."""

    symbol: str
    qty: Decimal
    entry: Decimal
    leverage: int
    table: list[Tier]
    asset: str
    size: Decimal
    isolated: bool = False
    iw: Decimal = ZERO

    def upnl(self, mark: Decimal) -> Decimal:
        return self.qty * self.size * (1 / self.entry - 1 / mark)

    def notional(self, mark: Decimal) -> Decimal:
        return abs(self.qty) * self.size / mark

    def mm(self, mark: Decimal) -> Decimal:
        return maint(self.table, self.notional(mark))


def cm_symbol(symbol: str, pair: str, kind: str, delivery: int, size: int, base: str) -> JSON:
    """One `symbols[]` entry of `/dapi/v1/exchangeInfo` (trimmed filters)."""
    return {
        "symbol": symbol,
        "pair": pair,
        "contractType": kind,
        "deliveryDate": delivery,
        "onboardDate": 1591142400000,
        "contractStatus": "TRADING",
        "contractSize": size,
        "marginAsset": base,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USD",
        "pricePrecision": 1 if base == "BTC" else 2,
        "quantityPrecision": 0,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "equalQtyPrecision": 4,
        "maxMoveOrderLimit": 10000,
        "triggerProtect": "0.0500",
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "1000",
                "maxPrice": "4520958",
                "tickSize": "0.1" if base == "BTC" else "0.01",
            },
            {"filterType": "LOT_SIZE", "stepSize": "1", "maxQty": "1000000", "minQty": "1"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "liquidationFee": "0.015000",
        "marketTakeBound": "0.05",
    }


def cm_exchange_info(server_time: int, symbols: list[JSON], rate_limits: bool = True) -> JSON:
    """`GET /dapi/v1/exchangeInfo` (`rate_limits` False: an empty `rateLimits`)."""
    limits: list[JSON] = (
        [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 2400,
            }
        ]
        if rate_limits
        else []
    )
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": limits,
        "exchangeFilters": [],
        "symbols": symbols,
    }


def cm_account(
    legs: list[CmLeg], marks: dict[str, Decimal], wallets: dict[str, Decimal], t: int
) -> JSON:
    """`GET /dapi/v1/account`: per coin (cross wallets in `wallets`) and per position."""
    assets = []
    for name, cross in wallets.items():
        mine = [g for g in legs if g.asset == name]
        up = sum((g.upnl(marks[g.symbol]) for g in mine), D(0))
        cup = sum((g.upnl(marks[g.symbol]) for g in mine if not g.isolated), D(0))
        mm = sum((g.mm(marks[g.symbol]) for g in mine), D(0))
        im = sum((g.notional(marks[g.symbol]) / g.leverage for g in mine), D(0))
        wb = cross + sum((g.iw for g in mine), D(0))
        assets.append(
            {
                "asset": name,
                "walletBalance": f8(wb),
                "unrealizedProfit": f8(up),
                "marginBalance": f8(wb + up),
                "maintMargin": f8(mm),
                "initialMargin": f8(im),
                "positionInitialMargin": f8(im),
                "openOrderInitialMargin": "0.00000000",
                "maxWithdrawAmount": f8(cross + cup - im),
                "crossWalletBalance": f8(cross),
                "crossUnPnl": f8(cup),
                "availableBalance": f8(cross + cup - im),
                "updateTime": t,
            }
        )
    return {
        "assets": assets,
        "positions": [
            {
                "symbol": g.symbol,
                "positionAmt": str(g.qty),
                "initialMargin": f8(g.notional(marks[g.symbol]) / g.leverage),
                "maintMargin": f8(g.mm(marks[g.symbol])),
                "unrealizedProfit": f8(g.upnl(marks[g.symbol])),
                "positionInitialMargin": f8(g.notional(marks[g.symbol]) / g.leverage),
                "openOrderInitialMargin": "0",
                "leverage": str(g.leverage),
                "isolated": g.isolated,
                "positionSide": "BOTH",
                "entryPrice": str(g.entry),
                "breakEvenPrice": str(g.entry),
                "maxQty": "250",
                "updateTime": t,
            }
            for g in legs
        ],
        "canDeposit": True,
        "canTrade": True,
        "canWithdraw": True,
        "feeTier": 0,
        "updateTime": 0,
    }


def cm_position_risk_row(leg: CmLeg, mark: Decimal, liq: float, t: int) -> JSON:
    """One row of `GET /dapi/v1/positionRisk` at `mark` (`liq`: the liquidation price)."""
    up = leg.upnl(mark)
    return {
        "symbol": leg.symbol,
        "positionAmt": str(leg.qty),
        "entryPrice": str(leg.entry),
        "breakEvenPrice": str(leg.entry),
        "markPrice": f8(mark),
        "unRealizedProfit": f8(up),
        "liquidationPrice": f8(D(str(round(liq, 8)))),
        "leverage": str(leg.leverage),
        "maxQty": "250",
        "marginType": "isolated" if leg.isolated else "cross",
        "isolatedMargin": f8(leg.iw + up if leg.isolated else 0),
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notionalValue": f8(leg.qty * leg.size / mark),
        "updateTime": t,
    }


def cm_flat_position_row(symbol: str, mark: Decimal, max_qty: str = "2500") -> JSON:
    """A `GET /dapi/v1/positionRisk` row of a symbol without a position."""
    return {
        "symbol": symbol,
        "positionAmt": "0",
        "entryPrice": "0.0",
        "breakEvenPrice": "0.0",
        "markPrice": f8(mark),
        "unRealizedProfit": "0.00000000",
        "liquidationPrice": "0",
        "leverage": "20",
        "maxQty": max_qty,
        "marginType": "cross",
        "isolatedMargin": "0.00000000",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notionalValue": "0",
        "updateTime": 0,
    }


def cm_premium_row(
    symbol: str, mark: Decimal, index: Decimal, rate: str, next_funding: int, t: int
) -> JSON:
    """One row of `GET /dapi/v1/premiumIndex`: the USDⓈ-M row with the symbol's `pair`."""
    row = premium_row(symbol, mark, index, rate, next_funding, t)
    del row["symbol"]
    return {"symbol": symbol, "pair": symbol.split("_", 1)[0], **row}
