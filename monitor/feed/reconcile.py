"""Reconciliation: the exchange's own account figures next to the book's (issue 3 §5).

Every minute the live feed fetches the account endpoint of the mode (`/papi/v1/account` uniMMR,
equity and maintenance margin; `/fapi/v3/account` and `/dapi/v1/account` maintenance margin and
margin balance) and `figures` pairs each exchange value with the book's value of the same
figure. The alert policy judges the tolerance (`Drift` events); `drifted` applies the same
tolerance to decide on a resync. Pure: no IO, no clock.

Which figures are comparable depends on the mode. Single-asset USDⓈ-M and COIN-M compare per
margin asset; the maintenance margin of an asset covers its cross and isolated positions alike,
so it is compared with the sum of the asset's pools, and the margin balance only when the asset
has no isolated leg (Binance's per-asset balance then means the same thing as the cross pool's
equity). Multi-Assets compares the USD maintenance margin (its margin balance is haircut
differently), Portfolio Margin the uniMMR and its two terms — but not the uniMMR when Binance
reports no maintenance margin (`accountMaintMargin` 0 and its "99999999" sentinel uniMMR).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.engine.model import Mode
from monitor.engine.risk import RiskSnapshot

PM_ACCOUNT = "/papi/v1/account"
UM_ACCOUNT = "/fapi/v3/account"
CM_ACCOUNT = "/dapi/v1/account"
#: A uniMMR at or above this is Binance's "no maintenance margin" sentinel (it sends
#: "99999999"): no real account is 10^6 times over its MM and still has one.
UNI_MMR_NO_MM = 1e6


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure as the book has it and as the exchange reports it."""

    name: str
    local: float
    exchange: float


def account_path(mode: Mode) -> str:
    """The endpoint whose figures reconcile `mode`."""
    if mode is Mode.PORTFOLIO_MARGIN:
        return PM_ACCOUNT
    if mode is Mode.COINM:
        return CM_ACCOUNT
    return UM_ACCOUNT


def _float(obj: Mapping[str, Any], key: str) -> float | None:
    try:
        value = float(obj[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value


def figures(snap: RiskSnapshot, path: str, data: Any) -> list[Figure]:
    """Comparable (local, exchange) pairs; empty when the body has none (never raises)."""
    if not isinstance(data, Mapping):
        return []
    if path == PM_ACCOUNT:
        return _pm(snap, data)
    if snap.mode is Mode.USDM_MULTI_ASSETS and path == UM_ACCOUNT:
        return _totals(snap, data)
    if path in (UM_ACCOUNT, CM_ACCOUNT):
        return _per_asset(snap, data)
    return []


def exchange_has_no_mm(data: Mapping[str, Any]) -> bool:
    """`/papi/v1/account` says the account has no maintenance margin: `accountMaintMargin` 0, or
    the huge uniMMR Binance sends then (`"99999999"`), which is a sentinel, not a ratio."""
    uni, mm = _float(data, "uniMMR"), _float(data, "accountMaintMargin")
    return (mm is not None and mm <= 0.0) or (uni is not None and uni >= UNI_MMR_NO_MM)


def _pm(snap: RiskSnapshot, data: Mapping[str, Any]) -> list[Figure]:
    out = []
    uni = _float(data, "uniMMR")
    # No MM on the exchange: its uniMMR is a sentinel with nothing to compare; a real MM
    # difference still shows in `maint_margin` below.
    if (
        uni is not None
        and snap.uni_mmr is not None
        and uni > 0
        and not exchange_has_no_mm(data)
    ):
        out.append(Figure("uniMMR", snap.uni_mmr, uni))
    for name, key, local in (
        ("equity", "accountEquity", snap.equity),
        ("maint_margin", "accountMaintMargin", snap.maint_margin),
    ):
        value = _float(data, key)
        if value is not None:
            out.append(Figure(name, local, value))
    return out


def _totals(snap: RiskSnapshot, data: Mapping[str, Any]) -> list[Figure]:
    # totalMarginBalance values collateral without the same haircut as the book's equity, so
    # only the maintenance margin is the same figure on both sides.
    value = _float(data, "totalMaintMargin")
    return [] if value is None else [Figure("maint_margin", snap.maint_margin, value)]


def _per_asset(snap: RiskSnapshot, data: Mapping[str, Any]) -> list[Figure]:
    assets = data.get("assets")
    if not isinstance(assets, list):
        return []
    out = []
    for row in assets:
        if not isinstance(row, Mapping) or not isinstance(row.get("asset"), str):
            continue
        asset = row["asset"]
        pools = [p for p in snap.pools if p.unit == asset]
        if not pools:
            continue
        mm = _float(row, "maintMargin")
        if mm is not None:
            out.append(Figure(f"{asset} maint_margin", sum(p.maint_margin for p in pools), mm))
        balance = _float(row, "marginBalance")
        cross = [p for p in pools if not p.isolated]
        if balance is not None and len(cross) == len(pools) == 1:
            out.append(Figure(f"{asset} margin_balance", cross[0].equity, balance))
    return out


def drifted(figure: Figure, rel_tol: float, abs_tol: float) -> bool:
    """The policy's tolerance: |local − exchange| > abs_tol + rel_tol·max(|local|, |exchange|)."""
    scale = max(abs(figure.local), abs(figure.exchange))
    return abs(figure.local - figure.exchange) > abs_tol + rel_tol * scale
