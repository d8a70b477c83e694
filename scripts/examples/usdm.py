"""`usdm.jsonl`: USDⓈ-M single-asset, USDT and USDC cross pools, hedge legs, an isolated leg,
funding and an order fill; the mode is inferred from the REST lines (no `mode` in meta).
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from examples.common import HOUR, Recorder, epoch_ms, latency, price_path, solve_down_up
from monitor.feed.recording import Meta
from monitor.sim.wire.brackets import (
    BTCUSDC_TIERS,
    BTCUSDT_TIERS,
    ETHUSDT_TIERS,
    SOLUSDT_TIERS,
    tiers,
    um_brackets,
)
from monitor.sim.wire.decimals import D, f8, fq
from monitor.sim.wire.streams import (
    account_update,
    combined,
    filled,
    mark_frame,
    order,
    order_trade_update,
    position_entry,
    trade_lite,
    wallet_entry,
)
from monitor.sim.wire.usdm import (
    UmLeg,
    multi_assets_margin,
    position_side_dual,
    premium_row,
    um_account_v3,
    um_exchange_info,
    um_position_risk_row,
    um_symbol,
)


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


def make_usdm(out: Path) -> Path:
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

    rec = Recorder(out)
    marks0 = {s: p[0] for s, p in paths.items()}
    t = start + 40
    rec.note(start, "hedge mode (dualSidePosition): every leg is LONG or SHORT")
    rec.rest(t, "/fapi/v1/multiAssetsMargin", multi_assets_margin(False))
    rec.rest(t + 61, "/fapi/v1/positionSide/dual", position_side_dual(True))
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
                    combined(f"{symbol.lower()}@markPrice@1s", frame),
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
        account_update(
            funding_t,
            funding_t + 2,
            "FUNDING_FEE",
            [
                wallet_entry("USDT", f8(cw_usdt + sol.iw), f8(cw_usdt)),
                wallet_entry("USDC", f8(cw_usdc), f8(cw_usdc)),
            ],
            [],
            reason_first=False,
        ),
    )
    sol.iw = sol.iw + fee_sol
    rec.ws(
        funding_t + 31,
        "user",
        account_update(
            funding_t + 1,
            funding_t + 3,
            "FUNDING_FEE",
            [wallet_entry("USDT", f8(cw_usdt + sol.iw), f8(cw_usdt))],
            [
                position_entry(
                    "SOLUSDT",
                    "110",
                    "236.80000",
                    "236.91840",
                    f8(sol.upnl(fm["SOLUSDT"])),
                    "isolated",
                    f8(sol.iw),
                    "LONG",
                )
            ],
        ),
    )

    # --- a market SELL of 2 ETHUSDT (SHORT leg 8 -> 10) at 195 s
    fill_price, fill_qty = D("3138.60"), D(2)
    commission = fill_price * fill_qty * D("0.0005")
    short = legs[2]
    new_entry = (abs(short.qty) * short.entry + fill_qty * fill_price) / (abs(short.qty) + fill_qty)
    placed = start + 195 * 1000 + 412
    filled_at = placed + 6
    order_id = 8389765712345678901
    base_order = order(
        "ETHUSDT", "web_Yx3kQ7mPz1", "SELL", "MARKET", "2.000", "0", order_id, placed, "SHORT"
    )
    rec.ws(placed + 19, "user", order_trade_update(placed, placed + 2, base_order))
    trade = filled(base_order, fill_price, "2.000", commission, filled_at, 5123456789)
    rec.ws(filled_at + 11, "user", trade_lite(filled_at + 1, trade, fill_price, 5123456789))
    rec.ws(filled_at + 14, "user", order_trade_update(filled_at, filled_at + 3, trade))
    cw_usdt -= commission
    short.qty, short.entry = short.qty - fill_qty, new_entry
    mark_now = paths["ETHUSDT"][195]
    rec.ws(
        filled_at + 16,
        "user",
        account_update(
            filled_at,
            filled_at + 3,
            "ORDER",
            [wallet_entry("USDT", f8(cw_usdt + sol.iw), f8(cw_usdt))],
            [
                position_entry("ETHUSDT", "0", "0.00000", "0", "0", "cross", "0", "BOTH"),
                position_entry(
                    "ETHUSDT",
                    fq(short.qty, 3),
                    fq(short.entry, 5),
                    fq(short.entry * D("0.9995"), 5),
                    f8(short.upnl(mark_now)),
                    "cross",
                    "0",
                    "SHORT",
                ),
            ],
        ),
    )
    meta = Meta(
        account="main",
        environment="mainnet",
        started=start,
        extra={"description": "USDⓈ-M single-asset example (mode inferred)"},
    )
    return rec.write("usdm.jsonl", meta)
