"""The soak's synthetic account: one cross USDⓈ-M BTCUSDT long, its REST bodies and risk ↔ mark.

A single USDT pool keeps the risk a closed-form function of the mark
(`risk = MM / margin balance`, MM from the bracket the notional falls in), so the price path can
aim at exact risk levels. Exchange info and the bracket table are taken from the bundled
`usdm` example recording (Binance's own shapes), filtered to BTCUSDT; the REST bodies and events
are built by `monitor.sim.wire`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.engine.brackets import Bracket
from monitor.examples import path as example_path
from monitor.sim.wire.brackets import Tier
from monitor.sim.wire.streams import account_update as account_update_event
from monitor.sim.wire.streams import (
    combined,
    order,
    order_trade_update,
    position_entry,
    wallet_entry,
)
from monitor.sim.wire.streams import mark_frame as mark_price_update
from monitor.sim.wire.usdm import (
    UmLeg,
    multi_assets_margin,
    position_side_dual,
    premium_row,
    um_account_v3,
    um_position_risk_row,
)

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


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


def _tiers(entry: JSON) -> list[Tier]:
    """The bracket entry's table as wire tiers (its `cum` follows from floors and rates)."""
    return [
        Tier(_d(float(b["notionalFloor"])), _d(float(b["notionalCap"])),
             _d(float(b["maintMarginRatio"])), int(b["initialLeverage"]))
        for b in entry["brackets"]
    ]


def rest_bodies(acct: Account, mark: float, t_ms: int) -> dict[str, Any]:
    """Every GET body the daemon's USDⓈ-M snapshot needs, at `mark`, as Binance shapes them."""
    info, bracket = template_bodies()
    info["serverTime"] = t_ms
    leg = UmLeg(SYMBOL, "BOTH", _d(acct.qty), _d(acct.entry), 20, _tiers(bracket), ASSET)
    marks, at = {SYMBOL: _d(mark)}, _d(mark)
    account = um_account_v3([leg], marks, {ASSET: _d(acct.wallet)}, None, t_ms)
    position_risk = [um_position_risk_row(leg, at, 0.0, t_ms)]
    premium = [premium_row(SYMBOL, at, at, "0.00010000", t_ms + 8 * 3_600_000, t_ms)]
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
        "/fapi/v1/multiAssetsMargin": multi_assets_margin(False),
        "/fapi/v1/positionSide/dual": position_side_dual(False),
        "/fapi/v1/exchangeInfo": info,
        "/fapi/v1/leverageBracket": [bracket],
        "/fapi/v3/account": account,
        "/fapi/v3/positionRisk": position_risk,
        "/fapi/v1/premiumIndex": premium,
        "/sapi/v1/account/apiRestrictions": restrictions,
    }


def account_update(acct: Account, mark: float, e_ms: int, reason: str = "FUNDING_FEE") -> JSON:
    """An `ACCOUNT_UPDATE` restating the current wallet and position (absolute values)."""
    position = position_entry(
        SYMBOL,
        f"{acct.qty:.3f}",
        f"{acct.entry:.5f}",
        f"{acct.entry:.5f}",
        f8(acct.qty * (mark - acct.entry)),
        "cross",
        "0",
        "BOTH",
    )
    wallet = wallet_entry(ASSET, f8(acct.wallet), f8(acct.wallet))
    return account_update_event(e_ms - 2, e_ms, reason, [wallet], [position])


def order_update(e_ms: int, order_id: int, status: str) -> JSON:
    """An `ORDER_TRADE_UPDATE` of a far-away limit order (NEW or CANCELED: no fill)."""
    body = order(
        SYMBOL, f"soak_{order_id}", "BUY", "LIMIT", "0.010", "10000.00", order_id, e_ms - 1,
        "BOTH", status,
    )
    return order_trade_update(e_ms - 1, e_ms, body)


def mark_frame(mark: float, e_ms: int) -> JSON:
    """One combined-stream `markPriceUpdate` frame for BTCUSDT."""
    price = Decimal(repr(mark))
    data = mark_price_update(e_ms, SYMBOL, price, price, "0.00010000", e_ms + 8 * 3_600_000)
    return combined("btcusdt@markPrice@1s", data)
