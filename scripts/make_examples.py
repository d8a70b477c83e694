"""Generate the bundled example recordings in `monitor/examples/` (deterministic).

Run `.venv/bin/python scripts/make_examples.py`. Every recording follows spec/recording.md: a
`meta` line, a start-up REST snapshot with every path `rest_paths_for(mode)` needs (bodies in
Binance's own shapes, decimal strings where Binance sends strings, numbers where it sends
numbers), then `ws` frames exactly as the streams deliver them. Prices follow seeded random
walks pinned at key times (funding, fills, the end), so the final figures are round constants
the tests recompute by hand. The PM account figures, `riskLevelChange` events and
`/papi/v1/account` polls are computed here with the formulas of margin-math.md §5.2 (not with
the engine), and the generator checks that the PM risk path has the promised shape.

Recordings:
- `usdm.jsonl`: USDⓈ-M single-asset, USDT and USDC cross pools, hedge legs, an isolated leg,
  funding and an order fill; mode inferred from the REST lines (no `mode` in meta).
- `usdm_multi_assets.jsonl` / `usdm_multi_assets_seed_s2.jsonl`: the Multi-Assets worked
  example of seed 001 (scenario 3 / scenario 2) reached by a price path.
- `coinm.jsonl`: COIN-M, BTC and ETH cross pools plus an isolated quarterly; mode inferred.
- `portfolio_margin.jsonl`: a hedged Portfolio Margin book that slides toward liquidation and
  recovers.
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from monitor.feed.recording import Line, Meta, NoteLine, RestLine, WsLine, write_recording

OUT = Path(__file__).resolve().parents[1] / "monitor" / "examples"
D = Decimal
Q8 = D("0.00000001")
ZERO = D(0)
HOUR = 3_600_000
JSON = dict[str, Any]


# ---------------------------------------------------------------------------------- formatting
def fq(x: Decimal | float | int, places: int) -> str:
    """A decimal string with `places` places (no exponent, no negative zero)."""
    q = D(str(x)).quantize(D(1).scaleb(-places))
    return f"{abs(q) if q == 0 else q:f}"


def f8(x: Decimal | float | int) -> str:
    """A decimal string with 8 places, as Binance sends balances and prices."""
    return fq(x, 8)


def num(x: Decimal) -> int | float:
    """A JSON number (bracket tables are numbers on the wire)."""
    return int(x) if x == x.to_integral_value() else float(x)


def epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO UTC timestamp."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# ---------------------------------------------------------------------------------- price paths
def price_path(
    rng: random.Random, keys: list[tuple[int, float]], vol: float, places: int
) -> list[Decimal]:
    """Prices at t = 0..last key (1 s steps): linear through the keys plus a Brownian bridge
    of relative volatility `vol` per step that is zero at every key, so keys are hit exactly."""
    out: list[float] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(keys):
        n = t1 - t0
        walk = [0.0]
        for _ in range(n):
            walk.append(walk[-1] + rng.gauss(0.0, vol))
        for j in range(n):
            bridge = walk[j] - walk[n] * j / n
            out.append((v0 + (v1 - v0) * j / n) * (1.0 + bridge))
    out.append(keys[-1][1])
    return [D(str(round(v, places))) for v in out]


# ---------------------------------------------------------------------------------- brackets
@dataclass(frozen=True, slots=True)
class Tier:
    """One leverage bracket before its `cum` is derived: [floor, cap) at `mmr`."""

    floor: Decimal
    cap: Decimal
    mmr: Decimal
    leverage: int


def tiers(rows: Iterable[tuple[str, str, str, int]]) -> list[Tier]:
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


# ---------------------------------------------------------------------------------- recordings
@dataclass
class Recorder:
    """Collects recording lines; `rest`/`ws`/`note` append one line each."""

    lines: list[Line] = field(default_factory=list)

    def rest(self, t: int, path: str, data: Any, params: JSON | None = None) -> None:
        self.lines.append(RestLine(t, "GET", path, data, params or {}, 200))

    def ws(self, t: int, conn: str, data: Any) -> None:
        self.lines.append(WsLine(t, conn, data))

    def note(self, t: int, text: str) -> None:
        self.lines.append(NoteLine(t, text))

    def write(self, name: str, meta: Meta) -> Path:
        self.lines.sort(key=lambda line: line.t)  # receive order (stable for equal times)
        path = OUT / name
        write_recording(path, meta, self.lines)
        return path


def mark_frame(
    event_time: int,
    symbol: str,
    mark: Decimal,
    index: Decimal,
    rate: str,
    next_funding: int,
    st: int | None = None,
    extra: JSON | None = None,
) -> JSON:
    """One `markPriceUpdate` object as Binance sends it (decimal strings; `st` since 2026-06)."""
    body: JSON = {
        "e": "markPriceUpdate",
        "E": event_time,
        "s": symbol,
        "p": f8(mark),
        "P": f8(index),
        "i": f8(index),
        "r": rate,
        "T": next_funding,
    }
    if st is not None:
        body["st"] = st
    if extra:
        body.update(extra)
    return body


def latency(rng: random.Random) -> int:
    return rng.randint(3, 45)


def solve_down_up(health: Callable[[float], float], mark: float) -> float:
    """The price nearest `mark` where `health` (margin balance − threshold·MM) reaches 0, moving
    one symbol's mark down and up; 0 when neither direction reaches it within ×0.01..×10."""
    best = 0.0
    for lo_factor, hi_factor in ((0.01, 1.0), (1.0, 10.0)):
        grid = [mark * (lo_factor + (hi_factor - lo_factor) * i / 2000) for i in range(2001)]
        if lo_factor < 1.0:
            grid.reverse()
        prev = grid[0]
        for price in grid[1:]:
            if (health(prev) > 0) != (health(price) > 0):
                a, b = prev, price
                for _ in range(80):
                    m = (a + b) / 2
                    if (health(a) > 0) == (health(m) > 0):
                        a = m
                    else:
                        b = m
                root = (a + b) / 2
                if best == 0.0 or abs(root - mark) < abs(best - mark):
                    best = root
                break
            prev = price
    return best


# =============================================================================== USDⓈ-M
@dataclass
class UmLeg:
    """A USDⓈ-M position leg of the generated account (qty signed)."""

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

    def upnl(self, mark: Decimal) -> Decimal:
        return self.qty * (mark - self.entry)

    def notional(self, mark: Decimal) -> Decimal:
        return abs(self.qty) * mark

    def mm(self, mark: Decimal) -> Decimal:
        return maint(self.table, self.notional(mark))


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


