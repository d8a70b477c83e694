"""Synthetic single-asset USDⓈ-M accounts in Binance's REST shapes, for replay and the fake.

`snapshot_lines` builds the start-up REST group the daemon fetches (multi-assets flag, position
mode, exchangeInfo, leverage brackets, account, position risk, premium index) for a market of
`symbols`, of which `held` carry one-way cross positions on one USDT wallet. Every symbol gets
the same 4-tier bracket table with Binance's continuous `cum`. `mark_text` is one per-symbol
combined-stream mark frame as the daemon receives it. The payloads come from `monitor.sim.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from monitor.feed.recording import Meta, RestLine
from monitor.sim.wire.brackets import maint, tiers, um_brackets
from monitor.sim.wire.streams import mark_text as mark_text
from monitor.sim.wire.usdm import (
    UmLeg,
    multi_assets_margin,
    position_side_dual,
    premium_row,
    um_account_v3,
    um_exchange_info,
    um_position_risk_row,
    um_symbol_min,
)

#: (notional floor, maintenance margin ratio) of each tier.
TIERS = ((0.0, 0.004), (50_000.0, 0.005), (600_000.0, 0.01), (3_000_000.0, 0.025))
CAPS = (50_000.0, 600_000.0, 3_000_000.0, 1e12)
TABLE = tiers(
    (repr(floor), repr(cap), repr(mmr), max(1, int(0.5 / mmr)))
    for (floor, mmr), cap in zip(TIERS, CAPS, strict=True)
)
LEVERAGE = 20


@dataclass(frozen=True, slots=True)
class Holding:
    """A one-way cross position: signed quantity and entry price."""

    qty: float
    entry: float


def meta(started: int, account: str = "bench") -> Meta:
    return Meta(account=account, mode="usdm", environment="custom", started=started)


def maint_margin(notional: float) -> float:
    """Maintenance margin of one position of |notional| under `TIERS`."""
    if notional >= CAPS[-1]:
        raise ValueError(f"notional {notional} beyond the last tier")
    return float(maint(TABLE, Decimal(repr(notional))))


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


def snapshot_lines(
    t: int,
    symbols: Sequence[str],
    marks: Mapping[str, float],
    held: Mapping[str, Holding],
    wallet: float,
) -> list[RestLine]:
    """The USDⓈ-M start-up REST group; `marks` must price every symbol."""
    legs = [
        UmLeg(
            s, "BOTH", _dec(h.qty), _dec(h.entry), LEVERAGE, TABLE, "USDT", places=8, price_places=8
        )
        for s, h in held.items()
    ]
    at = {s: _dec(marks[s]) for s in symbols}
    account = um_account_v3(legs, at, {"USDT": _dec(wallet)}, None, t)
    risk = [um_position_risk_row(g, at[g.symbol], 0.0, t) for g in legs]
    premium = [premium_row(s, at[s], at[s], "0.00010000", t + 3_600_000, t) for s in symbols]
    info = um_exchange_info(
        t, ["USDT"], [um_symbol_min(s, s.removesuffix("USDT")) for s in symbols]
    )
    return [
        RestLine(t, "GET", "/fapi/v1/multiAssetsMargin", multi_assets_margin(False)),
        RestLine(t, "GET", "/fapi/v1/positionSide/dual", position_side_dual(False)),
        RestLine(t, "GET", "/fapi/v1/exchangeInfo", info),
        RestLine(t, "GET", "/fapi/v1/leverageBracket", [um_brackets(s, TABLE) for s in symbols]),
        RestLine(t, "GET", "/fapi/v3/account", account),
        RestLine(t, "GET", "/fapi/v3/positionRisk", risk),
        RestLine(t, "GET", "/fapi/v1/premiumIndex", premium),
    ]


__all__ = ["CAPS", "TIERS", "Holding", "maint_margin", "mark_text", "meta", "snapshot_lines"]
