"""USDⓈ-M REST answers in Binance's shapes (wire.md §4; fields as in the SDK models [A8]).

`UmLeg` is one position leg of a made-up account (signed quantity, entry, bracket table, margin
asset, isolated wallet) with its figures from margin-math.md §0.2–§0.3 (uPnL = q·(MP − EP), MM =
|q|·MP·mmr − cum). The builders render: one `symbols[]` entry and the whole body of
`GET /fapi/v1/exchangeInfo`, a `GET /fapi/v1/premiumIndex` row, a `GET /fapi/v3/positionRisk` row,
`GET /fapi/v3/account` (per-asset figures; totals in USDT in single-asset mode, in USD at the
given rates in Multi-Assets mode, margin-math.md §1, §3), a `GET /fapi/v1/assetIndex` row, and the
two flags (`/fapi/v1/multiAssetsMargin`, `/fapi/v1/positionSide/dual`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.sim.wire.brackets import Tier, maint
from monitor.sim.wire.decimals import ZERO, D, f8, fq

JSON = dict[str, Any]


@dataclass
class UmLeg:
    """A USDⓈ-M position leg of a made-up account (qty signed)."""

    symbol: str
    side: str
    qty: Decimal
    entry: Decimal
    leverage: int
    table: list[Tier]
    asset: str
    isolated: bool = False
    iw: Decimal = ZERO
    places: int = 3  # quantity precision of the symbol
    price_places: int = 2  # entry price precision

    def upnl(self, mark: Decimal) -> Decimal:
        return self.qty * (mark - self.entry)

    def notional(self, mark: Decimal) -> Decimal:
        return abs(self.qty) * mark

    def mm(self, mark: Decimal) -> Decimal:
        return maint(self.table, self.notional(mark))


def multi_assets_margin(on: bool) -> JSON:
    """`GET /fapi/v1/multiAssetsMargin`."""
    return {"multiAssetsMargin": on}


def position_side_dual(on: bool) -> JSON:
    """`GET /fapi/v1/positionSide/dual` (and `/dapi/v1/positionSide/dual`)."""
    return {"dualSidePosition": on}


def um_symbol(symbol: str, base: str, quote: str, margin: str, **kw: Any) -> JSON:
    """One `symbols[]` entry of `/fapi/v1/exchangeInfo` (trimmed filters)."""
    body: JSON = {
        "symbol": symbol,
        "pair": kw.get("pair", symbol),
        "contractType": kw.get("contract_type", "PERPETUAL"),
        "deliveryDate": kw.get("delivery", 4133404800000),
        "onboardDate": kw.get("onboard", 1569398400000),
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": margin,
        "pricePrecision": kw.get("price_precision", 2),
        "quantityPrecision": kw.get("qty_precision", 3),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": kw.get("sub", ["PoW"]),
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.10",
                "maxPrice": "4529764",
                "tickSize": kw.get("tick", "0.10"),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": kw.get("step", "0.001"),
                "maxQty": "1000",
                "stepSize": kw.get("step", "0.001"),
            },
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
    return body


def um_symbol_min(symbol: str, base: str, quote: str = "USDT", margin: str = "USDT") -> JSON:
    """A trimmed `symbols[]` entry: only the fields the monitor reads (big synthetic markets)."""
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": margin,
    }


def um_exchange_info(server_time: int, assets: list[str], symbols: list[JSON]) -> JSON:
    """`GET /fapi/v1/exchangeInfo`."""
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 2400,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ],
        "exchangeFilters": [],
        "assets": [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets
        ],
        "symbols": symbols,
    }


def premium_row(
    symbol: str, mark: Decimal, index: Decimal, rate: str, next_funding: int, t: int
) -> JSON:
    """One row of `GET /fapi/v1/premiumIndex` (`rate` "" for a delivery contract)."""
    return {
        "symbol": symbol,
        "markPrice": f8(mark),
        "indexPrice": f8(index),
        "estimatedSettlePrice": f8(index),
        "lastFundingRate": rate,
        "interestRate": "0.00010000" if rate else "",
        "nextFundingTime": next_funding,
        "time": t,
    }


def um_position_risk_row(leg: UmLeg, mark: Decimal, liq: float, t: int) -> JSON:
    """One row of `GET /fapi/v3/positionRisk` at `mark` (`liq`: the liquidation price, 0 none)."""
    notional = leg.qty * mark
    im = abs(notional) / leg.leverage
    upnl = leg.upnl(mark)
    return {
        "symbol": leg.symbol,
        "positionSide": leg.side,
        "positionAmt": fq(leg.qty, leg.places),
        "entryPrice": fq(leg.entry, leg.price_places),
        "breakEvenPrice": f8(leg.entry * (D("1.0005") if leg.qty > 0 else D("0.9995"))),
        "markPrice": f8(mark),
        "unRealizedProfit": f8(upnl),
        "liquidationPrice": f8(D(str(round(liq, 8)))),
        "isolatedMargin": f8(leg.iw + upnl if leg.isolated else 0),
        "notional": f8(notional),
        "marginAsset": leg.asset,
        "isolatedWallet": f8(leg.iw if leg.isolated else 0),
        "initialMargin": f8(im),
        "maintMargin": f8(leg.mm(mark)),
        "positionInitialMargin": f8(im),
        "openOrderInitialMargin": "0",
        "adl": 2,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": t,
    }


def um_account_v3(
    legs: list[UmLeg],
    marks: dict[str, Decimal],
    wallets: dict[str, Decimal],
    usd_rates: dict[str, Decimal] | None,
    t: int,
) -> JSON:
    """`/fapi/v3/account`: per-asset figures; totals in USDT (single-asset) or USD (MA).

    `wallets` are the cross wallets by asset; `usd_rates` (Multi-Assets) the USD value of one
    unit of each asset, None in single-asset mode (totals are then the USDT asset's)."""
    assets = []
    totals = dict.fromkeys(("im", "mm", "wb", "up", "mb", "cw", "cup", "avail"), D(0))
    for name, cross in wallets.items():
        mine = [g for g in legs if g.asset == name]
        iso_w = sum((g.iw for g in mine if g.isolated), D(0))
        up = sum((g.upnl(marks[g.symbol]) for g in mine), D(0))
        cup = sum((g.upnl(marks[g.symbol]) for g in mine if not g.isolated), D(0))
        im = sum((g.notional(marks[g.symbol]) / g.leverage for g in mine), D(0))
        mm = sum((g.mm(marks[g.symbol]) for g in mine), D(0))
        wb = cross + iso_w
        avail = (
            cross
            + cup
            - sum((g.notional(marks[g.symbol]) / g.leverage for g in mine if not g.isolated), D(0))
        )
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
                "crossWalletBalance": f8(cross),
                "crossUnPnl": f8(cup),
                "availableBalance": f8(avail),
                "maxWithdrawAmount": f8(min(avail, cross)),
                "updateTime": t,
            }
        )
        rate = D(1) if usd_rates is None else usd_rates[name]
        if usd_rates is None and name != "USDT":
            continue
        for key, value in (
            ("im", im),
            ("mm", mm),
            ("wb", wb),
            ("up", up),
            ("mb", wb + up),
            ("cw", cross),
            ("cup", cup),
            ("avail", avail),
        ):
            totals[key] += value * rate
    positions = [
        {
            "symbol": g.symbol,
            "positionSide": g.side,
            "positionAmt": fq(g.qty, g.places),
            "unrealizedProfit": f8(g.upnl(marks[g.symbol])),
            "isolatedMargin": f8(g.iw + g.upnl(marks[g.symbol]) if g.isolated else 0),
            "notional": f8(g.qty * marks[g.symbol]),
            "isolatedWallet": f8(g.iw if g.isolated else 0),
            "initialMargin": f8(g.notional(marks[g.symbol]) / g.leverage),
            "maintMargin": f8(g.mm(marks[g.symbol])),
            "updateTime": t,
        }
        for g in legs
    ]
    return {
        "totalInitialMargin": f8(totals["im"]),
        "totalMaintMargin": f8(totals["mm"]),
        "totalWalletBalance": f8(totals["wb"]),
        "totalUnrealizedProfit": f8(totals["up"]),
        "totalMarginBalance": f8(totals["mb"]),
        "totalPositionInitialMargin": f8(totals["im"]),
        "totalOpenOrderInitialMargin": "0.00000000",
        "totalCrossWalletBalance": f8(totals["cw"]),
        "totalCrossUnPnl": f8(totals["cup"]),
        "availableBalance": f8(totals["avail"]),
        "maxWithdrawAmount": f8(totals["avail"]),
        "assets": assets,
        "positions": positions,
    }


def asset_index_row(symbol: str, t: int, rates: tuple[str, str, str, str, str]) -> JSON:
    """One row of `GET /fapi/v1/assetIndex`; `rates` = (index, bidBuffer, askBuffer, bidRate,
    askRate) as sent; the auto-exchange buffers are 2.5 %."""
    index, bid_buffer, ask_buffer, bid, ask = rates
    return {
        "symbol": symbol,
        "time": t,
        "index": index,
        "bidBuffer": bid_buffer,
        "askBuffer": ask_buffer,
        "bidRate": bid,
        "askRate": ask,
        "autoExchangeBidBuffer": "0.02500000",
        "autoExchangeAskBuffer": "0.02500000",
        "autoExchangeBidRate": f8(D(index) * D("0.975")),
        "autoExchangeAskRate": f8(D(index) * D("1.025")),
    }