def um_exchange_info(server_time: int, assets: list[str], symbols: list[JSON]) -> JSON:
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
    notional = leg.qty * mark
    im = abs(notional) / leg.leverage
    upnl = leg.upnl(mark)
    return {
        "symbol": leg.symbol,
        "positionSide": leg.side,
        "positionAmt": fq(leg.qty, leg.places),
        "entryPrice": fq(leg.entry, 2),
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
    """`/fapi/v3/account`: per-asset figures; totals in USDT (single-asset) or USD (MA)."""
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


def usdm_liq_price(
    leg: UmLeg, legs: list[UmLeg], marks: dict[str, Decimal], wallets: dict[str, Decimal]
) -> float:
    """Binance's single-symbol liquidation price: other symbols frozen at their marks."""
    if leg.isolated:
        pool = [leg]
        wallet = float(leg.iw)
    else:
        pool = [g for g in legs if g.asset == leg.asset and not g.isolated]
        wallet = float(wallets[leg.asset])

    def health(price: float) -> float:
        total = wallet
        for g in pool:
            mark = D(str(price)) if g.symbol == leg.symbol else marks[g.symbol]
            total += float(g.upnl(mark) - g.mm(mark))
        return total

    return solve_down_up(health, float(marks[leg.symbol]))


def make_usdm() -> Path:
    """USDⓈ-M single-asset: two cross pools (USDT, USDC), hedge legs, an isolated leg."""
    rng = random.Random(1001)
    start = epoch_ms("2026-06-26T07:57:30")
    funding_at = epoch_ms("2026-06-26T08:00:00")
    duration = 300
    legs = [
        UmLeg("BTCUSDT", "LONG", D("0.520"), D("94310.50"), 20, BTCUSDT_TIERS, "USDT"),
        UmLeg("ETHUSDT", "LONG", D("12.00"), D("3080.25"), 10, ETHUSDT_TIERS, "USDT"),
        UmLeg("ETHUSDT", "SHORT", D("-8.00"), D("3152.40"), 10, ETHUSDT_TIERS, "USDT"),
        UmLeg(
            "SOLUSDT",
            "LONG",
            D("110"),
            D("236.80"),
            10,
            SOLUSDT_TIERS,
            "USDT",
            True,
            D("2900.00000000"),
            0,
        ),
        UmLeg("BTCUSDC", "SHORT", D("-0.250"), D("96020.00"), 25, BTCUSDC_TIERS, "USDC"),
    ]
    wallets = {"USDT": D("10000.00000000"), "USDC": D("3000.00000000")}
    f = 150  # funding tick (08:00:00)
    paths = {
        "BTCUSDT": price_path(rng, [(0, 95400.0), (f, 96000.0), (duration, 97128.4)], 4e-4, 2),
        "ETHUSDT": price_path(
            rng, [(0, 3110.0), (f, 3125.0), (195, 3139.0), (duration, 3164.25)], 5e-4, 2
        ),
        "SOLUSDT": price_path(rng, [(0, 238.1), (f, 232.0), (duration, 225.45)], 6e-4, 2),
        "BTCUSDC": price_path(rng, [(0, 95380.0), (f, 95980.0), (duration, 97110.6)], 4e-4, 2),
        "XRPUSDT": price_path(rng, [(0, 2.2134), (duration, 2.1987)], 8e-4, 4),
        "DOGEUSDT": price_path(rng, [(0, 0.31245), (duration, 0.31502)], 9e-4, 5),
    }
    rates = {
        "BTCUSDT": "0.00010000",
        "ETHUSDT": "0.00010000",
        "SOLUSDT": "0.00012000",
        "BTCUSDC": "0.00005000",
        "XRPUSDT": "0.00010000",
        "DOGEUSDT": "0.00007500",
    }
    basis = {
        "BTCUSDT": D("0.9997"),
        "ETHUSDT": D("0.9996"),
        "SOLUSDT": D("0.9995"),
        "BTCUSDC": D("0.9998"),
        "XRPUSDT": D("0.9994"),
        "DOGEUSDT": D("0.9993"),
    }
    held = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC"]

    def index_of(symbol: str, k: int) -> Decimal:
        return paths[symbol][k] * basis[symbol]

    def next_funding(k: int) -> int:
        return funding_at if start + k * 1000 < funding_at else funding_at + 8 * HOUR

    rec = Recorder()
    marks0 = {s: p[0] for s, p in paths.items()}
    t = start + 40
    rec.note(start, "hedge mode (dualSidePosition): every leg is LONG or SHORT")
    rec.rest(t, "/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": False})
    rec.rest(t + 61, "/fapi/v1/positionSide/dual", {"dualSidePosition": True})
    symbols = [
        um_symbol("BTCUSDT", "BTC", "USDT", "USDT"),
        um_symbol("ETHUSDT", "ETH", "USDT", "USDT", step="0.001", tick="0.01"),
        um_symbol(
            "SOLUSDT",
            "SOL",
            "USDT",
            "USDT",
            step="1",
            tick="0.0100",
            qty_precision=0,
            sub=["Layer-1"],
        ),
        um_symbol("BTCUSDC", "BTC", "USDC", "USDC", onboard=1706227200000),
        um_symbol(
            "XRPUSDT",
            "XRP",
            "USDT",
            "USDT",
            step="0.1",
            tick="0.0001",
            price_precision=4,
            qty_precision=1,
            sub=["Payment"],
        ),
        um_symbol(
            "DOGEUSDT",
            "DOGE",
            "USDT",
            "USDT",
            step="1",
            tick="0.000010",
            price_precision=6,
            qty_precision=0,
            sub=["Meme"],
        ),
    ]
    rec.rest(
        t + 140,
        "/fapi/v1/exchangeInfo",
        um_exchange_info(t + 120, ["USDT", "USDC", "BTC", "BNB"], symbols),
    )
    rec.rest(
        t + 190,
        "/fapi/v1/leverageBracket",
        [
            um_brackets("BTCUSDT", BTCUSDT_TIERS),
            um_brackets("ETHUSDT", ETHUSDT_TIERS),
            um_brackets("SOLUSDT", SOLUSDT_TIERS),
            um_brackets("BTCUSDC", BTCUSDC_TIERS),
            um_brackets(
                "XRPUSDT", tiers([("0", "10000", "0.01", 75), ("10000", "50000", "0.015", 50)])
            ),
        ],
    )
    rec.rest(t + 260, "/fapi/v3/account", um_account_v3(legs, marks0, wallets, None, t + 250))
    rec.rest(
        t + 330,
        "/fapi/v3/positionRisk",
        [
            um_position_risk_row(
                g, marks0[g.symbol], usdm_liq_price(g, legs, marks0, wallets), t + 300
            )
            for g in legs
        ],
    )
    rec.rest(
        t + 371,
        "/fapi/v1/premiumIndex",
        [
            premium_row(s, marks0[s], index_of(s, 0), rates[s], next_funding(0), start)
            for s in paths
        ],
    )

    # --- mark frames: combined per-symbol streams, then (after a reconnect) !markPrice@arr@1s
    switch = 120
    for k in range(1, duration + 1):
        event_time = start + k * 1000
        if k < switch:
            for symbol in held:
                extra = {"ps": symbol} if k % 37 == 0 else None
                frame = mark_frame(
                    event_time,
                    symbol,
                    paths[symbol][k],
                    index_of(symbol, k),
                    rates[symbol],
                    next_funding(k),
                    None,
                    extra,
                )
                rec.ws(
                    event_time + latency(rng),
                    "market",
                    {"stream": f"{symbol.lower()}@markPrice@1s", "data": frame},
                )
        elif k == switch:
            rec.note(event_time, "market stream reconnected; now !markPrice@arr@1s")
            rec.ws(event_time + 180, "market", {"result": None, "id": 2})
        else:
            rollout = k >= 200  # `st` appears mid-session (2026-06 rollout)
            batch = [
                mark_frame(
                    event_time,
                    s,
                    paths[s][k],
                    index_of(s, k),
                    rates[s],
                    next_funding(k),
                    1 if rollout else None,
                )
                for s in ("DOGEUSDT", "BTCUSDT", "XRPUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC")
            ]
            rec.ws(event_time + latency(rng), "market", batch)

    # --- funding at 08:00:00 (marks pinned at the funding tick)
    fm = {s: paths[s][f] for s in held}
    fee_usdt = -(D("0.520") * fm["BTCUSDT"] * D(rates["BTCUSDT"])) - (
        (D(12) - D(8)) * fm["ETHUSDT"] * D(rates["ETHUSDT"])
    )
    fee_usdc = D("0.250") * fm["BTCUSDC"] * D(rates["BTCUSDC"])
    fee_sol = -(D(110) * fm["SOLUSDT"] * D(rates["SOLUSDT"]))
    sol = legs[3]
    cw_usdt = wallets["USDT"] + fee_usdt
    cw_usdc = wallets["USDC"] + fee_usdc
    funding_t = funding_at + 4
    rec.ws(
        funding_t + 23,
        "user",
        {
            "e": "ACCOUNT_UPDATE",
            "T": funding_t,
            "E": funding_t + 2,
            "a": {
                "B": [
                    {"a": "USDT", "wb": f8(cw_usdt + sol.iw), "cw": f8(cw_usdt), "bc": "0"},
                    {"a": "USDC", "wb": f8(cw_usdc), "cw": f8(cw_usdc), "bc": "0"},
                ],
                "P": [],
                "m": "FUNDING_FEE",
            },
        },
    )
    sol.iw = sol.iw + fee_sol
    rec.ws(
        funding_t + 31,
        "user",
        {
            "e": "ACCOUNT_UPDATE",
            "T": funding_t + 1,
            "E": funding_t + 3,
            "a": {
                "m": "FUNDING_FEE",
                "B": [{"a": "USDT", "wb": f8(cw_usdt + sol.iw), "cw": f8(cw_usdt), "bc": "0"}],
                "P": [
                    {
                        "s": "SOLUSDT",
                        "pa": "110",
                        "ep": "236.80000",
                        "bep": "236.91840",
                        "cr": "0",
                        "up": f8(sol.upnl(fm["SOLUSDT"])),
                        "mt": "isolated",
                        "iw": f8(sol.iw),
                        "ps": "LONG",
                    }
                ],
            },
        },
    )

    # --- a market SELL of 2 ETHUSDT (SHORT leg 8 -> 10) at 195 s
    fill_price, fill_qty = D("3138.60"), D(2)
    commission = fill_price * fill_qty * D("0.0005")
    short = legs[2]
    new_entry = (abs(short.qty) * short.entry + fill_qty * fill_price) / (abs(short.qty) + fill_qty)
    placed = start + 195 * 1000 + 412
    filled = placed + 6
    order_id = 8389765712345678901
    base_order = {
        "s": "ETHUSDT",
        "c": "web_Yx3kQ7mPz1",
        "S": "SELL",
        "o": "MARKET",
        "f": "GTC",
        "q": "2.000",
        "p": "0",
        "ap": "0",
        "sp": "0",
        "x": "NEW",
        "X": "NEW",
        "i": order_id,
        "l": "0",
        "z": "0",
        "L": "0",
        "n": "0",
        "N": "USDT",
        "T": placed,
        "t": 0,
        "b": "0",
        "a": "0",
        "m": False,
        "R": False,
        "wt": "CONTRACT_PRICE",
        "ot": "MARKET",
        "ps": "SHORT",
        "cp": False,
        "rp": "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
        "er": "0",
    }
    rec.ws(
        placed + 19,
        "user",
        {"e": "ORDER_TRADE_UPDATE", "T": placed, "E": placed + 2, "o": base_order},
    )
    rec.ws(
        filled + 11,
        "user",
        {
            "e": "TRADE_LITE",
            "E": filled + 1,
            "T": filled,
            "s": "ETHUSDT",
            "q": "2.000",
            "p": "0.00",
            "m": False,
            "c": "web_Yx3kQ7mPz1",
            "S": "SELL",
            "L": fq(fill_price, 2),
            "l": "2.000",
            "t": 5123456789,
            "i": order_id,
        },
    )
    trade = dict(
        base_order,
        x="TRADE",
        X="FILLED",
        ap=fq(fill_price, 5),
        l="2.000",
        z="2.000",
        L=fq(fill_price, 2),
        n=f8(commission),
        T=filled,
        t=5123456789,
    )
    rec.ws(
        filled + 14, "user", {"e": "ORDER_TRADE_UPDATE", "T": filled, "E": filled + 3, "o": trade}
    )
    cw_usdt -= commission
    short.qty, short.entry = short.qty - fill_qty, new_entry
    mark_now = paths["ETHUSDT"][195]
    rec.ws(
        filled + 16,
        "user",
        {
            "e": "ACCOUNT_UPDATE",
            "T": filled,
            "E": filled + 3,
            "a": {
                "m": "ORDER",
                "B": [{"a": "USDT", "wb": f8(cw_usdt + sol.iw), "cw": f8(cw_usdt), "bc": "0"}],
                "P": [
                    {
                        "s": "ETHUSDT",
                        "pa": "0",
                        "ep": "0.00000",
                        "bep": "0",
                        "cr": "0",
                        "up": "0",
                        "mt": "cross",
                        "iw": "0",
                        "ps": "BOTH",
                    },
                    {
                        "s": "ETHUSDT",
                        "pa": fq(short.qty, 3),
                        "ep": fq(short.entry, 5),
                        "bep": fq(short.entry * D("0.9995"), 5),
                        "cr": "0",
                        "up": f8(short.upnl(mark_now)),
                        "mt": "cross",
                        "iw": "0",
                        "ps": "SHORT",
                    },
                ],
            },
        },
    )
    meta = Meta(
        account="main",
        environment="mainnet",
        started=start,
        extra={"description": "USDⓈ-M single-asset example (mode inferred)"},
    )
    return rec.write("usdm.jsonl", meta)


