"""Plausibility of leverage brackets and collateral rates, checked at the wire (issue 19 item 4).

A bracket table or collateral schedule that decodes but cannot be Binance's own (a negative
maintenance rate, a `cum` of 1e15, tiers that overlap) would silently skew every figure the
engine derives from it, so the snapshot builder rejects the whole REST body instead, with a
`WireError` naming the field: `<path>: <symbol>.brackets[<i>].<field> ...` (i is the tier's
position in the response). Checked per tier: `maintMarginRatio` in [0, 1), `cum` ≥ 0, floor ≥ 0,
cap > floor; across tiers (in `bracket` order): floors rising without overlap, MM never negative
at a floor, and MM continuous at every floor (`floor·mmr_k − cum_k == floor·mmr_{k−1} −
cum_{k−1}`; Binance defines `cum` so, margin-math §0.2) within `REL_TOL` (plus `ABS_TOL` for the
8 decimals Binance rounds to). Collateral: every `collateralRate` in [0, 1]; tiered schedules
with floor ≥ 0, cap > floor and floors rising without overlap, in the listed order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from monitor.binance.schemas.coinm import BinanceCoinmBracket
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.portfolio import BinanceCollateralRate, BinanceTieredCollateralRate
from monitor.binance.schemas.usdm import BinanceUsdmBracket

#: Relative tolerance of the MM continuity check (Binance's `cum` makes MM exact; floats and
#: 8-decimal rounding do not).
REL_TOL = 1e-6
#: Absolute slack, in the bracket's unit: Binance prints amounts to 8 decimals.
ABS_TOL = 1e-8


@dataclass(frozen=True, slots=True)
class _Tier:
    index: int  # position in the response's `brackets` list
    number: int  # Binance's `bracket`
    floor: float
    cap: float
    mmr: float
    cum: float


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= ABS_TOL + REL_TOL * max(abs(a), abs(b))


# Complexity: one check per Binance bracket rule, in the order the docs state them.
def check_brackets(  # noqa: C901
    path: str, name: str, tiers: Sequence[BinanceUsdmBracket | BinanceCoinmBracket]
) -> None:
    """`WireError` unless the tiers of symbol (or pair) `name` form a plausible bracket table."""
    rows: list[_Tier] = []
    floor_name, cap_name = "notionalFloor", "notionalCap"
    for i, w in enumerate(tiers):
        if isinstance(w, BinanceCoinmBracket):
            floor_name, cap_name = "qtyFloor", "qtyCap"
            rows.append(_Tier(i, w.bracket, w.qtyFloor, w.qtyCap, w.maintMarginRatio, w.cum))
        elif isinstance(w, BinanceUsdmBracket):
            rows.append(
                _Tier(i, w.bracket, w.notionalFloor, w.notionalCap, w.maintMarginRatio, w.cum)
            )

    def fail(tier: _Tier, field: str, what: str) -> WireError:
        return WireError(f"{path}: {name}.brackets[{tier.index}].{field} {what}")

    for t in rows:
        if not 0.0 <= t.mmr < 1.0:
            raise fail(t, "maintMarginRatio", f"= {t.mmr!r} is outside [0, 1)")
        if t.cum < 0.0:
            raise fail(t, "cum", f"= {t.cum!r} is negative")
        if t.floor < 0.0:
            raise fail(t, floor_name, f"= {t.floor!r} is negative")
        if t.cap < 0.0:
            raise fail(t, cap_name, f"= {t.cap!r} is negative")
        if t.cap <= t.floor:
            raise fail(t, cap_name, f"= {t.cap!r} is not above its {floor_name} {t.floor!r}")
    ordered = sorted(rows, key=lambda r: r.number)
    if ordered:
        first = ordered[0]
        if first.floor * first.mmr - first.cum < -ABS_TOL:
            raise fail(
                first,
                "cum",
                f"= {first.cum!r} makes the maintenance margin negative "
                f"at {floor_name} {first.floor!r}",
            )
    for prev, t in pairwise(ordered):
        if t.number == prev.number or t.floor <= prev.floor:
            raise fail(
                t,
                floor_name,
                f"= {t.floor!r} (bracket {t.number}) is out of order: "
                f"bracket {prev.number} starts at {prev.floor!r}",
            )
        if t.floor < prev.cap and not _close(t.floor, prev.cap):
            raise fail(
                t,
                floor_name,
                f"= {t.floor!r} overlaps bracket {prev.number}, whose {cap_name} is {prev.cap!r}",
            )
        below = t.floor * prev.mmr - prev.cum
        above = t.floor * t.mmr - t.cum
        if not _close(above, below):
            raise fail(
                t,
                "cum",
                f"= {t.cum!r} breaks maintenance-margin continuity at "
                f"{floor_name} {t.floor!r} ({below!r} below, {above!r} above)",
            )


def check_flat_collateral(path: str, rows: Iterable[BinanceCollateralRate]) -> None:
    """`WireError` unless every flat `collateralRate` is in [0, 1]."""
    for n, row in enumerate(rows):
        if not 0.0 <= row.collateralRate <= 1.0:
            raise WireError(
                f"{path}: [{n}] {row.asset}.collateralRate "
                f"= {row.collateralRate!r} is outside [0, 1]"
            )


def check_tiered_collateral(path: str, rows: Iterable[BinanceTieredCollateralRate]) -> None:
    """`WireError` unless every asset's tiers have rates in [0, 1] and rise without overlap."""
    for row in rows:
        prev = None
        for i, t in enumerate(row.collateralInfo):
            where = f"{path}: {row.asset}.collateralInfo[{i}]"
            if not 0.0 <= t.collateralRate <= 1.0:
                raise WireError(f"{where}.collateralRate = {t.collateralRate!r} is outside [0, 1]")
            if t.tierFloor < 0.0:
                raise WireError(f"{where}.tierFloor = {t.tierFloor!r} is negative")
            if t.tierCap <= t.tierFloor:
                raise WireError(
                    f"{where}.tierCap = {t.tierCap!r} is not above its tierFloor {t.tierFloor!r}"
                )
            if prev is not None and (
                t.tierFloor <= prev.tierFloor
                or (t.tierFloor < prev.tierCap and not _close(t.tierFloor, prev.tierCap))
            ):
                raise WireError(
                    f"{where}.tierFloor = {t.tierFloor!r} is out of order: the "
                    f"tier before spans [{prev.tierFloor!r}, {prev.tierCap!r})"
                )
            prev = t
