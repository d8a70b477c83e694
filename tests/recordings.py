"""Builders of small USDⓈ-M recordings in Binance's wire shapes, shared by feed and service tests.

One BTCUSDT long of `qty` at 50,000 with a single 1 % bracket and a USDT cross wallet: risk is
`0.01·qty·P / (wallet + qty·(P − 50,000))`, so `price_for_risk` inverts it exactly.
"""

from __future__ import annotations

from typing import Any

from monitor.feed.recording import Line, RestLine, WsLine

ENTRY = 50_000.0
MMR = 0.01


def exchange_info() -> dict[str, Any]:
    return {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "pair": "BTCUSDT",
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
            },
            {
                "symbol": "ETHUSDT",
                "pair": "ETHUSDT",
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": "ETH",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
            },
        ],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-100"}],
    }


def brackets(mmr: float) -> list[dict[str, Any]]:
    return [
        {
            "symbol": s,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 50,
                    "notionalCap": 1e9,
                    "notionalFloor": 0,
                    "maintMarginRatio": mmr,
                    "cum": 0,
                }
            ],
        }
        for s in ("BTCUSDT", "ETHUSDT")
    ]


def account(wallet: float) -> dict[str, Any]:
    asset = {
        "asset": "USDT",
        "walletBalance": str(wallet),
        "unrealizedProfit": "0",
        "marginBalance": str(wallet),
        "maintMargin": "0",
        "initialMargin": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "crossWalletBalance": str(wallet),
        "crossUnPnl": "0",
        "availableBalance": str(wallet),
        "maxWithdrawAmount": str(wallet),
        "updateTime": 1,
    }
    return {
        "totalInitialMargin": "0",
        "totalMaintMargin": "0",
        "totalWalletBalance": str(wallet),
        "totalUnrealizedProfit": "0",
        "totalMarginBalance": str(wallet),
        "totalPositionInitialMargin": "0",
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": str(wallet),
        "totalCrossUnPnl": "0",
        "availableBalance": str(wallet),
        "maxWithdrawAmount": str(wallet),
        "assets": [asset],
        "positions": [],
    }


def position_risk(qty: float, entry: float, mark: float) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "BTCUSDT",
            "positionSide": "BOTH",
            "positionAmt": str(qty),
            "entryPrice": str(entry),
            "breakEvenPrice": str(entry),
            "markPrice": str(mark),
            "unRealizedProfit": str(qty * (mark - entry)),
            "liquidationPrice": "0",
            "isolatedMargin": "0",
            "notional": str(qty * mark),
            "marginAsset": "USDT",
            "isolatedWallet": "0",
            "initialMargin": "0",
            "maintMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "adl": 1,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": 1,
        }
    ]


def snapshot(t: int, wallet: float = 10_000.0, qty: float = 1.0) -> list[Line]:
    return [
        RestLine(t, "GET", "/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": False}),
        RestLine(t, "GET", "/fapi/v1/exchangeInfo", exchange_info()),
        RestLine(t, "GET", "/fapi/v1/leverageBracket", brackets(MMR)),
        RestLine(t, "GET", "/fapi/v3/account", account(wallet)),
        RestLine(t, "GET", "/fapi/v3/positionRisk", position_risk(qty, ENTRY, ENTRY)),
    ]


def mark(t: int, symbol: str, price: float) -> WsLine:
    data = {
        "e": "markPriceUpdate",
        "E": t,
        "s": symbol,
        "p": f"{price:.8f}",
        "i": f"{price:.8f}",
        "P": "0",
        "r": "0.0001",
        "T": t + 1000,
        "st": 1,
    }
    return WsLine(t, "market", {"stream": f"{symbol.lower()}@markPrice@1s", "data": data})


def price_for_risk(risk: float, wallet: float = 10_000.0, qty: float = 1.0) -> float:
    """The BTCUSDT mark at which the snapshot account's risk is `risk`."""
    # risk·(wallet + qty·(P − E)) = MMR·qty·P  ⇒  P = risk·(qty·E − wallet) / (qty·(risk − MMR))
    return risk * (qty * ENTRY - wallet) / (qty * (risk - MMR))
