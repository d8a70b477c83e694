"""The `calc` report (docs/recording.md): a replayed recording's final figures, as JSON or a table.

The JSON keys are a stable public interface: `mode`, `risk`, `margin_ratio`, `uni_mmr`,
`equity`, `maint_margin`, `assets`, `positions`, `distance`, `status`, plus extra keys
(`unit`, `units`, `risk_source`, `pools`, `restore`, …) that consumers may ignore. Numbers are
JSON floats. Every figure says its unit: the top-level `units` map names the unit of each
top-level figure (`fraction`: 1 = 100 %), each asset, position and pool carries its own unit
fields (`unit`, `value_unit`, `price_unit`, `qty_unit`) or unit-named keys (`equity_coin`,
`maint_margin_usd`…). The schema is docs/schemas/calc.schema.json; `schema_version` changes
whenever a change could break a consumer (a key removed, renamed or retyped).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from monitor.core.ingest import Replay
from monitor.engine.book import Book
from monitor.engine.liquidation import Distance, distances, liquidation_prices
from monitor.engine.model import ContractKind, Mode
from monitor.engine.restore import cut_to_target, deposit_to_target, max_withdrawable
from monitor.engine.risk import AssetFigures, PoolFigures, RiskSnapshot
from monitor.feed.recording import read_recording

#: Risk the "what restores safety" figures aim for.
RESTORE_TARGET = 0.5
#: Version of the report's JSON schema (docs/schemas/calc.schema.json); bumped on a breaking change.
SCHEMA_VERSION = 1
#: Modes whose assets are valued in USD (Multi-Assets, Portfolio Margin).
_USD_VALUED = (Mode.USDM_MULTI_ASSETS.value, Mode.PORTFOLIO_MARGIN.value)


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


def _risk_source(snap: RiskSnapshot) -> PoolFigures | None:
    """The pool the account's risk is the risk of (the headline pool when it ties)."""
    head = snap.headline
    if head is not None and head.risk >= snap.risk:
        return head
    return max(snap.pools, key=lambda p: p.risk, default=None)


def pool_name(pool: str, isolated: bool) -> str:
    """A pool as a reader says it: "isolated SOLUSDT LONG", "USDT cross pool", "USD account"."""
    if isolated:
        return "isolated " + pool.replace(":", " ")
    return "USD account" if pool == "USD" else f"{pool} cross pool"


def _asset(a: AssetFigures, mode: str) -> dict[str, Any]:
    usd = mode in _USD_VALUED
    return {
        "asset": a.asset,
        "equity": a.equity,
        "maint_margin": a.maint_margin,
        "equity_value": a.equity_value,
        "maint_margin_asset": a.maint_margin_asset,
        "unit": a.asset,
        "value_unit": "USD" if usd else a.asset,
        "equity_coin": a.equity,
        "maint_margin_coin": a.maint_margin_asset,
        "equity_usd": a.equity_value if usd else None,
        "maint_margin_usd": a.maint_margin if usd else None,
    }


def build_report(book: Book) -> dict[str, Any]:
    """The calc report of the book's current state."""
    snap = book.snapshot()
    state = book.state
    lps = liquidation_prices(state)
    pools = {p.key: p for p in snap.pools}
    positions = []
    for leg in snap.legs:
        contract = state.contracts[leg.symbol]
        inverse = contract.kind is ContractKind.INVERSE
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
            "unit": leg.settle_asset,
            "price_unit": "USD" if inverse else leg.settle_asset,
            "qty_unit": "contracts" if inverse else contract.base_asset,
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
    source = _risk_source(snap)
    unit = snap.unit
    return {
        "schema_version": SCHEMA_VERSION,
        "mode": snap.mode.value,
        "risk": snap.risk,
        "risk_source": None
        if source is None
        else {
            "pool": source.key,
            "isolated": source.isolated,
            "name": pool_name(source.key, source.isolated),
        },
        "margin_ratio": snap.margin_ratio,
        "uni_mmr": _num(snap.uni_mmr),
        "equity": snap.equity,
        "maint_margin": snap.maint_margin,
        "unit": unit,
        "units": {
            "risk": "fraction",
            "margin_ratio": "fraction",
            "uni_mmr": "ratio",
            "equity": unit,
            "maint_margin": unit,
            "distance": "fraction",
            "restore.target_risk": "fraction",
            "restore.cut.fraction": "fraction",
            "restore.max_withdrawable": unit,
        },
        "assets": [_asset(a, snap.mode.value) for a in snap.assets],
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
            "max_withdrawable_unit": unit,
        },
        "status": snap.status,
    }


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:+.2f} %"