# =============================================================================== Multi-Assets
def make_multi_assets(name: str, end_btc: float, end_eth: float, duration: int, seed: int) -> Path:
    """Seed 001: USDT 200 + BUSD 220, BTCUSDT long 0.5 @ 20,000, ETHBUSD_210326 long 20 @ 600."""
    rng = random.Random(seed)
    start = epoch_ms("2021-02-01T09:00:00")
    funding_next = epoch_ms("2021-02-01T16:00:00")
    quarter = "ETHBUSD_210326"
    mid = duration // 2
    paths = {
        "BTCUSDT": price_path(
            rng,
            [(0, 20000.0), (mid, 19650.0 if end_btc < 20000 else 20240.0), (duration, end_btc)],
            3e-4,
            2,
        ),
        quarter: price_path(
            rng,
            [(0, 600.0), (mid, 611.0 if end_eth > 600 else 594.0), (duration, end_eth)],
            4e-4,
            2,
        ),
        "ETHUSDT": price_path(rng, [(0, 598.2), (duration, 611.7)], 4e-4, 2),
    }
    btc_tiers = tiers([("0", "1000000", "0.008", 100)])
    eth_tiers = tiers([("0", "1000000", "0.01", 50)])
    legs = [
        UmLeg("BTCUSDT", "BOTH", D("0.500"), D("20000.00"), 100, btc_tiers, "USDT"),
        UmLeg(quarter, "BOTH", D("20.000"), D("600.00"), 50, eth_tiers, "BUSD"),
    ]
    wallets = {"USDT": D("200.00000000"), "BUSD": D("220.00000000")}
    rates = {
        "USDTUSD": ("0.99000000", "0.01000000", "0.00500000", "0.98010000", "0.99495000"),
        "BUSDUSD": ("1.00000000", "0.00000000", "0.00000000", "1.00000000", "1.00000000"),
        "BTCUSD": (
            "33512.41000000",
            "0.05000000",
            "0.05000000",
            "31836.78950000",
            "35188.03050000",
        ),
    }
    usd = {"USDT": D("0.99495"), "BUSD": D(1)}  # ask rates (MA account totals, informational)
    rec = Recorder()
    marks0 = {s: p[0] for s, p in paths.items()}
    t = start + 35
    rec.rest(t, "/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": True})
    rec.rest(t + 58, "/fapi/v1/positionSide/dual", {"dualSidePosition": False})
    symbols = [
        um_symbol("BTCUSDT", "BTC", "USDT", "USDT"),
        um_symbol(
            quarter,
            "ETH",
            "BUSD",
            "BUSD",
            pair="ETHBUSD",
            contract_type="CURRENT_QUARTER",
            delivery=1616745600000,
            onboard=1609142400000,
            tick="0.01",
        ),
        um_symbol("ETHUSDT", "ETH", "USDT", "USDT", tick="0.01"),
    ]
    rec.rest(
        t + 131,
        "/fapi/v1/exchangeInfo",
        um_exchange_info(t + 120, ["USDT", "BUSD", "BNB"], symbols),
    )
    rec.rest(
        t + 177,
        "/fapi/v1/leverageBracket",
        [um_brackets("BTCUSDT", btc_tiers), um_brackets(quarter, eth_tiers)],
    )
    rec.rest(t + 240, "/fapi/v3/account", um_account_v3(legs, marks0, wallets, usd, t + 230))
    rec.rest(
        t + 301,
        "/fapi/v3/positionRisk",
        [um_position_risk_row(g, marks0[g.symbol], 0.0, t + 290) for g in legs],
    )
    premium = [
        premium_row("BTCUSDT", marks0["BTCUSDT"], D("19991.87"), "0.00010000", funding_next, start),
        premium_row(quarter, marks0[quarter], D("598.21"), "", 0, start),
        premium_row("ETHUSDT", marks0["ETHUSDT"], D("598.02"), "0.00010000", funding_next, start),
    ]
    rec.rest(t + 352, "/fapi/v1/premiumIndex", premium)
    rec.rest(
        t + 399,
        "/fapi/v1/assetIndex",
        [
            {
                "symbol": s,
                "time": start,
                "index": r[0],
                "bidBuffer": r[1],
                "askBuffer": r[2],
                "bidRate": r[3],
                "askRate": r[4],
                "autoExchangeBidBuffer": "0.02500000",
                "autoExchangeAskBuffer": "0.02500000",
                "autoExchangeBidRate": f8(D(r[0]) * D("0.975")),
                "autoExchangeAskRate": f8(D(r[0]) * D("1.025")),
            }
            for s, r in rates.items()
        ],
    )
    for k in range(1, duration + 1):
        event_time = start + k * 1000
        batch = [
            mark_frame(
                event_time,
                "ETHUSDT",
                paths["ETHUSDT"][k],
                paths["ETHUSDT"][k] * D("0.9997"),
                "0.00010000",
                funding_next,
            ),
            mark_frame(
                event_time,
                "BTCUSDT",
                paths["BTCUSDT"][k],
                paths["BTCUSDT"][k] * D("0.9996"),
                "0.00010000",
                funding_next,
            ),
            mark_frame(
                event_time, quarter, paths[quarter][k], paths[quarter][k] * D("0.9970"), "", 0
            ),
        ]
        rec.ws(event_time + latency(rng), "market", batch)
        rec.ws(
            event_time + 200 + latency(rng),
            "market",
            [
                {
                    "e": "assetIndexUpdate",
                    "E": event_time + 200,
                    "s": s,
                    "i": r[0],
                    "b": r[1],
                    "a": r[2],
                    "B": r[3],
                    "A": r[4],
                    "q": "0.02500000",
                    "g": "0.02500000",
                    "Q": f8(D(r[0]) * D("0.975")),
                    "G": f8(D(r[0]) * D("1.025")),
                }
                for s, r in rates.items()
            ],
        )
    meta = Meta(
        account="main",
        mode="usdm_multi_assets",
        environment="mainnet",
        started=start,
        extra={"description": f"seed 001 Multi-Assets example ({name})"},
    )
    return rec.write(name, meta)


