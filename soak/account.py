"""The soak's synthetic account: one cross USDⓈ-M BTCUSDT long, its REST bodies and risk ↔ mark.

A single USDT pool keeps the risk a closed-form function of the mark
(`risk = MM / margin balance`, MM from the bracket the notional falls in), so the price path can
aim at exact risk levels. Exchange info and the bracket table are taken from the bundled
`usdm` example recording (Binance's own shapes), filtered to BTCUSDT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from monitor.engine.brackets import Bracket
from monitor.examples import path as example_path

SYMBOL = "BTCUSDT"
ASSET = "USDT"
JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    """A one-way cross long of `qty` BTC entered at `entry`, with `wallet` USDT."""

    qty: float = 1.0
    entry: float = 100_000.0
    wallet: float = 10_000.0

    def risk_at(self, mark: float, brackets: list[Bracket]) -> float:
        """MM / margin balance at `mark` (inf when the balance is gone)."""
        notional = self.qty * mark
        b = bracket_for(notional, brackets)
        mm = notional * b.mmr - b.cum
        balance = self.wallet + self.qty * (mark - self.entry)
        return float("inf") if balance <= 0 else mm / balance

    def mark_for(self, risk: float, brackets: list[Bracket]) -> float:
        """The mark at which the risk is `risk` (bisection: risk falls as the mark rises)."""
        lo, hi = self.entry - self.wallet / self.qty + 1e-6, self.entry * 2
        for _ in range(200):
            mid = (lo + hi) / 2
            if self.risk_at(mid, brackets) > risk:
                lo = mid
            else:
                hi = mid
        return round((lo + hi) / 2, 2)


def bracket_for(notional: float, brackets: list[Bracket]) -> Bracket:
    chosen = brackets[0]
    for b in brackets:
        if b.floor <= notional:
            chosen = b
    return chosen


def _example_rest() -> dict[str, Any]:
    bodies: dict[str, Any] = {}
    with example_path("usdm").open(encoding="utf-8") as fp:
        for raw in fp:
            line = json.loads(raw)
            if line.get("kind") == "rest":
                bodies.setdefault(line["path"], line["data"])
    return bodies


def template_bodies() -> tuple[JSON, JSON]:
    """(exchangeInfo, leverageBracket entry) for BTCUSDT from the bundled example."""
    bodies = _example_rest()
    info = dict(bodies["/fapi/v1/exchangeInfo"])
    info["symbols"] = [s for s in info["symbols"] if s["symbol"] == SYMBOL]
    bracket = next(b for b in bodies["/fapi/v1/leverageBracket"] if b["symbol"] == SYMBOL)
    return info, bracket


def brackets_of(entry: JSON) -> list[Bracket]:
    return [
        Bracket(
            float(b["notionalFloor"]),
            float(b["notionalCap"]),
            float(b["maintMarginRatio"]),
            float(b["cum"]),
        )
        for b in entry["brackets"]
    ]


def f8(x: float) -> str:
    return f"{x:.8f}"


def rest_bodies(acct: Account, mark: float, t_ms: int) -> dict[str, Any]:
    """Every GET body the daemon's USDⓈ-M snapshot needs, at `mark`, as Binance shapes them."""
    info, bracket = template_bodies()
    info["serverTime"] = t_ms
    table = brackets_of(bracket)
    notional = acct.qty * mark
    b = bracket_for(notional, table)
    mm = notional * b.mmr - b.cum
    upnl = acct.qty * (mark - acct.entry)
    leverage = 20
    im = notional / leverage
    balance = acct.wallet + upnl
    available = balance - im
    asset_row = {
        "asset": ASSET,
        "walletBalance": f8(acct.wallet),
        "unrealizedProfit": f8(upnl),
        "marginBalance": f8(balance),
        "maintMargin": f8(mm),
        "initialMargin": f8(im),
        "positionInitialMargin": f8(im),
        "openOrderInitialMargin": f8(0),
        "crossWalletBalance": f8(acct.wallet),
        "crossUnPnl": f8(upnl),
        "availableBalance": f8(available),
        "maxWithdrawAmount": f8(max(0.0, available)),
        "updateTime": t_ms,
    }
    account = {
        "totalInitialMargin": f8(im),
        "totalMaintMargin": f8(mm),
        "totalWalletBalance": f8(acct.wallet),
        "totalUnrealizedProfit": f8(upnl),
        "totalMarginBalance": f8(balance),
        "totalPositionInitialMargin": f8(im),
        "totalOpenOrderInitialMargin": f8(0),
        "totalCrossWalletBalance": f8(acct.wallet),
        "totalCrossUnPnl": f8(upnl),
        "availableBalance": f8(available),
        "maxWithdrawAmount": f8(max(0.0, available)),
        "assets": [asset_row],
        "positions": [
            {
                "symbol": SYMBOL,
                "positionSide": "BOTH",
                "positionAmt": f"{acct.qty:.3f}",
                "unrealizedProfit": f8(upnl),
                "isolatedMargin": f8(0),
                "notional": f8(notional),
                "isolatedWallet": f8(0),
                "initialMargin": f8(im),
                "maintMargin": f8(mm),
                "updateTime": t_ms,
            }
        ],
    }
    position_risk = [
        {
            "symbol": SYMBOL,
            "positionSide": "BOTH",
            "positionAmt": f"{acct.qty:.3f}",
            "entryPrice": f"{acct.entry:.2f}",
            "breakEvenPrice": f"{acct.entry:.8f}",
            "markPrice": f8(mark),
            "unRealizedProfit": f8(upnl),
            "liquidationPrice": "0",
            "isolatedMargin": f8(0),
            "notional": f8(notional),
            "marginAsset": ASSET,
            "isolatedWallet": f8(0),
            "initialMargin": f8(im),
            "maintMargin": f8(mm),
            "positionInitialMargin": f8(im),
            "openOrderInitialMargin": "0",
            "adl": 2,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": t_ms,
        }
    ]
    premium = [
        {
            "symbol": SYMBOL,
            "markPrice": f8(mark),
            "indexPrice": f8(mark),
            "estimatedSettlePrice": f8(mark),
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": t_ms + 8 * 3_600_000,
            "time": t_ms,
        }
    ]
    restrictions = {
        "ipRestrict": True,
        "createTime": t_ms - 86_400_000,
        "enableReading": True,
        "enableWithdrawals": False,
        "enableInternalTransfer": False,
        "permitsUniversalTransfer": False,
        "enableFutures": False,
        "enableSpotAndMarginTrading": False,
        "enableMargin": False,
        "enableVanillaOptions": False,
        "enablePortfolioMarginTrading": False,
    }
    return {
        "/fapi/v1/multiAssetsMargin": {"multiAssetsMargin": False},
        "/fapi/v1/positionSide/dual": {"dualSidePosition": False},
        "/fapi/v1/exchangeInfo": info,
        "/fapi/v1/leverageBracket": [bracket],
        "/fapi/v3/account": account,
        "/fapi/v3/positionRisk": position_risk,
        "/fapi/v1/premiumIndex": premium,
        "/sapi/v1/account/apiRestrictions": restrictions,
    }