def _native(snap_mode: str, report: dict[str, Any]) -> str:
    if snap_mode == Mode.PORTFOLIO_MARGIN.value:
        uni = report["uni_mmr"]
        return "uniMMR ∞ (no maintenance margin)" if uni is None else f"uniMMR {uni:.4f}"
    text = f"margin ratio {report['margin_ratio'] * 100:.2f} %"
    if len(report.get("pools", ())) > 1:
        text += f" ({pool_name(report['unit'], False)})"
    return text


def risk_text(report: dict[str, Any]) -> str:
    """"risk 27.06 %", naming the pool or isolated leg when the account has more than one."""
    text = f"risk {report['risk'] * 100:.2f} %"
    source = report.get("risk_source")
    if source is not None and len(report.get("pools", ())) > 1:
        text += f" ({source['name']})"
    return text


def _with(value: float, unit: str, fmt: str) -> str:
    return f"{format(value, fmt)} {unit}"


def format_table(report: dict[str, Any]) -> str:
    """The human-readable report (`calc` without --json); every figure with its unit."""
    unit = report["unit"]
    lines = [
        f"account {report.get('account', '?')} · mode {report['mode']} · status {report['status']}",
        f"{risk_text(report)} · {_native(report['mode'], report)}",
        f"equity {report['equity']:,.4f} {unit} · maintenance margin "
        f"{report['maint_margin']:,.4f} {unit}",
        "",
        f"{'asset':<8}{'equity':>26}{'value':>24}{'maint margin':>22}",
    ]
    for a in report["assets"]:
        vu = a.get("value_unit", unit)
        lines.append(
            f"{a['asset']:<8}{_with(a['equity'], a['asset'], ',.6f'):>26}"
            f"{_with(a['equity_value'], vu, ',.4f'):>24}"
            f"{_with(a['maint_margin'], vu, ',.4f'):>22}"
        )
    lines += ["", f"{'position':<22}{'qty':>22}{'entry':>20}{'mark':>20}{'liq. price':>20}"
              f"{'uPnL':>20}{'MM':>18}"]
    for p in report["positions"]:
        lp, pu, su = p["liquidation_price"], p["price_unit"], p["unit"]
        lines.append(
            f"{p['symbol'] + ' ' + p['side']:<22}{_with(p['qty'], p['qty_unit'], ',.4f'):>22}"
            f"{_with(p['entry_price'], pu, ',.4f'):>20}{_with(p['mark_price'], pu, ',.4f'):>20}"
            f"{'—' if lp is None else _with(lp, pu, ',.4f'):>20}"
            f"{_with(p['unrealized_pnl'], su, ',.4f'):>20}"
            f"{_with(p['maint_margin'], su, ',.4f'):>18}"
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
        lines.append(
            f"deposit {dep['amount']:,.2f} {dep['asset']} to return to risk {target:.0f} %"
        )
    if cut is not None and cut["fraction"] > 0:
        enough = "" if cut["sufficient"] else " (not enough on its own)"
        lines.append(
            f"or cut {cut['symbol']} {cut['side']} by {cut['fraction'] * 100:.0f} %{enough}"
        )
    lines.append(
        f"max withdrawable {restore['max_withdrawable']:,.4f} "
        f"{restore.get('max_withdrawable_unit', unit)}"
    )
    return "\n".join(lines)