# =============================================================================== COIN-M
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


def make_coinm() -> Path:
    """COIN-M: BTC and ETH cross pools, an isolated BTCUSD quarterly; pair mark arrays."""
    rng = random.Random(3003)
    start = epoch_ms("2026-07-15T10:00:00")
    next_funding = epoch_ms("2026-07-15T16:00:00")
    q1, q2 = epoch_ms("2026-09-25T08:00:00"), epoch_ms("2026-12-25T08:00:00")
    duration = 180
    legs = [
        CmLeg("BTCUSD_PERP", D(2000), D("94120.5"), 20, BTCUSD_PERP_TIERS, "BTC", D(100)),
        CmLeg("ETHUSD_PERP", D(-3000), D("3205.40"), 20, ETHUSD_PERP_TIERS, "ETH", D(10)),
        CmLeg(
            "BTCUSD_260925",
            D(400),
            D("95850.0"),
            10,
            BTCUSD_QUARTER_TIERS,
            "BTC",
            D(100),
            True,
            D("0.05000000"),
        ),
    ]
    wallets = {"BTC": D("0.85000000"), "ETH": D("6.50000000")}
    paths = {
        "BTCUSD_PERP": price_path(rng, [(0, 95200.0), (90, 95710.0), (duration, 96410.7)], 4e-4, 1),
        "BTCUSD_260925": price_path(rng, [(0, 96110.0), (duration, 97325.3)], 4e-4, 1),
        "BTCUSD_261225": price_path(rng, [(0, 97040.0), (duration, 98260.1)], 4e-4, 1),
        "ETHUSD_PERP": price_path(rng, [(0, 3240.0), (90, 3281.0), (duration, 3318.55)], 5e-4, 2),
        "ETHUSD_260925": price_path(rng, [(0, 3271.5), (duration, 3351.2)], 5e-4, 2),
        "ETHUSD_261225": price_path(rng, [(0, 3303.9), (duration, 3384.05)], 5e-4, 2),
    }
    pairs = {
        "BTCUSD": ["BTCUSD_PERP", "BTCUSD_260925", "BTCUSD_261225"],
        "ETHUSD": ["ETHUSD_PERP", "ETHUSD_260925", "ETHUSD_261225"],
    }
    ratio = {
        "BTCUSD_PERP": D("0.9998"),
        "BTCUSD_260925": D("0.9904"),
        "BTCUSD_261225": D("0.9810"),
        "ETHUSD_PERP": D("0.9997"),
        "ETHUSD_260925": D("0.9900"),
        "ETHUSD_261225": D("0.9805"),
    }

    def index(symbol: str, k: int) -> Decimal:
        return (paths[symbol][k] * ratio[symbol]).quantize(Q8)

    def rate(symbol: str) -> str:
        return "0.00010000" if symbol.endswith("_PERP") else ""

    def funding(symbol: str) -> int:
        return next_funding if symbol.endswith("_PERP") else 0

    marks0 = {s: p[0] for s, p in paths.items()}
    rec = Recorder()
    t = start + 52
    rec.rest(t, "/dapi/v1/positionSide/dual", {"dualSidePosition": False})
    info_symbols = []
    for pair, syms in pairs.items():
        base = pair[:3]
        size = 100 if base == "BTC" else 10
        info_symbols += [
            cm_symbol(syms[0], pair, "PERPETUAL", 4133404800000, size, base),
            cm_symbol(syms[1], pair, "CURRENT_QUARTER", q1, size, base),
            cm_symbol(syms[2], pair, "NEXT_QUARTER", q2, size, base),
        ]
    rec.rest(
        t + 120,
        "/dapi/v1/exchangeInfo",
        {
            "timezone": "UTC",
            "serverTime": t + 110,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                }
            ],
            "exchangeFilters": [],
            "symbols": info_symbols,
        },
    )
    rec.rest(
        t + 171,
        "/dapi/v2/leverageBracket",
        [
            cm_brackets("BTCUSD_PERP", BTCUSD_PERP_TIERS),
            cm_brackets("BTCUSD_260925", BTCUSD_QUARTER_TIERS, "qtylFloor"),
            cm_brackets("BTCUSD_261225", BTCUSD_QUARTER_TIERS),
            cm_brackets("ETHUSD_PERP", ETHUSD_PERP_TIERS),
        ],
    )
    assets = []
    for name, cross in wallets.items():
        mine = [g for g in legs if g.asset == name]
        up = sum((g.upnl(marks0[g.symbol]) for g in mine), D(0))
        cup = sum((g.upnl(marks0[g.symbol]) for g in mine if not g.isolated), D(0))
        mm = sum((g.mm(marks0[g.symbol]) for g in mine), D(0))
        im = sum((g.notional(marks0[g.symbol]) / g.leverage for g in mine), D(0))
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
                "updateTime": t + 200,
            }
        )
    rec.rest(
        t + 240,
        "/dapi/v1/account",
        {
            "assets": assets,
            "positions": [
                {
                    "symbol": g.symbol,
                    "positionAmt": str(g.qty),
                    "initialMargin": f8(g.notional(marks0[g.symbol]) / g.leverage),
                    "maintMargin": f8(g.mm(marks0[g.symbol])),
                    "unrealizedProfit": f8(g.upnl(marks0[g.symbol])),
                    "positionInitialMargin": f8(g.notional(marks0[g.symbol]) / g.leverage),
                    "openOrderInitialMargin": "0",
                    "leverage": str(g.leverage),
                    "isolated": g.isolated,
                    "positionSide": "BOTH",
                    "entryPrice": str(g.entry),
                    "breakEvenPrice": str(g.entry),
                    "maxQty": "250",
                    "updateTime": t + 200,
                }
                for g in legs
            ],
            "canDeposit": True,
            "canTrade": True,
            "canWithdraw": True,
            "feeTier": 0,
            "updateTime": 0,
        },
    )

    def cm_liq(leg: CmLeg) -> float:
        pool = (
            [leg] if leg.isolated else [g for g in legs if g.asset == leg.asset and not g.isolated]
        )
        wallet = leg.iw if leg.isolated else wallets[leg.asset]

        def health(price: float) -> float:
            total = float(wallet)
            for g in pool:
                mark = D(str(price)) if g.symbol == leg.symbol else marks0[g.symbol]
                total += float(g.upnl(mark) - g.mm(mark))
            return total

        return solve_down_up(health, float(marks0[leg.symbol]))

    rows = []
    for g in legs:
        mark = marks0[g.symbol]
        up = g.upnl(mark)
        rows.append(
            {
                "symbol": g.symbol,
                "positionAmt": str(g.qty),
                "entryPrice": str(g.entry),
                "breakEvenPrice": str(g.entry),
                "markPrice": f8(mark),
                "unRealizedProfit": f8(up),
                "liquidationPrice": f8(D(str(round(cm_liq(g), 8)))),
                "leverage": str(g.leverage),
                "maxQty": "250",
                "marginType": "isolated" if g.isolated else "cross",
                "isolatedMargin": f8(g.iw + up if g.isolated else 0),
                "isAutoAddMargin": "false",
                "positionSide": "BOTH",
                "notionalValue": f8(g.qty * g.size / mark),
                "updateTime": t + 200,
            }
        )
    rows.append(
        {
            "symbol": "ETHUSD_260925",
            "positionAmt": "0",
            "entryPrice": "0.0",
            "breakEvenPrice": "0.0",
            "markPrice": f8(marks0["ETHUSD_260925"]),
            "unRealizedProfit": "0.00000000",
            "liquidationPrice": "0",
            "leverage": "20",
            "maxQty": "2500",
            "marginType": "cross",
            "isolatedMargin": "0.00000000",
            "isAutoAddMargin": "false",
            "positionSide": "BOTH",
            "notionalValue": "0",
            "updateTime": 0,
        }
    )
    rec.rest(t + 303, "/dapi/v1/positionRisk", rows)
    rec.rest(
        t + 355,
        "/dapi/v1/premiumIndex",
        [
            {
                "symbol": s,
                "pair": s[:6],
                "markPrice": f8(marks0[s]),
                "indexPrice": f8(index(s, 0)),
                "estimatedSettlePrice": f8(index(s, 0)),
                "lastFundingRate": rate(s),
                "interestRate": "0.00010000" if rate(s) else "",
                "nextFundingTime": funding(s),
                "time": start,
            }
            for s in paths
        ],
    )
    for k in range(1, duration + 1):
        event_time = start + k * 1000
        for pair, syms in pairs.items():
            frames = [
                mark_frame(
                    event_time,
                    s,
                    paths[s][k],
                    index(s, k),
                    rate(s),
                    funding(s),
                    2 if k % 3 else None,
                )
                for s in syms[::-1]
            ]
            rec.ws(
                event_time + latency(rng),
                "market",
                {"stream": f"{pair.lower()}@markPrice@1s", "data": frames},
            )
    meta = Meta(
        account="main",
        environment="mainnet",
        started=start,
        extra={"description": "COIN-M example (mode inferred)"},
    )
    return rec.write("coinm.jsonl", meta)


