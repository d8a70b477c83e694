"""The `calc` report (spec/recording.md): a replayed recording's final figures, as JSON or a table.

The JSON keys are a stable public interface: `mode`, `risk`, `margin_ratio`, `uni_mmr`,
`equity`, `maint_margin`, `assets`, `positions`, `distance`, `status`, plus extra keys
(`unit`, `pools`, `restore`, …) that consumers may ignore. Numbers are JSON floats.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from monitor.engine.book import Book
from monitor.engine.liquidation import Distance, distances, liquidation_prices
from monitor.engine.model import Mode
from monitor.engine.restore import cut_to_target, deposit_to_target, max_withdrawable
from monitor.feed.recording import read_recording
from monitor.feed.replay import Replay

#: Risk the "what restores safety" figures aim for.
RESTORE_TARGET = 0.5


def calc_file(path: str | Path, *, margin_leverage: int = 3) -> dict[str, Any]:
    """Replay `path` to its end and return the report (RecordingError / WireError on bad input)."""
    meta, lines = read_recording(path)
    replay = Replay(meta, margin_leverage=margin_leverage)
    book = replay.run(lines)
    report = build_report(book)
    report["account"] = meta.account
    report["events"] = dict(sorted(replay.counters.items()))
    if replay.warnings:
        report["warnings"] = replay.warnings[-20:]
    return report


def _num(value: float | None) -> float | None:
    """JSON-safe float (None for NaN / infinity)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _distance(d: Distance) -> dict[str, float | None]:
    return {"down": _num(d.down), "up": _num(d.up)}


def build_report(book: Book) -> dict[str, Any]:
    """The calc report of the book's current state."""
    snap = book.snapshot()
    state = book.state
    lps = liquidation_prices(state)
    pools = {p.key: p for p in snap.pools}
    positions = []
    for leg in snap.legs:
        entry: dict[str, Any] = {
            "symbol": leg.symbol,
            "side": leg.side,
            "qty": leg.qty,
            "entry_price": leg.entry_price,
            "mark_price": leg.mark_price,
            "unrealized_pnl": leg.unrealized_pnl,
            "maint_margin": leg.maint_margin,
            "notional": leg.notional,
            "settle_asset": leg.settle_asset,
            "margin": "isolated" if leg.isolated else "cross",
            "liquidation_price": _num(lps.get((leg.symbol, leg.side))),
        }
        if leg.isolated:
            pool = pools[f"{leg.symbol}:{leg.side}"]
            entry["isolated_wallet"] = leg.isolated_wallet
            entry["margin_ratio"] = pool.risk
        positions.append(entry)
    dist = distances(state)
    nearest = dist["nearest_underlying"]
    deposit = deposit_to_target(state, RESTORE_TARGET)
    cut = cut_to_target(state, RESTORE_TARGET)
    return {
        "mode": snap.mode.value,
        "risk": snap.risk,
        "margin_ratio": snap.margin_ratio,
        "uni_mmr": _num(snap.uni_mmr),
        "equity": snap.equity,
        "maint_margin": snap.maint_margin,
        "unit": snap.unit,
        "assets": [
            {
                "asset": a.asset,
                "equity": a.equity,
                "maint_margin": a.maint_margin,
                "equity_value": a.equity_value,
                "maint_margin_asset": a.maint_margin_asset,
            }
            for a in snap.assets
        ],
        "positions": positions,
        "pools": [
            {
                "pool": p.key,
                "unit": p.unit,
                "equity": p.equity,
                "maint_margin": p.maint_margin,
                "risk": p.risk,
                "isolated": p.isolated,
            }
            for p in snap.pools
        ],
        "distance": {
            "uniform_down": _num(dist["uniform"].down),
            "uniform_up": _num(dist["uniform"].up),
            "nearest_underlying": nearest,
            "by_underlying": {u: _distance(d) for u, d in dist["by_underlying"].items()},
        },
        "restore": {
            "target_risk": RESTORE_TARGET,
            "deposit": {"asset": deposit.asset, "amount": deposit.amount, "pool": deposit.pool},
            "cut": None
            if cut is None
            else {
                "symbol": cut.symbol,
                "side": cut.side,
                "fraction": cut.fraction,
                "sufficient": cut.sufficient,
            },
            "max_withdrawable": max_withdrawable(state),
        },
        "status": snap.status,
    }


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:+.2f} %"


def _native(snap_mode: str, report: dict[str, Any]) -> str:
    if snap_mode == Mode.PORTFOLIO_MARGIN.value:
        uni = report["uni_mmr"]
        return "uniMMR ∞ (no maintenance margin)" if uni is None else f"uniMMR {uni:.4f}"
    return f"margin ratio {report['margin_ratio'] * 100:.2f} %"


def format_table(report: dict[str, Any]) -> str:
    """The human-readable report (`calc` without --json)."""
    unit = report["unit"]
    lines = [
        f"account {report.get('account', '?')} · mode {report['mode']} · status {report['status']}",
        f"risk {report['risk'] * 100:.2f} % · {_native(report['mode'], report)}",
        f"equity {report['equity']:,.4f} {unit} · maintenance margin "
        f"{report['maint_margin']:,.4f} {unit}",
        "",
        f"{'asset':<8}{'equity':>18}{'value':>18}{'maint margin':>16}",
    ]
    for a in report["assets"]:
        lines.append(
            f"{a['asset']:<8}{a['equity']:>18,.6f}{a['equity_value']:>18,.4f}"
            f"{a['maint_margin']:>16,.4f}"
        )
    lines += ["", f"{'position':<22}{'qty':>12}{'entry':>14}{'mark':>14}{'uPnL':>14}"
              f"{'MM':>12}{'liq. price':>14}"]
    for p in report["positions"]:
        lp = p["liquidation_price"]
        lines.append(
            f"{p['symbol'] + ' ' + p['side']:<22}{p['qty']:>12,.4f}{p['entry_price']:>14,.4f}"
            f"{p['mark_price']:>14,.4f}{p['unrealized_pnl']:>14,.4f}{p['maint_margin']:>12,.4f}"
            f"{'—' if lp is None else format(lp, ',.4f'):>14}"
        )
    dist = report["distance"]
    lines += [
        "",
        f"distance to liquidation, all non-stable prices: down {_pct(dist['uniform_down'])}, "
        f"up {_pct(dist['uniform_up'])}",
    ]
    for underlying, d in dist["by_underlying"].items():
        lines.append(f"  {underlying} alone: down {_pct(d['down'])}, up {_pct(d['up'])}")
    restore = report["restore"]
    dep, cut = restore["deposit"], restore["cut"]
    target = restore["target_risk"] * 100
    lines.append("")
    if dep["amount"] > 0:
        lines.append(f"deposit {dep['amount']:,.2f} {dep['asset']} to return to {target:.0f} %")
    if cut is not None and cut["fraction"] > 0:
        enough = "" if cut["sufficient"] else " (not enough on its own)"
        lines.append(
            f"or cut {cut['symbol']} {cut['side']} by {cut['fraction'] * 100:.0f} %{enough}"
        )
    lines.append(f"max withdrawable {restore['max_withdrawable']:,.4f}")
    return "\n".join(lines)
