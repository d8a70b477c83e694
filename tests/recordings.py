"""Builders of small USDⓈ-M recordings in Binance's wire shapes, shared by feed and service tests.

One BTCUSDT long of `qty` at 50,000 with a single 1 % bracket and a USDT cross wallet: risk is
`0.01·qty·P / (wallet + qty·(P − 50,000))`, so `price_for_risk` inverts it exactly. The payloads
come from `monitor.sim.wire` (the one home of Binance's shapes).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from monitor.feed.recording import Line, RestLine, WsLine
from monitor.sim.wire.brackets import flat_um_brackets, tiers
from monitor.sim.wire.streams import combined, mark_frame
from monitor.sim.wire.usdm import (
    UmLeg,
    multi_assets_margin,
    um_account_v3,
    um_exchange_info,
    um_position_risk_row,
    um_symbol_min,
)

ENTRY = 50_000.0
MMR = 0.01
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


def exchange_info() -> dict[str, Any]:
    return um_exchange_info(
        1, ["USDT"], [um_symbol_min(s, s.removesuffix("USDT")) for s in SYMBOLS]
    )


def brackets(mmr: float) -> list[dict[str, Any]]:
    return [flat_um_brackets(s, mmr) for s in SYMBOLS]


def account(wallet: float) -> dict[str, Any]:
    """`/fapi/v3/account` with `wallet` USDT and no position."""
    return um_account_v3([], {}, {"USDT": _d(wallet)}, None, 1)


def position_risk(qty: float, entry: float, mark: float) -> list[dict[str, Any]]:
    """`/fapi/v3/positionRisk` with one BTCUSDT leg (its MM under the 1 % bracket)."""
    table = tiers([("0", "1000000000", repr(MMR), 50)])
    leg = UmLeg("BTCUSDT", "BOTH", _d(qty), _d(entry), 20, table, "USDT", places=8)
    return [um_position_risk_row(leg, _d(mark), 0.0, 1)]


def snapshot(t: int, wallet: float = 10_000.0, qty: float = 1.0) -> list[Line]:
    return [
        RestLine(t, "GET", "/fapi/v1/multiAssetsMargin", multi_assets_margin(False)),
        RestLine(t, "GET", "/fapi/v1/exchangeInfo", exchange_info()),
        RestLine(t, "GET", "/fapi/v1/leverageBracket", brackets(MMR)),
        RestLine(t, "GET", "/fapi/v3/account", account(wallet)),
        RestLine(t, "GET", "/fapi/v3/positionRisk", position_risk(qty, ENTRY, ENTRY)),
    ]


def mark(t: int, symbol: str, price: float) -> WsLine:
    data = mark_frame(t, symbol, _d(price), _d(price), "0.0001", t + 1000, st=1)
    return WsLine(t, "market", combined(f"{symbol.lower()}@markPrice@1s", data))


def price_for_risk(risk: float, wallet: float = 10_000.0, qty: float = 1.0) -> float:
    """The BTCUSDT mark at which the snapshot account's risk is `risk`."""
    # risk·(wallet + qty·(P − E)) = MMR·qty·P  ⇒  P = risk·(qty·E − wallet) / (qty·(risk − MMR))
    return risk * (qty * ENTRY - wallet) / (qty * (risk - MMR))
