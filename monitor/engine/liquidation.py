"""Liquidation prices and distance to liquidation: the heavy figures, computed on demand.

Distance (margin-math.md §6): scale prices by `s = 1 + x` (every non-stablecoin price, or one
underlying: `valuation.Move`) and find the nearest `s` at which some pool reaches a risk level.
A pool with equity E, maintenance margin MM and liquidation threshold T (1 futures, 1.05 PM) is
at risk r when `H(s) = r·E(s) − T·MM(s) = 0`. H times the pool unit's own price factor (s for a
coin-margined pool whose coin moves, else 1) is continuous and piecewise linear in s (§6.2), so
the search is exact: collect every breakpoint (bracket floors of each moving leg, zero crossings
of each asset's net balance where the bid/ask or haircut switches, collateral tier floors), walk
the pieces outward from s = 1, and solve the line on the first piece whose end is at or below
zero. H is not monotonic for hedged books, so only this outward walk finds the nearest root.
A piece whose line does not reproduce H at the interpolated root (a breakpoint source this
module does not know) is bisected instead; `distance_scan` is the independent grid + bisection
method the tests cross-check against.

Liquidation prices: Binance's closed forms for USDⓈ-M (§1.2 cross, §2 isolated) and COIN-M
(§4.2) with the bracket re-picked at the liquidation price (§0.2, §6.3 step 5). Multi-Assets and
Portfolio Margin have no closed form: there the price of one symbol alone (all else frozen) at
which the account reaches liquidation is found with the same piecewise-linear walk.

Why this module stays whole (above ~500 lines, issue 18): the distance search and the liquidation
prices of Multi-Assets and Portfolio Margin are one algorithm (the breakpoints of H, the outward
walk over its linear pieces, the bisection fallback) whose correctness argument reads top to
bottom, and the closed forms share its bracket re-picking; split, the exactness argument of §6.2
would span files the tests cannot tie together.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from monitor.engine.contracts import maint_margin, notional, unrealized_pnl
from monitor.engine.curve import CurveData, PoolCurve
from monitor.engine.model import AccountState, Contract, ContractKind, Mode, Position
from monitor.engine.valuation import Move

#: Distances are searched for price factors s in this range (moves of −90 % … +90 %).
DISTANCE_RANGE = (0.1, 1.9)

#: Multi-Assets / Portfolio Margin liquidation prices are searched within the distance range: a
#: move of one symbol alone beyond ±90 % is no price a trader can act on, and on a hedged book
#: such far roots jump between wild values and none from one tick to the next (a price far
#: outside the range once read 6,312,088 for a BTC perpetual at 110,000).
LP_RANGE = DISTANCE_RANGE

#: A piece's interpolated root is accepted when |H| there is below this fraction of |H| at its ends.
_LINEAR_TOL = 1e-9

#: Relative slack when checking that a liquidation price lies in the bracket it was computed with.
_BRACKET_TOL = 1e-12

_UNIFIED = (Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN)


@dataclass(frozen=True, slots=True)
class Distance:
    """Price moves (fractions, e.g. −0.0769) to the threshold; None: none within the range."""

    down: float | None
    up: float | None

    @property
    def nearest(self) -> float | None:
        """The smaller move in absolute value (the one alerts speak of, §6.4)."""
        found = [x for x in (self.down, self.up) if x is not None]
        return min(found, key=abs) if found else None


class DistanceReport(TypedDict):
    """Distance for a uniform move, per underlying, and the underlying closest to its threshold."""

    uniform: Distance
    by_underlying: dict[str, Distance]
    nearest_underlying: str | None


@dataclass(frozen=True, slots=True)
class _Scenario:
    """Which prices scale with s: a `Move` (all non-stable, or one underlying) or one symbol."""

    underlying: str | None = None
    symbol: str | None = None  # when set, only this symbol's mark moves (a liquidation price)

    def curve(self, state: AccountState, data: CurveData | None = None) -> PoolCurve:
        return PoolCurve(
            state,
            lambda contract: self.leg_moves(state, contract),
            lambda asset: self.asset_moves(state, asset),
            data,
        )

    def leg_moves(self, state: AccountState, contract: Contract) -> bool:
        if self.symbol is not None:
            return contract.symbol == self.symbol
        return Move(1.0, self.underlying).moves(contract.base_asset, state.stablecoins)

    def asset_moves(self, state: AccountState, asset: str) -> bool:
        """Whether the USD price of `asset` (a conversion rate, or a pool's unit) scales."""
        if self.symbol is not None or asset == "USD":
            return False
        return Move(1.0, self.underlying).moves(asset, state.stablecoins)


# ---------------------------------------------------------------------------------------------
# Health along a move


class _Health:
    """Per pool, H(s) = risk·E − T·MM, times s when the pool's unit moves (keeps it linear).

    Built once per scenario (`PoolCurve` reads the state once); `live` holds the pools with
    anything at stake (an empty pool has equity 0 and MM 0, and risk 0).
    """

    def __init__(
        self, state: AccountState, scenario: _Scenario, risk: float, data: CurveData | None = None
    ) -> None:
        self._curve = curve = scenario.curve(state, data)
        self._risk = risk
        self._pools = [
            (p.key, p.threshold, scenario.asset_moves(state, p.unit)) for p in curve.pools
        ]
        self.live = {
            key
            for (key, _, _), (eq, mm) in zip(self._pools, curve.at(1.0), strict=True)
            if eq != 0.0 or mm != 0.0
        }

    def __call__(self, s: float) -> dict[str, float]:
        risk = self._risk
        out: dict[str, float] = {}
        for (key, threshold, scaled), (eq, mm) in zip(self._pools, self._curve.at(s), strict=True):
            h = risk * eq - threshold * mm
            out[key] = h * s if scaled else h
        return out


def _solve_piece(
    health: _Health, key: str, ends: tuple[tuple[float, float], tuple[float, float]]
) -> float:
    """The root of pool `key` on the piece (a, H(a) > 0) → (b, H(b) ≤ 0)."""
    (a, ha), (b, hb) = ends
    if hb == 0.0:
        return b
    root = a + (b - a) * ha / (ha - hb)
    h = health(root)[key]
    if abs(h) <= _LINEAR_TOL * max(abs(ha), abs(hb)):
        return root
    return _bisect(health, key, a, b)


def _bisect(health: _Health, key: str, safe: float, unsafe: float) -> float:
    """Bisection between a point where pool `key` is above zero and one where it is not."""
    for _ in range(200):
        mid = 0.5 * (safe + unsafe)
        if mid in (safe, unsafe):
            break
        if health(mid)[key] > 0.0:
            safe = mid
        else:
            unsafe = mid
    return 0.5 * (safe + unsafe)


def _walk(health: _Health, points: Sequence[float]) -> float | None:
    """First s along `points` (starting at 1, outward) where a live pool reaches zero health."""
    prev_s, prev = points[0], health(points[0])
    for s in points[1:]:
        cur = health(s)
        roots = [
            _solve_piece(health, key, ((prev_s, prev[key]), (s, cur[key])))
            for key in health.live
            if cur[key] <= 0.0
        ]
        if roots:
            return min(roots, key=lambda r: abs(r - 1.0))
        prev_s, prev = s, cur
    return None


def _search(
    state: AccountState,
    scenario: _Scenario,
    risk: float,
    bounds: tuple[float, float],
    data: CurveData | None = None,
) -> Distance:
    if not risk > 0.0:
        raise ValueError(f"threshold risk must be positive, got {risk!r}")
    health = _Health(state, scenario, risk, data)
    now = health(1.0)
    if any(now[key] <= 0.0 for key in health.live):
        return Distance(0.0, 0.0)
    lo, hi = bounds
    cuts = _breakpoints(state, scenario)
    down = [1.0, *sorted((p for p in cuts if lo < p < 1.0), reverse=True), lo]
    up = [1.0, *sorted(p for p in cuts if 1.0 < p < hi), hi]
    s_down = _walk(health, down)
    s_up = _walk(health, up)
    return Distance(
        None if s_down is None else s_down - 1.0, None if s_up is None else s_up - 1.0
    )


# ---------------------------------------------------------------------------------------------
# Breakpoints (margin-math.md §6.2)


def _bracket_breaks(contract: Contract, qty: float, mark: float) -> list[float]:
    """Price factors at which the leg's notional crosses a bracket floor."""
    size = abs(qty)
    floors = [f for f in contract.brackets.floors if f > 0.0]
    if contract.kind is ContractKind.LINEAR:
        return [f / (size * mark) for f in floors]
    return [size * contract.contract_size / (mark * f) for f in floors]


def _net_coefficients(
    state: AccountState, scenario: _Scenario, asset: str
) -> tuple[float, float, float]:
    """(a, b, c) with the asset's net balance X(s) = a + b·s + c/s (wallet + legs' uPnL)."""
    rec = state.assets.get(asset)
    a = 0.0 if rec is None else (
        rec.pm_base if state.mode is Mode.PORTFOLIO_MARGIN else rec.cross_wallet
    )
    b = c = 0.0
    for pos in _held(state.positions.values()):
        contract = state.contracts[pos.symbol]
        if contract.settle_asset != asset:
            continue
        mark = state.marks[pos.symbol]
        if not scenario.leg_moves(state, contract):
            a += unrealized_pnl(contract, pos.qty, pos.entry_price, mark)
        elif contract.kind is ContractKind.LINEAR:
            a -= pos.qty * pos.entry_price
            b += pos.qty * mark
        else:
            a += pos.qty * contract.contract_size / pos.entry_price
            c -= pos.qty * contract.contract_size / mark
    return a, b, c


def _asset_breaks(state: AccountState, scenario: _Scenario, asset: str) -> list[float]:
    """Price factors where X(s)·price(s) crosses 0 (bid/ask, haircut) or a collateral tier floor."""
    a, b, c = _net_coefficients(state, scenario, asset)
    rec = state.assets.get(asset)
    levels = [0.0]
    price = 1.0
    if state.mode is Mode.PORTFOLIO_MARGIN and rec is not None:
        levels += [f for f in rec.collateral.floors if f > 0.0]
        price = rec.index_price
    moves = scenario.asset_moves(state, asset)
    out: list[float] = []
    for v in levels:
        # X(s)·price·s^e = v, multiplied by s: a quadratic in s.
        if moves:
            out += _positive_roots(price * b, price * a, price * c - v)
        else:
            out += _positive_roots(price * b, price * a - v, price * c)
    return out


def _positive_roots(qa: float, qb: float, qc: float) -> list[float]:
    """Positive real roots of qa·s² + qb·s + qc = 0 (numerically stable form)."""
    if qa == 0.0:
        return [-qc / qb] if qb != 0.0 and -qc / qb > 0.0 else []
    disc = qb * qb - 4.0 * qa * qc
    if disc < 0.0:
        return []
    q = -0.5 * (qb + math.copysign(math.sqrt(disc), qb))
    roots = [q / qa] + ([qc / q] if q != 0.0 else [])
    return [r for r in roots if r > 0.0 and math.isfinite(r)]


def _breakpoints(state: AccountState, scenario: _Scenario) -> list[float]:
    points: list[float] = []
    for pos in _held(state.positions.values()):
        contract = state.contracts[pos.symbol]
        if scenario.leg_moves(state, contract):
            points += _bracket_breaks(contract, pos.qty, state.marks[pos.symbol])
    if state.mode in _UNIFIED:
        settled = {state.contracts[p.symbol].settle_asset for p in _held(state.positions.values())}
        for asset in sorted(set(state.assets) | settled):
            points += _asset_breaks(state, scenario, asset)
    return points


def _held(positions: Iterable[Position]) -> Iterable[Position]:
    return (p for p in positions if p.qty != 0.0)


# ---------------------------------------------------------------------------------------------
# Distance to liquidation (public)


def distance(
    state: AccountState, underlying: str | None = None, threshold_risk: float = 1.0
) -> Distance:
    """Moves of all non-stable prices (or of one underlying) that bring risk to `threshold_risk`.

    Exact piecewise-linear walk within ±90 %; 0.0 both ways when the account is already there.
    """
    return _search(state, _Scenario(underlying=underlying), threshold_risk, DISTANCE_RANGE)


def distance_scan(
    state: AccountState,
    underlying: str | None = None,
    threshold_risk: float = 1.0,
    steps: int = 2000,
) -> Distance:
    """The same figure by grid scan + bisection (§6.3 step 4): the independent cross-check.

    Scans `steps` evenly spaced price factors per direction for the first pool whose health is
    at or below zero, then bisects that cell. Slower, and may step over a dip narrower than a
    grid cell; `distance` does not.
    """
    health = _Health(state, _Scenario(underlying=underlying), threshold_risk)
    if any(h <= 0.0 for k, h in health(1.0).items() if k in health.live):
        return Distance(0.0, 0.0)
    found = []
    for end in DISTANCE_RANGE:
        grid = [1.0 + (end - 1.0) * i / steps for i in range(1, steps + 1)]
        found.append(_scan(health, grid))
    down, up = (None if s is None else s - 1.0 for s in found)
    return Distance(down, up)


def _scan(health: _Health, grid: list[float]) -> float | None:
    safe = 1.0
    for s in grid:
        at = health(s)
        hit = [k for k in health.live if at[k] <= 0.0]
        if hit:
            roots = [_bisect(health, k, safe, s) for k in hit]
            return min(roots, key=lambda r: abs(r - 1.0))
        safe = s
    return None


def distances(state: AccountState, threshold_risk: float = 1.0) -> DistanceReport:
    """Uniform distance, distance per non-stable underlying held, and the nearest underlying."""
    data = CurveData(state)  # read once, shared by every scenario

    def one(underlying: str | None) -> Distance:
        scenario = _Scenario(underlying=underlying)
        return _search(state, scenario, threshold_risk, DISTANCE_RANGE, data)

    by_underlying = {u: one(u) for u in sorted(held_underlyings(state))}
    ranked = [(abs(d.nearest), u) for u, d in by_underlying.items() if d.nearest is not None]
    return DistanceReport(
        uniform=one(None),
        by_underlying=by_underlying,
        nearest_underlying=min(ranked)[1] if ranked else None,
    )


def held_underlyings(state: AccountState) -> set[str]:
    """Non-stable base assets of held legs, and non-stable assets with a balance or a loan."""
    names = {state.contracts[p.symbol].base_asset for p in _held(state.positions.values())}
    for rec in state.assets.values():
        if rec.holds(state.mode):
            names.add(rec.asset)
    return names - state.stablecoins


# ---------------------------------------------------------------------------------------------
# Liquidation prices (public)


def liquidation_price(
    state: AccountState, symbol: str, side: str, data: CurveData | None = None
) -> float | None:
    """Binance's liquidation price of one leg; None where Binance shows "--".

    USDⓈ-M / COIN-M: closed form (cross legs of a symbol share one price; isolated legs have
    their own), bracket re-picked at the price. Multi-Assets / Portfolio Margin: the price of
    this symbol alone, all else frozen, at which the account's risk reaches 1 — the nearer of
    the two directions, searched within `LP_RANGE` (±90 %) of the mark, else None (the same for
    both hedge legs). The distance per underlying (`distances`) is the figure to read first there:
    it moves the collateral with the contracts.
    """
    pos = state.positions.get((symbol, side))
    if pos is None or pos.qty == 0.0:
        return None
    mark = state.marks[symbol]
    if state.mode in _UNIFIED:
        found = _search(state, _Scenario(symbol=symbol), 1.0, LP_RANGE, data).nearest
        return None if found is None else mark * (1.0 + found)
    contract = state.contracts[symbol]
    if pos.isolated:
        return _closed_form(contract, [pos], pos.isolated_wallet, mark)
    legs = [
        p for p in _held(state.positions.values()) if p.symbol == symbol and not p.isolated
    ]
    return _closed_form(contract, legs, _cross_rest(state, contract.settle_asset, symbol), mark)


def liquidation_prices(state: AccountState) -> dict[tuple[str, str], float | None]:
    """Liquidation price of every held leg, keyed by (symbol, side)."""
    data = CurveData(state) if state.mode in _UNIFIED else None
    return {
        pos.key: liquidation_price(state, pos.symbol, pos.side, data)
        for pos in _held(state.positions.values())
    }


def _cross_rest(state: AccountState, asset: str, symbol: str) -> float:
    """WB − TMM1 + UPNL1: the cross wallet less the other cross contracts' MM, plus their uPnL."""
    rec = state.assets.get(asset)
    rest = 0.0 if rec is None else rec.cross_wallet
    for pos in _held(state.positions.values()):
        contract = state.contracts[pos.symbol]
        if pos.symbol == symbol or pos.isolated or contract.settle_asset != asset:
            continue
        mark = state.marks[pos.symbol]
        rest += unrealized_pnl(contract, pos.qty, pos.entry_price, mark)
        rest -= maint_margin(contract, pos.qty, mark)
    return rest


def _closed_form(
    contract: Contract, legs: list[Position], rest: float, mark: float
) -> float | None:
    """Iterate the bracket pick to a fixed point; on a cycle or a non-positive price, try all."""
    picks = tuple(contract.brackets.index(notional(contract, p.qty, mark)) for p in legs)
    seen: set[tuple[int, ...]] = set()
    while picks not in seen:
        seen.add(picks)
        price = _price_with(contract, legs, picks, rest)
        if price is None or price <= 0.0:
            break
        again = tuple(contract.brackets.index(notional(contract, p.qty, price)) for p in legs)
        if again == picks:
            return price
        picks = again
    return _self_consistent(contract, legs, rest, mark)


def _self_consistent(
    contract: Contract, legs: list[Position], rest: float, mark: float
) -> float | None:
    """Of every bracket combination, the positive self-consistent price nearest the mark.

    `_price_with` for each combination, with the per-leg terms computed once (this runs for
    every hedged pair whose fixed-point iteration cycles, on every alert).
    """
    table = contract.brackets
    tiers = range(len(table))
    mm_terms = [[abs(p.qty) * table.mmrs[k] for k in tiers] for p in legs]
    net = sum(p.qty for p in legs)
    linear = contract.kind is ContractKind.LINEAR
    cs = contract.contract_size
    entries = (
        sum(p.qty * p.entry_price for p in legs)
        if linear
        else cs * sum(p.qty / p.entry_price for p in legs)
    )
    found = []
    for picks in itertools.product(tiers, repeat=len(legs)):
        cum = sum(table.cums[k] for k in picks)
        size_mmr = sum(terms[k] for terms, k in zip(mm_terms, picks, strict=True))
        if linear:
            num, den = rest + cum - entries, size_mmr - net
        else:
            num, den = cs * (size_mmr + net), rest + cum + entries
        if den == 0.0:
            continue
        price = num / den
        if price > 0.0 and _consistent(contract, legs, picks, price):
            found.append(price)
    return min(found, key=lambda p: abs(p - mark)) if found else None


def _consistent(
    contract: Contract, legs: list[Position], picks: tuple[int, ...], price: float
) -> bool:
    floors = contract.brackets.floors
    for pos, k in zip(legs, picks, strict=True):
        n = notional(contract, pos.qty, price)
        hi = floors[k + 1] if k + 1 < len(floors) else math.inf
        slack = _BRACKET_TOL * max(1.0, n)
        if not floors[k] - slack <= n <= hi + slack:
            return False
    return True


def _price_with(
    contract: Contract, legs: list[Position], picks: tuple[int, ...], rest: float
) -> float | None:
    """Binance's formula (§1.2 / §2 linear, §4.2 inverse) for fixed brackets."""
    table = contract.brackets
    cum = sum(table.cums[k] for k in picks)
    size_mmr = sum(abs(p.qty) * table.mmrs[k] for p, k in zip(legs, picks, strict=True))
    net = sum(p.qty for p in legs)
    if contract.kind is ContractKind.LINEAR:
        num = rest + cum - sum(p.qty * p.entry_price for p in legs)
        den = size_mmr - net
    else:
        cs = contract.contract_size
        num = cs * (size_mmr + net)
        den = rest + cum + cs * sum(p.qty / p.entry_price for p in legs)
    return num / den if den != 0.0 else None
