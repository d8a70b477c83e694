"""Account totals of the fake exchange, computed by the project's own snapshot builder and engine.

`patch_totals` builds the account state from the current REST bodies
(`monitor.binance.snapshot.build_state`), takes the engine's figures (`Book(state).snapshot()`)
and writes them into the account endpoints, so that the reconciliation
(`monitor.feed.reconcile.figures`) of a client that followed the streams finds no drift:

- `/papi/v1/account`: `uniMMR`, `accountEquity`, `accountMaintMargin` (USD).
- `/fapi/v3/account` and `/fapi/v2/account`, per asset: `unrealizedProfit`, `crossUnPnl`,
  `maintMargin`, `marginBalance` (single-asset: the sum over the asset's cross and isolated
  pools; Multi-Assets: the asset's own figures in asset units), per position `maintMargin`.
  Totals: single-asset mode reports the USDT asset's figures (as Binance does: "only for USDT
  asset"; the first asset when there is no USDT); Multi-Assets reports USD: `totalMaintMargin`
  and `totalMarginBalance` are the engine's USD pool, `totalUnrealizedProfit`/`totalCrossUnPnl`
  value each asset's uPnL at its bid (gain) or ask (loss) rate.
- `/dapi/v1/account`, per asset: `unrealizedProfit`, `crossUnPnl`, `maintMargin`, `marginBalance`;
  per position `maintMargin`.

Raises what `build_state` raises (`WireError`, `EngineError`) when the bodies are incomplete; the
caller then leaves the recorded totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from monitor.binance.schemas import REST_SCHEMAS
from monitor.binance.snapshot import build_state
from monitor.engine.book import Book
from monitor.engine.model import AccountState, Mode
from monitor.engine.risk import RiskSnapshot
from monitor.sim.ledger_balances import CM_ACCOUNTS, PM_ACCOUNT, UM_ACCOUNTS
from monitor.sim.ledger_rows import fmt, num

#: Paths whose answers carry totals this module computes.
TOTALS_PATHS = frozenset({PM_ACCOUNT, *UM_ACCOUNTS, *CM_ACCOUNTS})


def totals_paths(mode: Mode) -> tuple[str, ...]:
    if mode is Mode.PORTFOLIO_MARGIN:
        return (PM_ACCOUNT,)
    if mode is Mode.COINM:
        return CM_ACCOUNTS
    return UM_ACCOUNTS


def compute(
    bodies: Mapping[str, Any], mode: Mode, margin_leverage: int
) -> tuple[AccountState, RiskSnapshot]:
    """The engine's view of `bodies` (only paths the snapshot builder knows are passed)."""
    known = {path: body for path, body in bodies.items() if path in REST_SCHEMAS}
    state = build_state(known, mode, margin_leverage=margin_leverage)
    book = Book(state)
    return book.state, book.snapshot()


def patch_totals(bodies: Mapping[str, Any], mode: Mode, margin_leverage: int) -> int:
    """Write the engine's figures into the mode's account bodies; returns bodies patched."""
    state, snap = compute(bodies, mode, margin_leverage)
    patched = 0
    for path in totals_paths(mode):
        body = bodies.get(path)
        if not isinstance(body, dict):
            continue
        if mode is Mode.PORTFOLIO_MARGIN:
            _patch_pm(body, snap)
        else:
            _patch_futures(body, state, snap)
        patched += 1
    return patched


def _put(row: dict[str, Any], key: str, value: float) -> None:
    if key in row:
        row[key] = fmt(value)


def _patch_pm(body: dict[str, Any], snap: RiskSnapshot) -> None:
    if snap.uni_mmr is not None:
        body["uniMMR"] = fmt(snap.uni_mmr)
    body["accountEquity"] = fmt(snap.equity)
    body["accountMaintMargin"] = fmt(snap.maint_margin)


def _patch_futures(body: dict[str, Any], state: AccountState, snap: RiskSnapshot) -> None:
    upnl: dict[str, float] = defaultdict(float)
    cross_upnl: dict[str, float] = defaultdict(float)
    leg_mm: dict[tuple[str, str], float] = {}
    for leg in snap.legs:
        upnl[leg.settle_asset] += leg.unrealized_pnl
        if not leg.isolated:
            cross_upnl[leg.settle_asset] += leg.unrealized_pnl
        leg_mm[(leg.symbol, leg.side)] = leg.maint_margin
    multi = snap.mode is Mode.USDM_MULTI_ASSETS
    pool_mm: dict[str, float] = defaultdict(float)
    pool_eq: dict[str, float] = defaultdict(float)
    if not multi:
        for pool in snap.pools:
            pool_mm[pool.unit] += pool.maint_margin
            pool_eq[pool.unit] += pool.equity
    figures = {fig.asset: fig for fig in snap.assets}
    rows = [r for r in body.get("assets", []) if isinstance(r, dict) and "asset" in r]
    for row in rows:
        asset = row["asset"]
        wallet = num(row.get("walletBalance")) or 0.0
        _put(row, "unrealizedProfit", upnl[asset])
        _put(row, "crossUnPnl", cross_upnl[asset])
        if multi:
            fig = figures.get(asset)
            _put(row, "maintMargin", fig.maint_margin_asset if fig else 0.0)
            _put(row, "marginBalance", fig.equity if fig else wallet + upnl[asset])
        else:
            _put(row, "maintMargin", pool_mm.get(asset, 0.0))
            _put(row, "marginBalance", pool_eq.get(asset, wallet + upnl[asset]))
    positions = body.get("positions")
    for row in positions if isinstance(positions, list) else []:
        if isinstance(row, dict) and "maintMargin" in row:
            leg_key = (str(row.get("symbol")), str(row.get("positionSide") or "BOTH"))
            row["maintMargin"] = fmt(leg_mm.get(leg_key, 0.0))
    if "totalMaintMargin" not in body:
        return  # COIN-M: no totals
    if multi:
        usd_upnl = 0.0
        for asset, value in upnl.items():
            rec = state.assets.get(asset)
            bid, ask = (rec.bid_rate, rec.ask_rate) if rec is not None else (1.0, 1.0)
            usd_upnl += min(value * bid, value * ask)
        body["totalMaintMargin"] = fmt(snap.maint_margin)
        body["totalMarginBalance"] = fmt(snap.equity)
        _put(body, "totalUnrealizedProfit", usd_upnl)
        _put(body, "totalCrossUnPnl", usd_upnl)
        return
    main = next((r for r in rows if r["asset"] == "USDT"), rows[0] if rows else None)
    if main is None:
        return
    for total, key in (
        ("totalMaintMargin", "maintMargin"),
        ("totalMarginBalance", "marginBalance"),
        ("totalUnrealizedProfit", "unrealizedProfit"),
        ("totalCrossUnPnl", "crossUnPnl"),
        ("totalWalletBalance", "walletBalance"),
        ("totalCrossWalletBalance", "crossWalletBalance"),
    ):
        if total in body and key in main:
            body[total] = main[key]