def account_update(acct: Account, mark: float, e_ms: int, reason: str = "FUNDING_FEE") -> JSON:
    """An `ACCOUNT_UPDATE` restating the current wallet and position (absolute values)."""
    return {
        "e": "ACCOUNT_UPDATE",
        "E": e_ms,
        "T": e_ms - 2,
        "a": {
            "m": reason,
            "B": [{"a": ASSET, "wb": f8(acct.wallet), "cw": f8(acct.wallet), "bc": "0"}],
            "P": [
                {
                    "s": SYMBOL,
                    "pa": f"{acct.qty:.3f}",
                    "ep": f"{acct.entry:.5f}",
                    "bep": f"{acct.entry:.5f}",
                    "cr": "0",
                    "up": f8(acct.qty * (mark - acct.entry)),
                    "mt": "cross",
                    "iw": "0",
                    "ps": "BOTH",
                }
            ],
        },
    }


def order_update(e_ms: int, order_id: int, status: str) -> JSON:
    """An `ORDER_TRADE_UPDATE` of a far-away limit order (NEW or CANCELED: no fill)."""
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": e_ms,
        "T": e_ms - 1,
        "o": {
            "s": SYMBOL,
            "c": f"soak_{order_id}",
            "S": "BUY",
            "o": "LIMIT",
            "f": "GTC",
            "q": "0.010",
            "p": "10000.00",
            "ap": "0",
            "sp": "0",
            "x": status,
            "X": status,
            "i": order_id,
            "l": "0",
            "z": "0",
            "L": "0",
            "n": "0",
            "N": "USDT",
            "T": e_ms - 1,
            "t": 0,
            "b": "0",
            "a": "0",
            "m": False,
            "R": False,
            "wt": "CONTRACT_PRICE",
            "ot": "LIMIT",
            "ps": "BOTH",
            "cp": False,
            "rp": "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
            "er": "0",
        },
    }


def mark_frame(mark: float, e_ms: int) -> JSON:
    """One combined-stream `markPriceUpdate` frame for BTCUSDT."""
    price = f8(mark)
    return {
        "stream": "btcusdt@markPrice@1s",
        "data": {
            "e": "markPriceUpdate",
            "E": e_ms,
            "s": SYMBOL,
            "p": price,
            "P": price,
            "i": price,
            "r": "0.00010000",
            "T": e_ms + 8 * 3_600_000,
        },
    }