# =============================================================================== Portfolio Margin
PM_COLLATERAL = {
    "BTC": D("0.95"),
    "ETH": D("0.95"),
    "USDT": D("1"),
    "USDC": D("1"),
    "BNB": D("0.95"),
    "SOL": D("0.9"),
}
PM_LOAN_MMR = D("0.10")  # margin leverage 3x (margin-math §5.2)


@dataclass
class PmBook:
    """The generated PM account, valued with margin-math §5.2 (independently of the engine)."""

    free: dict[str, Decimal]
    locked: dict[str, Decimal]
    borrowed: dict[str, Decimal]
    interest: dict[str, Decimal]
    um_wallet: dict[str, Decimal]
    cm_wallet: dict[str, Decimal]
    um: list[UmLeg]
    cm: list[CmLeg]
    marks: dict[str, Decimal]
    index: dict[str, Decimal]
    open_loss: Decimal

    def upnl(self, asset: str) -> Decimal:
        um = sum((g.upnl(self.marks[g.symbol]) for g in self.um if g.asset == asset), D(0))
        cm = sum((g.upnl(self.marks[g.symbol]) for g in self.cm if g.asset == asset), D(0))
        return um + cm

    def futures_mm(self, asset: str) -> Decimal:
        um = sum((g.mm(self.marks[g.symbol]) for g in self.um if g.asset == asset), D(0))
        cm = sum((g.mm(self.marks[g.symbol]) for g in self.cm if g.asset == asset), D(0))
        return um + cm

    def net(self, asset: str) -> Decimal:
        """X_a = margin asset − loan + futures wallets + futures uPnL (asset units)."""
        return (
            self.free.get(asset, D(0))
            + self.locked.get(asset, D(0))
            - self.borrowed.get(asset, D(0))
            - self.interest.get(asset, D(0))
            + self.um_wallet.get(asset, D(0))
            + self.cm_wallet.get(asset, D(0))
            + self.upnl(asset)
        )

    def figures(self) -> tuple[Decimal, Decimal, Decimal]:
        """(adjusted equity, actual equity, maintenance margin), USD."""
        adjusted = actual = mm = D(0)
        for asset in ("BTC", "ETH", "USDT"):
            usd = self.net(asset) * self.index[asset]
            actual += usd
            adjusted += min(usd * PM_COLLATERAL[asset], usd)
            loan = self.borrowed.get(asset, D(0)) + self.interest.get(asset, D(0))
            mm += (self.futures_mm(asset) + loan * PM_LOAN_MMR) * self.index[asset]
        return adjusted - self.open_loss, actual, mm

    def risk(self) -> float:
        eq, _, mm = self.figures()
        return float(D("1.05") * mm / eq) if eq > 0 else 10.0


