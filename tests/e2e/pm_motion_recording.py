"""A Portfolio Margin recording in motion, with its exact risk computed independently (issue 13).

The book is hedged: long BTC collateral in the cross-margin wallet financed by a USDT loan, short
the USDⓈ-M perpetual BTCUSDT and the COIN-M BTCUSD_PERP. BTC swings ±2 % on a sine over a
minute; every second each perpetual sends a `markPriceUpdate` whose `i` is the BTC index path and
whose mark is that index times a small premium. `/sapi/v1/portfolio/asset-index-price` answers
are recorded every 10 s (rows stamped with the `E` of the BTCUSDT frame whose index they match);
Binance's continuous BTC collateral price is the streamed index times a constant USDT→USD basis.
In the middle the loan is partly repaid: `liabilityChange` (t REPAY, `p` principal repaid, `i`
interest paid, `l` liability left) then, 3 ms later, `outboundAccountPosition` with the new free
USDT balance.

`build()` returns the recording lines and, after every ws line, the account's risk
(1.05 · MM / adjusted equity, margin-math §5.2, computed here in Decimal, not with the engine):
`exact` with BTC collateral at its continuous price, `polled` with it at the last polled price
(the monitor's old behaviour, for the sawtooth the continuous pricing removes). A repayment
counts once its `outboundAccountPosition` arrived (the monitor holds the `liabilityChange` until
then).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from monitor.feed.recording import Line, Meta, RestLine, WsLine

D = Decimal
JSON = dict[str, Any]

START = int(datetime(2026, 8, 3, 12, 0, tzinfo=UTC).timestamp() * 1000)
NEXT_FUNDING = START + 4 * 3_600_000
DURATION_S = 80  # marks at k = 1..DURATION_S seconds
PERIOD_S = 60.0  # the sine's period
SWING = 0.02  # ±2 %
BTC0 = D("95000")
#: USDⓈ-M index (USDT) → Binance's USD asset index price of BTC: constant over the run.
USD_BASIS = D("1.00021")
PREMIUM = {"BTCUSDT": D("1.0003"), "BTCUSD_PERP": D("1.00045")}
POLL_EVERY_S = 10
REPAY_AT_S = 40
COLLATERAL = {"BTC": D("0.95"), "USDT": D("1")}
LOAN_MMR = D("0.10")  # margin leverage 3x (margin-math §5.2)
CONTRACT_SIZE = D(100)  # USD per BTCUSD_PERP contract


def f8(x: Decimal | int) -> str:
    q = D(x).quantize(D("0.00000001"))
    return f"{abs(q) if q == 0 else q:f}"


# ------------------------------------------------------------------ brackets (Binance's tables)
@dataclass(frozen=True)
class Tier:
    floor: Decimal
    cap: Decimal
    mmr: Decimal
    leverage: int


def _tiers(rows: list[tuple[str, str, str, int]]) -> list[Tier]:
    return [Tier(D(a), D(b), D(c), lev) for a, b, c, lev in rows]


BTCUSDT_TIERS = _tiers(
    [
        ("0", "50000", "0.004", 125),
        ("50000", "600000", "0.005", 100),
        ("600000", "3000000", "0.0065", 75),
        ("3000000", "12000000", "0.01", 50),
        ("12000000", "70000000", "0.02", 25),
        ("70000000", "100000000", "0.025", 20),
    ]
)
BTCUSD_PERP_TIERS = _tiers(
    [
        ("0", "5", "0.004", 125),
        ("5", "10", "0.005", 100),
        ("10", "20", "0.01", 50),
        ("20", "50", "0.025", 20),
        ("50", "100", "0.05", 10),
    ]
)


def _cums(table: list[Tier]) -> list[Decimal]:
    out = [D(0)]
    for prev, cur in itertools.pairwise(table):
        out.append(cur.floor * (cur.mmr - prev.mmr) + out[-1])
    return out


def maint(table: list[Tier], notional: Decimal) -> Decimal:
    """MM = notional · mmr_k − cum_k of the tier whose floor is at or below the notional."""
    k = max(i for i, t in enumerate(table) if t.floor <= notional)
    return notional * table[k].mmr - _cums(table)[k]


def _num(x: Decimal) -> int | float:
    return int(x) if x == x.to_integral_value() else float(x)


def _brackets(symbol: str, table: list[Tier], cap: str, floor: str) -> JSON:
    return {
        "symbol": symbol,
        "brackets": [
            {
                "bracket": k + 1,
                "initialLeverage": t.leverage,
                cap: _num(t.cap),
                floor: _num(t.floor),
                "maintMarginRatio": _num(t.mmr),
                "cum": float(c),
            }
            for k, (t, c) in enumerate(zip(table, _cums(table), strict=True))
        ],
    }


# ------------------------------------------------------------------ the account
@dataclass
class PmBook:
    """The generated account, valued with margin-math §5.2 (independently of the engine)."""

    free: dict[str, Decimal]
    borrowed: dict[str, Decimal]
    interest: dict[str, Decimal]
    um_wallet: dict[str, Decimal]
    cm_wallet: dict[str, Decimal]
    um_qty: Decimal  # BTCUSDT, BTC (signed)
    um_entry: Decimal
    cm_qty: Decimal  # BTCUSD_PERP, contracts (signed)
    cm_entry: Decimal
    marks: dict[str, Decimal] = field(default_factory=dict)

    def um_upnl(self) -> Decimal:
        return self.um_qty * (self.marks["BTCUSDT"] - self.um_entry)

    def cm_upnl(self) -> Decimal:
        mark = self.marks["BTCUSD_PERP"]
        return self.cm_qty * CONTRACT_SIZE * (1 / self.cm_entry - 1 / mark)

    def um_mm(self) -> Decimal:
        return maint(BTCUSDT_TIERS, abs(self.um_qty) * self.marks["BTCUSDT"])

    def cm_mm(self) -> Decimal:
        """BTC: the tier of the notional in BTC."""
        notional = abs(self.cm_qty) * CONTRACT_SIZE / self.marks["BTCUSD_PERP"]
        return maint(BTCUSD_PERP_TIERS, notional)

    def net(self, asset: str) -> Decimal:
        """Margin balance − loan + futures wallets + futures uPnL, in asset units."""
        out = (
            self.free.get(asset, D(0))
            - self.borrowed.get(asset, D(0))
            - self.interest.get(asset, D(0))
            + self.um_wallet.get(asset, D(0))
            + self.cm_wallet.get(asset, D(0))
        )
        if asset == "USDT":
            out += self.um_upnl()
        if asset == "BTC":
            out += self.cm_upnl()
        return out

    def figures(self, btc_price: Decimal) -> tuple[Decimal, Decimal, Decimal]:
        """(adjusted equity, actual equity, maintenance margin) in USD, BTC at `btc_price`."""
        adjusted = actual = mm = D(0)
        for asset, price in (("BTC", btc_price), ("USDT", D(1))):
            usd = self.net(asset) * price
            actual += usd
            adjusted += min(usd * COLLATERAL[asset], usd)
            loan = self.borrowed.get(asset, D(0)) + self.interest.get(asset, D(0))
            futures = self.um_mm() if asset == "USDT" else self.cm_mm()
            mm += (futures + loan * LOAN_MMR) * price
        return adjusted, actual, mm

    def risk(self, btc_price: Decimal) -> float:
        eq, _, mm = self.figures(btc_price)
        return float(D("1.05") * mm / eq)


@dataclass(frozen=True)
class MotionRecording:
    meta: Meta
    lines: list[Line]
    #: (t, risk) after every ws line: BTC collateral at its continuous price.
    exact: list[tuple[int, float]]
    #: (t, risk) after every ws line: BTC collateral at the last polled price (old behaviour).
    polled: list[tuple[int, float]]
    #: Receive time of the repayment's `outboundAccountPosition`.
    repaid_t: int
    #: The BTC index path, k = 0..DURATION_S.
    index: list[Decimal]


def btc_index(k: int) -> Decimal:
    value = BTC0 * D(str(1.0 + SWING * math.sin(2.0 * math.pi * k / PERIOD_S)))
    return value.quantize(D("0.01"))


def mark_of(symbol: str, index: Decimal) -> Decimal:
    places = D("0.1") if symbol == "BTCUSD_PERP" else D("0.01")
    return (index * PREMIUM[symbol]).quantize(places)


def asset_price(index: Decimal) -> Decimal:
    """Binance's USD asset index price of BTC for a USDⓈ-M index (as sent: 8 places)."""
    return (index * USD_BASIS).quantize(D("0.00000001"))


