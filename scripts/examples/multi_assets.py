"""`usdm_multi_assets.jsonl` / `usdm_multi_assets_seed_s2.jsonl`: the Multi-Assets worked example
of seed 001 (margin-math.md §3.3, scenario 3 / scenario 2) reached by a price path.
"""

from __future__ import annotations

import random
from pathlib import Path

from examples.common import Recorder, epoch_ms, latency, price_path
from monitor.feed.recording import Meta
from monitor.sim.wire.brackets import tiers, um_brackets
from monitor.sim.wire.decimals import D
from monitor.sim.wire.streams import asset_index_update, mark_frame
from monitor.sim.wire.usdm import (
    UmLeg,
    asset_index_row,
    multi_assets_margin,
    position_side_dual,
    premium_row,
    um_account_v3,
    um_exchange_info,
    um_position_risk_row,
    um_symbol,
)


def make_multi_assets(
    out: Path, name: str, end_btc: float, end_eth: float, duration: int, seed: int
) -> Path:
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
    rec = Recorder(out)
    marks0 = {s: p[0] for s, p in paths.items()}
    t = start + 35
    rec.rest(t, "/fapi/v1/multiAssetsMargin", multi_assets_margin(True))
    rec.rest(t + 58, "/fapi/v1/positionSide/dual", position_side_dual(False))
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
        [asset_index_row(s, start, r) for s, r in rates.items()],
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
            [asset_index_update(event_time + 200, s, r) for s, r in rates.items()],
        )
    meta = Meta(
        account="main",
        mode="usdm_multi_assets",
        environment="mainnet",
        started=start,
        extra={"description": f"seed 001 Multi-Assets example ({name})"},
    )
    return rec.write(name, meta)