def pm_status(uni: Decimal, current: str) -> str:
    """MARGIN_CALL at uniMMR ≤ 1.5, REDUCE_ONLY at ≤ 1.2 (INFERRED bands, margin-math §5.4),
    left only 0.03 above the line so that a hovering account does not flap."""
    if uni <= D("1.2") or (current == "REDUCE_ONLY" and uni < D("1.23")):
        return "REDUCE_ONLY"
    if uni <= D("1.5") or (current != "NORMAL" and uni < D("1.53")):
        return "MARGIN_CALL"
    return "NORMAL"


def pm_account(book: PmBook, status: str, t: int) -> JSON:
    eq, actual, mm = book.figures()
    im = sum((g.notional(book.marks[g.symbol]) / g.leverage for g in book.um), D(0))
    im += sum(
        (g.notional(book.marks[g.symbol]) / g.leverage * book.index["BTC"] for g in book.cm), D(0)
    )
    im += (book.borrowed["USDT"] + book.interest["USDT"]) * D("0.5")
    return {
        "uniMMR": f8(eq / mm),
        "accountEquity": f8(eq),
        "actualEquity": f8(actual),
        "accountInitialMargin": f8(im),
        "accountMaintMargin": f8(mm),
        "accountStatus": status,
        "virtualMaxWithdrawAmount": f8(max(eq - im, D(0))),
        "totalAvailableBalance": f8(max(eq - im, D(0))),
        "totalMarginOpenLoss": f8(book.open_loss),
        "updateTime": t,
    }


PM_START = "2026-07-15T07:55:00"
PM_DURATION = 600
PM_UM_WALLET = D("1250.00000000")  # USDT in the UM wallet at the start
#: Uniform price scale s(t) of BTC and ETH (keys), tuned so that risk = 1.05/uniMMR starts near
#: 0.46, crosses 0.70 / 0.85, hovers around 0.85, peaks in (0.95, 1.0) and ends below 0.67.
PM_SCALE_KEYS: list[tuple[int, float]] = [
    (0, 1.0),
    (45, 1.025),
    (110, 1.10),
    (160, 1.165),
    (200, 1.2035),
    (215, 1.2100),
    (228, 1.2020),
    (241, 1.2110),
    (254, 1.2035),
    (268, 1.2135),
    (283, 1.2050),
    (300, 1.2090),
    (330, 1.2200),
    (360, 1.2360),
    (372, 1.2405),
    (385, 1.2390),
    (400, 1.2250),
    (440, 1.1900),
    (500, 1.1400),
    (560, 1.1000),
    (PM_DURATION, 1.0800),
]


