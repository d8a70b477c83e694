"""`coinm.jsonl`: COIN-M, BTC and ETH cross pools plus an isolated quarterly, pair mark arrays;
the mode is inferred from the REST lines (no `mode` in meta).
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from examples.common import Recorder, epoch_ms, latency, price_path, solve_down_up
from monitor.feed.recording import Meta
from monitor.sim.wire.brackets import (
    BTCUSD_PERP_TIERS,
    BTCUSD_QUARTER_TIERS,
    ETHUSD_PERP_TIERS,
    cm_brackets,
)
from monitor.sim.wire.coinm import (
    CmLeg,
    cm_account,
    cm_exchange_info,
    cm_flat_position_row,
    cm_position_risk_row,
    cm_premium_row,
    cm_symbol,
)
from monitor.sim.wire.decimals import Q8, D
from monitor.sim.wire.streams import combined, mark_frame
from monitor.sim.wire.usdm import position_side_dual


def make_coinm(out: Path) -> Path:
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
    rec = Recorder(out)
    t = start + 52
    rec.rest(t, "/dapi/v1/positionSide/dual", position_side_dual(False))
    info_symbols = []
    for pair, syms in pairs.items():
        base = pair[:3]
        size = 100 if base == "BTC" else 10
        info_symbols += [
            cm_symbol(syms[0], pair, "PERPETUAL", 4133404800000, size, base),
            cm_symbol(syms[1], pair, "CURRENT_QUARTER", q1, size, base),
            cm_symbol(syms[2], pair, "NEXT_QUARTER", q2, size, base),
        ]
    rec.rest(t + 120, "/dapi/v1/exchangeInfo", cm_exchange_info(t + 110, info_symbols))
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
    rec.rest(t + 240, "/dapi/v1/account", cm_account(legs, marks0, wallets, t + 200))

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

    rows = [cm_position_risk_row(g, marks0[g.symbol], cm_liq(g), t + 200) for g in legs]
    rows.append(cm_flat_position_row("ETHUSD_260925", marks0["ETHUSD_260925"]))
    rec.rest(t + 303, "/dapi/v1/positionRisk", rows)
    rec.rest(
        t + 355,
        "/dapi/v1/premiumIndex",
        [cm_premium_row(s, marks0[s], index(s, 0), rate(s), funding(s), start) for s in paths],
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
                combined(f"{pair.lower()}@markPrice@1s", frames),
            )
    meta = Meta(
        account="main",
        environment="mainnet",
        started=start,
        extra={"description": "COIN-M example (mode inferred)"},
    )
    return rec.write("coinm.jsonl", meta)
