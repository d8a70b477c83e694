"""`portfolio_margin.jsonl`: a hedged Portfolio Margin book (long spot, short UM/CM perpetuals, a
USDT loan) that slides toward liquidation and recovers.

The PM account figures, `riskLevelChange` events and `/papi/v1/account` polls are computed here
with the formulas of margin-math.md §5.2 (`PmBook`, not with the engine), and the generator
checks that the risk path has the promised shape.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from examples.common import (
    HOUR,
    JSON,
    Recorder,
    epoch_ms,
    latency,
    price_path,
    solve_down_up,
)
from monitor.feed.recording import Meta
from monitor.sim.wire.brackets import (
    BTCUSD_PERP_TIERS,
    BTCUSDT_TIERS,
    ETHUSDT_TIERS,
    cm_brackets,
    um_brackets,
)
from monitor.sim.wire.coinm import CmLeg, cm_exchange_info, cm_symbol
from monitor.sim.wire.decimals import Q8, D, f8
from monitor.sim.wire.portfolio import (
    asset_index_price_row,
    collateral_rate_row,
    pm_account,
    pm_balance_row,
    pm_cm_position_row,
    pm_um_position_row,
)
from monitor.sim.wire.streams import (
    liability_change,
    mark_frame,
    open_order_loss,
    outbound_account_position,
    pm_account_update,
    risk_level_change,
    wallet_entry,
)
from monitor.sim.wire.usdm import UmLeg, premium_row, um_exchange_info, um_symbol

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


def account_body(book: PmBook, status: str, t: int) -> JSON:
    """`/papi/v1/account` of the book (initial margin: futures IM + half the USDT loan)."""
    eq, actual, mm = book.figures()
    im = sum((g.notional(book.marks[g.symbol]) / g.leverage for g in book.um), D(0))
    im += sum(
        (g.notional(book.marks[g.symbol]) / g.leverage * book.index["BTC"] for g in book.cm), D(0)
    )
    im += (book.borrowed["USDT"] + book.interest["USDT"]) * D("0.5")
    return pm_account(eq, actual, im, mm, status, book.open_loss, t)


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


def make_portfolio_margin(out: Path) -> Path:  # noqa: C901 - the example's storyline, phase by phase
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
    rec = Recorder(out)
    t = start + 45
    rec.rest(t, "/papi/v1/account", account_body(book, status, t - 5))

    def balance_rows(at: int) -> list[JSON]:
        rows = []
        for asset in ("BTC", "ETH", "USDT"):
            free, locked = book.free.get(asset, D(0)), book.locked.get(asset, D(0))
            umw, cmw = book.um_wallet.get(asset, D(0)), book.cm_wallet.get(asset, D(0))
            um_up = sum((g.upnl(book.marks[g.symbol]) for g in um if g.asset == asset), D(0))
            cm_up = sum((g.upnl(book.marks[g.symbol]) for g in cm if g.asset == asset), D(0))
            rows.append(
                pm_balance_row(
                    asset,
                    free=free,
                    locked=locked,
                    borrowed=book.borrowed.get(asset, D(0)),
                    interest=book.interest.get(asset, D(0)),
                    um_wallet=umw,
                    cm_wallet=cmw,
                    um_upnl=um_up,
                    cm_upnl=cm_up,
                    t=at,
                )
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
        [pm_um_position_row(g, book.marks[g.symbol], pm_liq(g.symbol), t + 100) for g in um],
    )
    rec.rest(
        t + 171,
        "/papi/v1/cm/positionRisk",
        [pm_cm_position_row(g, book.marks[g.symbol], pm_liq(g.symbol), t + 100) for g in cm],
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
        cm_exchange_info(
            t + 330,
            [cm_symbol("BTCUSD_PERP", "BTCUSD", "PERPETUAL", 4133404800000, 100, "BTC")],
            rate_limits=False,
        ),
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
            asset_index_price_row("BTC", f8(btc_idx[k]), at),
            asset_index_price_row("ETH", f8(eth_idx[k]), at),
            asset_index_price_row("USDT", "1.00000000", at),
        ]
        rows += [asset_index_price_row(a, p, at) for a, p in others.items()]
        return rows

    rec.rest(t + 470, "/sapi/v1/portfolio/asset-index-price", index_rows(0, start))
    rec.rest(
        t + 512,
        "/sapi/v1/portfolio/collateralRate",
        [collateral_rate_row(a, r) for a, r in PM_COLLATERAL.items()],
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
        balances = [("USDT", f8(book.free["USDT"]), f8(book.locked["USDT"]))]
        return outbound_account_position(start + k * 1000 + offset, 1027053479517 + k, balances)

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
                open_order_loss(event_time + 350, [("USDT", f8(-open_loss_events[k]))]),
            )
        if k == 255:
            cancel()
            rec.ws(event_time + 410, "user", outbound(k, 400))
            rec.ws(
                event_time + 447,
                "user",
                open_order_loss(event_time + 445, [("USDT", f8(-open_loss_events[k]))]),
            )
        if k in open_loss_events:
            book.open_loss = open_loss_events[k]
            risks.append(book.risk())
            rec.rest(
                event_time + 611, "/papi/v1/account", account_body(book, status, event_time + 600)
            )
        if k == f:
            book.um_wallet["USDT"] += fees["BTCUSDT"] + fees["ETHUSDT"]
            book.cm_wallet["BTC"] += fees["BTCUSD_PERP"].quantize(Q8)
            rec.ws(
                event_time + 37,
                "user",
                pm_account_update(
                    "UM",
                    event_time + 9,
                    event_time + 5,
                    "FUNDING_FEE",
                    [wallet_entry("USDT", f8(book.um_wallet["USDT"]), f8(book.um_wallet["USDT"]))],
                ),
            )
            rec.ws(
                event_time + 58,
                "user",
                pm_account_update(
                    "CM",
                    event_time + 12,
                    event_time + 6,
                    "FUNDING_FEE",
                    [wallet_entry("BTC", f8(book.cm_wallet["BTC"]), f8(book.cm_wallet["BTC"]))],
                ),
            )
            risks.append(book.risk())
        if k == 450:
            do_repay()
            # `p`/`i`: this repayment's principal and interest; `l`: the liability left after it
            rec.ws(
                event_time + 520,
                "user",
                liability_change(
                    event_time + 515,
                    "USDT",
                    "REPAY",
                    1352286576452864727 + k,
                    f8(repay - interest_paid),
                    f8(interest_paid),
                    f8(book.borrowed["USDT"] + book.interest["USDT"]),
                ),
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
                risk_level_change(event_time + 690, f8(eq / mm), new, f8(eq), f8(actual), f8(mm)),
            )
        status = new
        if k % 60 == 0:
            rec.rest(
                event_time + 800, "/papi/v1/account", account_body(book, status, event_time + 780)
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
