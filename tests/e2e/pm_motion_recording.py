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

The payloads are built by `monitor.sim.wire`. `build()` returns the recording lines and, after
every ws line, the account's risk (1.05 · MM / adjusted equity, margin-math §5.2, computed here
in Decimal, not with the engine): `exact` with BTC collateral at its continuous price, `polled`
with it at the last polled price (the monitor's old behaviour, for the sawtooth the continuous
pricing removes). A repayment counts once its `outboundAccountPosition` arrived (the monitor
holds the `liabilityChange` until then).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from monitor.feed.recording import Line, Meta, RestLine, WsLine
from monitor.sim.wire.brackets import (
    BTCUSD_PERP_TIERS,
    BTCUSDT_TIERS,
    cm_brackets,
    maint,
    um_brackets,
)
from monitor.sim.wire.coinm import CmLeg, cm_exchange_info, cm_premium_row, cm_symbol
from monitor.sim.wire.decimals import f8
from monitor.sim.wire.portfolio import (
    asset_index_price_row,
    collateral_rate_row,
    pm_account,
    pm_balance_row,
    pm_cm_position_row,
    pm_um_position_row,
)
from monitor.sim.wire.streams import liability_change, mark_frame, outbound_account_position
from monitor.sim.wire.usdm import UmLeg, premium_row, um_exchange_info, um_symbol_min

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
    rest(t, "/papi/v1/account", pm_account(eq, actual, mm * 3, mm, "NORMAL", D(0), t - 5))

    def balance_row(asset: str, at: int) -> JSON:
        return pm_balance_row(
            asset,
            free=book.free.get(asset, D(0)),
            locked=D(0),
            borrowed=book.borrowed.get(asset, D(0)),
            interest=book.interest.get(asset, D(0)),
            um_wallet=book.um_wallet.get(asset, D(0)),
            cm_wallet=book.cm_wallet.get(asset, D(0)),
            um_upnl=book.um_upnl() if asset == "USDT" else D(0),
            cm_upnl=book.cm_upnl() if asset == "BTC" else D(0),
            t=at,
        )

    rest(t + 60, "/papi/v1/balance", [balance_row(a, t + 50) for a in ("BTC", "USDT")])
    um_leg = UmLeg("BTCUSDT", "BOTH", book.um_qty, book.um_entry, 10, BTCUSDT_TIERS, "USDT")
    cm_leg = CmLeg(
        "BTCUSD_PERP", book.cm_qty, book.cm_entry, 10, BTCUSD_PERP_TIERS, "BTC", CONTRACT_SIZE
    )
    um_mark, cm_mark = book.marks["BTCUSDT"], book.marks["BTCUSD_PERP"]
    rest(t + 120, "/papi/v1/um/positionRisk", [pm_um_position_row(um_leg, um_mark, 0.0, t + 100)])
    rest(t + 170, "/papi/v1/cm/positionRisk", [pm_cm_position_row(cm_leg, cm_mark, 0.0, t + 100)])
    rest(t + 210, "/papi/v1/um/leverageBracket", [um_brackets("BTCUSDT", BTCUSDT_TIERS, "1.0")])
    rest(t + 250, "/papi/v1/cm/leverageBracket", [cm_brackets("BTCUSD_PERP", BTCUSD_PERP_TIERS)])
    rest(t + 300, "/fapi/v1/exchangeInfo",
         um_exchange_info(t + 290, ["USDT"], [um_symbol_min("BTCUSDT", "BTC")]))
    perp = cm_symbol("BTCUSD_PERP", "BTCUSD", "PERPETUAL", 4133404800000, 100, "BTC")
    rest(t + 340, "/dapi/v1/exchangeInfo", cm_exchange_info(t + 330, [perp], rate_limits=False))
    rate = "0.00010000"
    rest(t + 390, "/fapi/v1/premiumIndex",
         [premium_row("BTCUSDT", um_mark, index[0], rate, NEXT_FUNDING, START)])
    rest(t + 430, "/dapi/v1/premiumIndex",
         [cm_premium_row("BTCUSD_PERP", cm_mark, index[0], rate, NEXT_FUNDING, START)])

    def index_rows(k: int, at: int) -> list[JSON]:
        return [
            asset_index_price_row("BTC", f8(asset_price(index[k])), at),
            asset_index_price_row("USDT", "1.00000000", at),
        ]

    rest(t + 470, "/sapi/v1/portfolio/asset-index-price", index_rows(0, START))
    rest(t + 510, "/sapi/v1/portfolio/collateralRate",
         [collateral_rate_row(a, r) for a, r in COLLATERAL.items()])

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
            mark = mark_of(symbol, index[k])
            frame = mark_frame(event_time, symbol, mark, index[k], rate, NEXT_FUNDING, st)
            timeline.append((event_time + rng.randint(3, 45), st, frame, f"mark:{k}"))
        if k == REPAY_AT_S:
            left = book.borrowed["USDT"] - (repay - interest_paid)
            change = liability_change(
                event_time + 515, "USDT", "REPAY", 1352286576452864727 + k,
                f8(repay - interest_paid), f8(interest_paid), f8(left),
            )
            timeline.append((event_time + 520, 0, change, "liability"))
            balances = [("USDT", f8(book.free["USDT"] - repay), "0.00000000")]
            outbound = outbound_account_position(
                event_time + 518, 1027053479517 + k, balances, u=event_time + 516
            )
            timeline.append((event_time + 523, 0, outbound, "repaid"))
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