def make_portfolio_margin() -> Path:
    """A hedged PM book (long spot, short UM/CM perps, USDT loan) sliding and recovering."""
    rng = random.Random(4004)
    start = epoch_ms(PM_START)
    funding_at = epoch_ms("2026-07-15T08:00:00")
    f = (funding_at - start) // 1000
    btc0, eth0 = 95000.0, 3300.0
    btc_idx = price_path(rng, [(t, round(btc0 * s, 2)) for t, s in PM_SCALE_KEYS], 1.2e-4, 2)
    eth_idx = price_path(rng, [(t, round(eth0 * s, 2)) for t, s in PM_SCALE_KEYS], 1.5e-4, 2)
    basis = {"BTCUSDT": D("1.0003"), "ETHUSDT": D("1.0004"), "BTCUSD_PERP": D("1.00045")}
    under = {"BTCUSDT": btc_idx, "ETHUSDT": eth_idx, "BTCUSD_PERP": btc_idx}

    def mark(symbol: str, k: int) -> Decimal:
        return (under[symbol][k] * basis[symbol]).quantize(D("0.01"))

    um = [
        UmLeg("BTCUSDT", "BOTH", D("-16.000"), D("94250.00"), 10, BTCUSDT_TIERS, "USDT"),
        UmLeg("ETHUSDT", "BOTH", D("-220.000"), D("3280.00"), 10, ETHUSDT_TIERS, "USDT"),
    ]
    cm = [CmLeg("BTCUSD_PERP", D(-2000), D("93800.0"), 10, BTCUSD_PERP_TIERS, "BTC", D(100))]
    book = PmBook(
        free={"BTC": D("12.00000000"), "ETH": D("180.00000000"), "USDT": D("95000.00000000")},
        locked={"USDT": D("3750.00000000")},
        borrowed={"USDT": D("1400000.00000000")},
        interest={"USDT": D("1873.42000000")},
        um_wallet={"USDT": PM_UM_WALLET},
        cm_wallet={"BTC": D("0.35000000")},
        um=um,
        cm=cm,
        marks={s: mark(s, 0) for s in basis},
        index={"BTC": btc_idx[0], "ETH": eth_idx[0], "USDT": D(1)},
        open_loss=D("187.50000000"),
    )
    status = pm_status(book.figures()[0] / book.figures()[2], "NORMAL")
    rec = Recorder()
    t = start + 45
    rec.rest(t, "/papi/v1/account", pm_account(book, status, t - 5))

    def balance_rows(at: int) -> list[JSON]:
        rows = []
        for asset in ("BTC", "ETH", "USDT"):
            free, locked = book.free.get(asset, D(0)), book.locked.get(asset, D(0))
            umw, cmw = book.um_wallet.get(asset, D(0)), book.cm_wallet.get(asset, D(0))
            um_up = sum((g.upnl(book.marks[g.symbol]) for g in um if g.asset == asset), D(0))
            cm_up = sum((g.upnl(book.marks[g.symbol]) for g in cm if g.asset == asset), D(0))
            rows.append(
                {
                    "asset": asset,
                    "totalWalletBalance": f8(free + locked + umw + cmw),
                    "crossMarginAsset": f8(free + locked),
                    "crossMarginBorrowed": f8(book.borrowed.get(asset, D(0))),
                    "crossMarginFree": f8(free),
                    "crossMarginInterest": f8(book.interest.get(asset, D(0))),
                    "crossMarginLocked": f8(locked),
                    "umWalletBalance": f8(umw),
                    "umUnrealizedPNL": f8(um_up),
                    "cmWalletBalance": f8(cmw),
                    "cmUnrealizedPNL": f8(cm_up),
                    "updateTime": at,
                    "negativeBalance": f8(-umw if umw < 0 else 0),
                }
            )
        return rows

    rec.rest(t + 63, "/papi/v1/balance", balance_rows(t + 50))

    def pm_liq(symbol: str) -> float:
        saved = book.marks[symbol]

        def health(price: float) -> float:
            book.marks[symbol] = D(str(price))
            eq, _, mm = book.figures()
            book.marks[symbol] = saved
            return float(eq - D("1.05") * mm)

        return solve_down_up(health, float(saved))

    rec.rest(
        t + 120,
        "/papi/v1/um/positionRisk",
        [
            {
                "symbol": g.symbol,
                "positionAmt": fq(g.qty, 3),
                "entryPrice": fq(g.entry, 2),
                "markPrice": f8(book.marks[g.symbol]),
                "unRealizedProfit": f8(g.upnl(book.marks[g.symbol])),
                "liquidationPrice": f8(D(str(round(pm_liq(g.symbol), 8)))),
                "leverage": str(g.leverage),
                "maxNotionalValue": "40000000",
                "positionSide": "BOTH",
                "notional": f8(g.qty * book.marks[g.symbol]),
                "updateTime": t + 100,
            }
            for g in um
        ],
    )
    rec.rest(
        t + 171,
        "/papi/v1/cm/positionRisk",
        [
            {
                "symbol": g.symbol,
                "positionAmt": str(g.qty),
                "entryPrice": str(g.entry),
                "markPrice": f8(book.marks[g.symbol]),
                "unRealizedProfit": f8(g.upnl(book.marks[g.symbol])),
                "liquidationPrice": f8(D(str(round(pm_liq(g.symbol), 8)))),
                "leverage": str(g.leverage),
                "positionSide": "BOTH",
                "updateTime": t + 100,
                "maxQty": "1000",
                "notionalValue": f8(g.qty * g.size / book.marks[g.symbol]),
            }
            for g in cm
        ],
    )
    rec.rest(
        t + 212,
        "/papi/v1/um/leverageBracket",
        [
            um_brackets("BTCUSDT", BTCUSDT_TIERS, "1.0"),
            um_brackets("ETHUSDT", ETHUSDT_TIERS, "1.0"),
        ],
    )
    rec.rest(
        t + 250, "/papi/v1/cm/leverageBracket", [cm_brackets("BTCUSD_PERP", BTCUSD_PERP_TIERS)]
    )
    rec.rest(
        t + 301,
        "/fapi/v1/exchangeInfo",
        um_exchange_info(
            t + 290,
            ["USDT", "USDC", "BTC", "BNB"],
            [
                um_symbol("BTCUSDT", "BTC", "USDT", "USDT"),
                um_symbol("ETHUSDT", "ETH", "USDT", "USDT", tick="0.01"),
            ],
        ),
    )
    rec.rest(
        t + 344,
        "/dapi/v1/exchangeInfo",
        {
            "timezone": "UTC",
            "serverTime": t + 330,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [cm_symbol("BTCUSD_PERP", "BTCUSD", "PERPETUAL", 4133404800000, 100, "BTC")],
        },
    )
    rates = {"BTCUSDT": "0.00010000", "ETHUSDT": "0.00010000", "BTCUSD_PERP": "0.00010000"}

    def next_funding(k: int) -> int:
        return funding_at if k < f else funding_at + 8 * HOUR

    def index_for(symbol: str, k: int) -> Decimal:
        return under[symbol][k]

    rec.rest(
        t + 390,
        "/fapi/v1/premiumIndex",
        [
            premium_row(s, book.marks[s], index_for(s, 0), rates[s], next_funding(0), start)
            for s in ("BTCUSDT", "ETHUSDT")
        ],
    )
    rec.rest(
        t + 431,
        "/dapi/v1/premiumIndex",
        [
            dict(
                premium_row(
                    "BTCUSD_PERP",
                    book.marks["BTCUSD_PERP"],
                    index_for("BTCUSD_PERP", 0),
                    rates["BTCUSD_PERP"],
                    next_funding(0),
                    start,
                ),
                pair="BTCUSD",
            )
        ],
    )
    others = {"USDC": "0.99990000"}

    def index_rows(k: int, at: int) -> list[JSON]:
        rows = [
            {"asset": "BTC", "assetIndexPrice": f8(btc_idx[k]), "time": at},
            {"asset": "ETH", "assetIndexPrice": f8(eth_idx[k]), "time": at},
            {"asset": "USDT", "assetIndexPrice": "1.00000000", "time": at},
        ]
        rows += [{"asset": a, "assetIndexPrice": p, "time": at} for a, p in others.items()]
        return rows

    rec.rest(t + 470, "/sapi/v1/portfolio/asset-index-price", index_rows(0, start))
    rec.rest(
        t + 512,
        "/sapi/v1/portfolio/collateralRate",
        [{"asset": a, "collateralRate": f"{r:.4f}"} for a, r in PM_COLLATERAL.items()],
    )

    # --- the session
    risks: list[float] = []
    user: dict[int, list[tuple[int, JSON, Callable[[], None] | None]]] = {}

    def at(k: int, offset: int, body: JSON, apply: Callable[[], None] | None = None) -> None:
        user.setdefault(k, []).append((offset, body, apply))

    eth_order = D("33500.00000000")  # limit BUY 10 ETH @ 3,350 with USDT (cross margin)

    def place() -> None:
        book.free["USDT"] -= eth_order
        book.locked["USDT"] += eth_order

    def cancel() -> None:
        book.free["USDT"] += eth_order
        book.locked["USDT"] -= eth_order

    def outbound(k: int, offset: int) -> JSON:
        e = start + k * 1000 + offset
        return {
            "e": "outboundAccountPosition",
            "E": e,
            "u": e - 2,
            "U": 1027053479517 + k,
            "B": [{"a": "USDT", "f": f8(book.free["USDT"]), "l": f8(book.locked["USDT"])}],
        }

    repay = D("60000")
    interest_paid = book.interest["USDT"]

    def do_repay() -> None:
        book.free["USDT"] -= repay
        book.borrowed["USDT"] -= repay - interest_paid
        book.interest["USDT"] = D(0)

    open_loss_events = {75: D("1862.50000000"), 255: D("187.50000000")}
    fees = {
        "BTCUSDT": -(D("-16") * mark("BTCUSDT", f) * D(rates["BTCUSDT"])),
        "ETHUSDT": -(D("-220") * mark("ETHUSDT", f) * D(rates["ETHUSDT"])),
        "BTCUSD_PERP": -(D(-2000) * D(100) / mark("BTCUSD_PERP", f) * D(rates["BTCUSD_PERP"])),
    }
    for k in range(1, PM_DURATION + 1):
        event_time = start + k * 1000
        # Binance values collateral at continuous index prices; the monitor streams them (the
        # perpetuals' `i`) and polls `/sapi/v1/portfolio/asset-index-price` every 10 s.
        book.index["BTC"], book.index["ETH"] = btc_idx[k], eth_idx[k]
        # marks: UM on fstream, CM on dstream (separate frames, 1 s each)
        for symbol, st in (("BTCUSDT", 1), ("ETHUSDT", 1), ("BTCUSD_PERP", 2)):
            book.marks[symbol] = mark(symbol, k)
            frame = mark_frame(
                event_time,
                symbol,
                book.marks[symbol],
                index_for(symbol, k),
                rates[symbol],
                next_funding(k),
                st,
            )
            rec.ws(event_time + latency(rng), "market", frame)
            risks.append(book.risk())
        if k == 75:
            place()
            rec.ws(event_time + 310, "user", outbound(k, 300))
            rec.ws(
                event_time + 352,
                "user",
                {
                    "e": "openOrderLoss",
                    "E": event_time + 350,
                    "O": [{"a": "USDT", "o": f8(-open_loss_events[k])}],
                },
            )
        if k == 255:
            cancel()
            rec.ws(event_time + 410, "user", outbound(k, 400))
            rec.ws(
                event_time + 447,
                "user",
                {
                    "e": "openOrderLoss",
                    "E": event_time + 445,
                    "O": [{"a": "USDT", "o": f8(-open_loss_events[k])}],
                },
            )
        if k in open_loss_events:
            book.open_loss = open_loss_events[k]
            risks.append(book.risk())
            rec.rest(
                event_time + 611, "/papi/v1/account", pm_account(book, status, event_time + 600)
            )
        if k == f:
            book.um_wallet["USDT"] += fees["BTCUSDT"] + fees["ETHUSDT"]
            book.cm_wallet["BTC"] += fees["BTCUSD_PERP"].quantize(Q8)
            rec.ws(
                event_time + 37,
                "user",
                {
                    "e": "ACCOUNT_UPDATE",
                    "fs": "UM",
                    "E": event_time + 9,
                    "T": event_time + 5,
                    "i": "",
                    "a": {
                        "m": "FUNDING_FEE",
                        "B": [
                            {
                                "a": "USDT",
                                "wb": f8(book.um_wallet["USDT"]),
                                "cw": f8(book.um_wallet["USDT"]),
                                "bc": "0",
                            }
                        ],
                        "P": [],
                    },
                },
            )
            rec.ws(
                event_time + 58,
                "user",
                {
                    "e": "ACCOUNT_UPDATE",
                    "fs": "CM",
                    "E": event_time + 12,
                    "T": event_time + 6,
                    "i": "",
                    "a": {
                        "m": "FUNDING_FEE",
                        "B": [
                            {
                                "a": "BTC",
                                "wb": f8(book.cm_wallet["BTC"]),
                                "cw": f8(book.cm_wallet["BTC"]),
                                "bc": "0",
                            }
                        ],
                        "P": [],
                    },
                },
            )
            risks.append(book.risk())
        if k == 450:
            do_repay()
            # `p`/`i`: this repayment's principal and interest; `l`: the liability left after it
            rec.ws(
                event_time + 520,
                "user",
                {
                    "e": "liabilityChange",
                    "E": event_time + 515,
                    "a": "USDT",
                    "t": "REPAY",
                    "T": 1352286576452864727 + k,
                    "p": f8(repay - interest_paid),
                    "i": f8(interest_paid),
                    "l": f8(book.borrowed["USDT"] + book.interest["USDT"]),
                },
            )
            rec.ws(event_time + 523, "user", outbound(k, 518))
            risks.append(book.risk())
        if k % 10 == 0:  # asset index prices polled every 10 s
            rec.rest(
                event_time + 250,
                "/sapi/v1/portfolio/asset-index-price",
                index_rows(k, event_time + 200),
            )
            risks.append(book.risk())
        eq, actual, mm = book.figures()
        new = pm_status(eq / mm, status)
        if new != status and new != "NORMAL":
            rec.ws(
                event_time + 700,
                "user",
                {
                    "e": "riskLevelChange",
                    "E": event_time + 690,
                    "u": f8(eq / mm),
                    "s": new,
                    "eq": f8(eq),
                    "ae": f8(actual),
                    "m": f8(mm),
                },
            )
        status = new
        if k % 60 == 0:
            rec.rest(
                event_time + 800, "/papi/v1/account", pm_account(book, status, event_time + 780)
            )
    peak, final = max(risks), risks[-1]
    if not (0.955 < peak < 0.99 and final < 0.65 and 0.44 < risks[0] < 0.47):
        raise SystemExit(
            f"PM risk path out of shape: start {risks[0]:.4f} peak {peak:.4f} final {final:.4f}"
        )
    meta = Meta(
        account="main",
        mode="portfolio_margin",
        environment="mainnet",
        started=start,
        extra={
            "description": "Portfolio Margin flagship example: hedged book slides "
            "toward liquidation and recovers"
        },
    )
    print(f"portfolio_margin: risk start {risks[0]:.4f} peak {peak:.4f} final {final:.4f}")
    return rec.write("portfolio_margin.jsonl", meta)


def main(argv: list[str] | None = None) -> None:
    """Write every example into `monitor/examples/` (or `--out DIR`)."""
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output directory")
    OUT = parser.parse_args(argv).out
    OUT.mkdir(parents=True, exist_ok=True)
    written = [
        make_usdm(),
        make_multi_assets("usdm_multi_assets.jsonl", 19000.0, 620.0, 120, 2002),
        make_multi_assets("usdm_multi_assets_seed_s2.jsonl", 20000.0, 600.0, 60, 2012),
        make_coinm(),
        make_portfolio_margin(),
    ]
    for path in written:
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
