"""Leverage-bracket tables as Binance publishes them (wire.md §4; margin-math.md §0.2).

A table is a list of `Tier`s ([floor, cap) at a maintenance margin rate); `cums` derives
Binance's continuous maintenance amounts (`cum_k = floor_k·(mmr_k − mmr_{k−1}) + cum_{k−1}`,
`cum_1 = 0`, [B2]/[B3]) and `um_brackets`/`cm_brackets` render one symbol's entry of
`GET /fapi/v1/leverageBracket` (notional in the quote asset) or `GET /dapi/v2/leverageBracket`
(quantities in coin; `qtylFloor` is Binance's own spelling in some answers). The named tables
are the ones the generated example accounts trade.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.sim.wire.decimals import D, num

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tier:
    """One leverage bracket before its `cum` is derived: [floor, cap) at `mmr`."""

    floor: Decimal
    cap: Decimal
    mmr: Decimal
    leverage: int


def tiers(rows: Iterable[tuple[str, str, str, int]]) -> list[Tier]:
    """A table from (floor, cap, mmr, initial leverage) rows."""
    return [Tier(D(a), D(b), D(c), lev) for a, b, c, lev in rows]


def cums(table: list[Tier]) -> list[Decimal]:
    """Binance's rule: cum_k = floor_k·(mmr_k − mmr_{k−1}) + cum_{k−1}, cum_1 = 0."""
    out = [D(0)]
    for prev, cur in itertools.pairwise(table):
        out.append(cur.floor * (cur.mmr - prev.mmr) + out[-1])
    return out


def maint(table: list[Tier], notional: Decimal) -> Decimal:
    """MM = notional·mmr_k − cum_k for the tier whose floor is at or below the notional."""
    cum = cums(table)
    k = max(i for i, t in enumerate(table) if t.floor <= notional)
    return notional * table[k].mmr - cum[k]


def um_brackets(symbol: str, table: list[Tier], coef: Any = None) -> JSON:
    """One symbol of `GET /fapi/v1/leverageBracket` (and `/papi/v1/um/leverageBracket`)."""
    body: JSON = {"symbol": symbol}
    if coef is not None:
        body["notionalCoef"] = coef
    body["brackets"] = [
        {
            "bracket": k + 1,
            "initialLeverage": t.leverage,
            "notionalCap": num(t.cap),
            "notionalFloor": num(t.floor),
            "maintMarginRatio": num(t.mmr),
            "cum": float(c),
        }
        for k, (t, c) in enumerate(zip(table, cums(table), strict=True))
    ]
    return body


def cm_brackets(symbol: str, table: list[Tier], floor_key: str = "qtyFloor") -> JSON:
    """One symbol of `GET /dapi/v2/leverageBracket` (and `/papi/v1/cm/leverageBracket`)."""
    return {
        "symbol": symbol,
        "brackets": [
            {
                "bracket": k + 1,
                "initialLeverage": t.leverage,
                "qtyCap": num(t.cap),
                floor_key: num(t.floor),
                "maintMarginRatio": num(t.mmr),
                "cum": float(c),
            }
            for k, (t, c) in enumerate(zip(table, cums(table), strict=True))
        ],
    }


def flat_um_brackets(symbol: str, mmr: float, cap: float = 1e9, leverage: int = 50) -> JSON:
    """A one-tier table (cum 0) of `GET /fapi/v1/leverageBracket`, as JSON floats (tests)."""
    return {
        "symbol": symbol,
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": leverage,
                "notionalCap": cap,
                "notionalFloor": 0,
                "maintMarginRatio": mmr,
                "cum": 0,
            }
        ],
    }


BTCUSDT_TIERS = tiers(
    [
        ("0", "50000", "0.004", 125),
        ("50000", "600000", "0.005", 100),
        ("600000", "3000000", "0.0065", 75),
        ("3000000", "12000000", "0.01", 50),
        ("12000000", "70000000", "0.02", 25),
        ("70000000", "100000000", "0.025", 20),
    ]
)
ETHUSDT_TIERS = tiers(
    [
        ("0", "50000", "0.005", 100),
        ("50000", "600000", "0.0065", 75),
        ("600000", "3000000", "0.01", 50),
        ("3000000", "12000000", "0.02", 25),
        ("12000000", "50000000", "0.05", 10),
    ]
)
SOLUSDT_TIERS = tiers(
    [
        ("0", "5000", "0.01", 75),
        ("5000", "25000", "0.02", 50),
        ("25000", "100000", "0.025", 25),
        ("100000", "250000", "0.05", 20),
        ("250000", "1000000", "0.1", 10),
    ]
)
BTCUSDC_TIERS = tiers(
    [
        ("0", "50000", "0.004", 125),
        ("50000", "500000", "0.005", 100),
        ("500000", "5000000", "0.01", 50),
    ]
)
BTCUSD_PERP_TIERS = tiers(
    [
        ("0", "5", "0.004", 125),
        ("5", "10", "0.005", 100),
        ("10", "20", "0.01", 50),
        ("20", "50", "0.025", 20),
        ("50", "100", "0.05", 10),
    ]
)
BTCUSD_QUARTER_TIERS = tiers(
    [
        ("0", "3", "0.005", 100),
        ("3", "10", "0.01", 50),
        ("10", "30", "0.025", 20),
        ("30", "60", "0.05", 10),
    ]
)
ETHUSD_PERP_TIERS = tiers(
    [
        ("0", "100", "0.005", 100),
        ("100", "500", "0.0065", 75),
        ("500", "1000", "0.01", 50),
        ("1000", "2000", "0.02", 25),
        ("2000", "5000", "0.05", 10),
    ]
)