def build(seed: int = 1313) -> MotionRecording:
    rng = random.Random(seed)
    index = [btc_index(k) for k in range(DURATION_S + 1)]
    book = PmBook(
        free={"BTC": D("20.00000000"), "USDT": D("110000.00000000")},
        borrowed={"USDT": D("1560000.00000000")},
        interest={"USDT": D("1200.00000000")},
        um_wallet={"USDT": D("5000.00000000")},
        cm_wallet={"BTC": D("0.05000000")},
        um_qty=D("-16.000"),
        um_entry=D("94000.00"),
        cm_qty=D(-400),
        cm_entry=D("93800.0"),
    )
    book.marks = {s: mark_of(s, index[0]) for s in PREMIUM}
    lines: list[Line] = []

    def rest(t: int, path: str, data: Any) -> None:
        lines.append(RestLine(t, "GET", path, data, {}, 200))

    def ws(t: int, conn: str, data: JSON) -> None:
        lines.append(WsLine(t, conn, data))

    t = START + 45
    eq, actual, mm = book.figures(asset_price(index[0]))
    rest(t, "/papi/v1/account", {
        "uniMMR": f8(eq / mm),
        "accountEquity": f8(eq),
        "actualEquity": f8(actual),
        "accountInitialMargin": f8(mm * 3),
        "accountMaintMargin": f8(mm),
        "accountStatus": "NORMAL",
        "virtualMaxWithdrawAmount": f8(max(eq - mm * 3, D(0))),
        "totalAvailableBalance": f8(max(eq - mm * 3, D(0))),
        "totalMarginOpenLoss": "0.00000000",
        "updateTime": t - 5,
    })

    def balance_row(asset: str, at: int) -> JSON:
        free = book.free.get(asset, D(0))
        umw, cmw = book.um_wallet.get(asset, D(0)), book.cm_wallet.get(asset, D(0))
        return {
            "asset": asset,
            "totalWalletBalance": f8(free + umw + cmw),
            "crossMarginAsset": f8(free),
            "crossMarginBorrowed": f8(book.borrowed.get(asset, D(0))),
            "crossMarginFree": f8(free),
            "crossMarginInterest": f8(book.interest.get(asset, D(0))),
            "crossMarginLocked": "0.00000000",
            "umWalletBalance": f8(umw),
            "umUnrealizedPNL": f8(book.um_upnl() if asset == "USDT" else D(0)),
            "cmWalletBalance": f8(cmw),
            "cmUnrealizedPNL": f8(book.cm_upnl() if asset == "BTC" else D(0)),
            "updateTime": at,
            "negativeBalance": "0.00000000",
        }

    rest(t + 60, "/papi/v1/balance", [balance_row(a, t + 50) for a in ("BTC", "USDT")])
    um_mark, cm_mark = book.marks["BTCUSDT"], book.marks["BTCUSD_PERP"]
    rest(t + 120, "/papi/v1/um/positionRisk", [{
        "symbol": "BTCUSDT",
        "positionAmt": f"{book.um_qty:f}",
        "entryPrice": f"{book.um_entry:f}",
        "markPrice": f8(um_mark),
        "unRealizedProfit": f8(book.um_upnl()),
        "liquidationPrice": "0.00000000",
        "leverage": "10",
        "maxNotionalValue": "40000000",
        "positionSide": "BOTH",
        "notional": f8(book.um_qty * um_mark),
        "updateTime": t + 100,
    }])
    rest(t + 170, "/papi/v1/cm/positionRisk", [{
        "symbol": "BTCUSD_PERP",
        "positionAmt": f"{book.cm_qty:f}",
        "entryPrice": f"{book.cm_entry:f}",
        "markPrice": f8(cm_mark),
        "unRealizedProfit": f8(book.cm_upnl()),
        "liquidationPrice": "0.00000000",
        "leverage": "10",
        "positionSide": "BOTH",
        "updateTime": t + 100,
        "maxQty": "1000",
        "notionalValue": f8(book.cm_qty * CONTRACT_SIZE / cm_mark),
    }])
    rest(t + 210, "/papi/v1/um/leverageBracket", [
        {**_brackets("BTCUSDT", BTCUSDT_TIERS, "notionalCap", "notionalFloor"),
         "notionalCoef": "1.0"}
    ])
    rest(t + 250, "/papi/v1/cm/leverageBracket", [
        _brackets("BTCUSD_PERP", BTCUSD_PERP_TIERS, "qtyCap", "qtyFloor")
    ])
    rest(t + 300, "/fapi/v1/exchangeInfo", {
        "timezone": "UTC",
        "serverTime": t + 290,
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [{
            "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
            "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
        }],
    })
    rest(t + 340, "/dapi/v1/exchangeInfo", {
        "timezone": "UTC",
        "serverTime": t + 330,
        "symbols": [{
            "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL",
            "contractStatus": "TRADING", "contractSize": 100, "baseAsset": "BTC",
            "quoteAsset": "USD", "marginAsset": "BTC",
        }],
    })

    def premium(symbol: str, at: int) -> JSON:
        row = {
            "symbol": symbol,
            "markPrice": f8(book.marks[symbol]),
            "indexPrice": f8(index[0]),
            "estimatedSettlePrice": f8(index[0]),
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": NEXT_FUNDING,
            "time": at,
        }
        if symbol == "BTCUSD_PERP":
            row["pair"] = "BTCUSD"
        return row

    rest(t + 390, "/fapi/v1/premiumIndex", [premium("BTCUSDT", START)])
    rest(t + 430, "/dapi/v1/premiumIndex", [premium("BTCUSD_PERP", START)])

    def index_rows(k: int, at: int) -> list[JSON]:
        return [
            {"asset": "BTC", "assetIndexPrice": f8(asset_price(index[k])), "time": at},
            {"asset": "USDT", "assetIndexPrice": "1.00000000", "time": at},
        ]

    rest(t + 470, "/sapi/v1/portfolio/asset-index-price", index_rows(0, START))
    rest(t + 510, "/sapi/v1/portfolio/collateralRate",
         [{"asset": a, "collateralRate": f"{r:.4f}"} for a, r in COLLATERAL.items()])

    # --- the session: (t, line, what it changes) in receive order
    exact: list[tuple[int, float]] = []
    polled: list[tuple[int, float]] = []
    timeline: list[tuple[int, int, JSON | None, str]] = []  # (t, order, ws frame, what)
    polled_price = continuous = asset_price(index[0])
    repay, interest_paid = D("100000"), book.interest["USDT"]
    repaid_t = 0
    for k in range(1, DURATION_S + 1):
        event_time = START + k * 1000
        for st, symbol in ((1, "BTCUSDT"), (2, "BTCUSD_PERP")):
            frame = {
                "e": "markPriceUpdate",
                "E": event_time,
                "s": symbol,
                "p": f8(mark_of(symbol, index[k])),
                "P": f8(index[k]),
                "i": f8(index[k]),
                "r": "0.00010000",
                "T": NEXT_FUNDING,
                "st": st,
            }
            timeline.append((event_time + rng.randint(3, 45), st, frame, f"mark:{k}"))
        if k == REPAY_AT_S:
            left = book.borrowed["USDT"] - (repay - interest_paid)
            timeline.append((event_time + 520, 0, {
                "e": "liabilityChange",
                "E": event_time + 515,
                "a": "USDT",
                "t": "REPAY",
                "T": 1352286576452864727 + k,
                "p": f8(repay - interest_paid),
                "i": f8(interest_paid),
                "l": f8(left),
            }, "liability"))
            timeline.append((event_time + 523, 0, {
                "e": "outboundAccountPosition",
                "E": event_time + 518,
                "u": event_time + 516,
                "U": 1027053479517 + k,
                "B": [{"a": "USDT", "f": f8(book.free["USDT"] - repay), "l": "0.00000000"}],
            }, "repaid"))
        if k % POLL_EVERY_S == 0:  # stamped with the E of the frames whose index it prices
            rest(event_time + 250, "/sapi/v1/portfolio/asset-index-price",
                 index_rows(k, event_time))
            timeline.append((event_time + 250, 0, None, f"poll:{k}"))
    timeline.sort(key=lambda item: (item[0], item[1]))
    for at, _, data, what in timeline:
        kind, _, arg = what.partition(":")
        if kind == "poll":
            polled_price = asset_price(index[int(arg)])
            continue
        assert data is not None
        if kind == "mark":
            book.marks[data["s"]] = D(data["p"])
        elif kind == "repaid":
            book.free["USDT"] -= repay
            book.borrowed["USDT"] -= repay - interest_paid
            book.interest["USDT"] = D(0)
            repaid_t = at
        ws(at, "market" if kind == "mark" else "user", data)
        if kind == "mark" and data["s"] == "BTCUSDT":
            continuous = asset_price(D(data["i"]))
        exact.append((at, book.risk(continuous)))
        polled.append((at, book.risk(polled_price)))
    lines.sort(key=lambda line: line.t)
    meta = Meta(
        account="acct",
        mode="portfolio_margin",
        environment="custom",
        started=START,
        extra={"description": "hedged PM book, BTC swinging ±2 % a minute, a repayment"},
    )
    return MotionRecording(meta, lines, exact, polled, repaid_t, index)
