"""The replay report's risk map: the account's risk over a grid of price moves, as a PNG.

The x axis moves one underlying (BTC when the account holds it, else the held underlying with
the largest notional); the y axis moves every other non-stable price together. Each cell is the
full evaluation (`engine.valuation.evaluate`) of the state with that shock applied the way
`marginwatch whatif` applies it (`web.whatif`: marks, PM index prices, Multi-Assets rates).
`risk_grid` is pure; `write_risk_map` draws the heatmap with the liquidation contour (risk =
100 %) and the alert levels, and marks where the account stands now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.engine.book import Book
from monitor.engine.liquidation import held_underlyings
from monitor.engine.model import AccountState, ContractKind
from monitor.engine.valuation import evaluate
from monitor.web.whatif import Shock, apply_shock, light_copy

#: Default grid: moves from -SPAN to +SPAN in STEPS steps on each axis.
SPAN = 0.5
STEPS = 41
#: Risks above this are drawn in the top colour.
RISK_CAP = 1.5
LEVELS = (0.70, 0.85, 0.95)


@dataclass(frozen=True, slots=True)
class RiskGrid:
    """risk[j][i] at x move `xs[i]` of `primary` and y move `ys[j]` of every other price."""

    primary: str | None
    others: tuple[str, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    risk: tuple[tuple[float, ...], ...]


def _notional(state: AccountState, underlying: str) -> float:
    total = 0.0
    for pos in state.positions.values():
        contract = state.contracts.get(pos.symbol)
        if contract is None or contract.base_asset != underlying or not pos.qty:
            continue
        mark = state.marks.get(pos.symbol, 0.0)
        if contract.kind is ContractKind.LINEAR:
            total += abs(pos.qty) * mark
        else:
            total += abs(pos.qty) * contract.contract_size
    return total


def primary_underlying(state: AccountState) -> str | None:
    """BTC if held, else the held underlying with the largest notional, else None."""
    held = held_underlyings(state)
    if "BTC" in held:
        return "BTC"
    return max(sorted(held), key=lambda u: _notional(state, u), default=None)


def steps(span: float = SPAN, count: int = STEPS) -> tuple[float, ...]:
    """`count` evenly spaced moves from -span to +span (0 included when `count` is odd)."""
    if count < 2:
        return (0.0,)
    return tuple(-span + 2 * span * k / (count - 1) for k in range(count))


def risk_grid(
    state: AccountState,
    xs: tuple[float, ...] | None = None,
    ys: tuple[float, ...] | None = None,
    primary: str | None = None,
) -> RiskGrid:
    """The risk of `state` at every (primary move, other moves) pair of the grid."""
    xs = steps() if xs is None else xs
    ys = steps() if ys is None else ys
    primary = primary_underlying(state) if primary is None else primary
    others = tuple(sorted(held_underlyings(state) - {primary} if primary else set()))
    rows = []
    for y in ys:
        row = []
        for x in xs:
            moves = ((primary, x),) if primary is not None else ()
            shocked = light_copy(state)
            apply_shock(shocked, Shock(moves=moves, uniform=y))
            row.append(evaluate(shocked).risk)
        rows.append(tuple(row))
    return RiskGrid(primary, others, xs, ys, tuple(rows))


def _state(source: Any) -> AccountState:
    """The account state of an `AccountCore` (its book), a `Book` or a state."""
    if isinstance(source, AccountState):
        return source
    if isinstance(source, Book):
        return source.state
    book = getattr(source, "book", None)
    if isinstance(book, Book):
        return book.state
    raise ValueError("no account state to map (the recording has no usable snapshot)")


def _levels(source: Any) -> tuple[float, ...]:
    """The alert levels of an `AccountCore`'s policy config, else the defaults."""
    config = getattr(source, "config", None)
    if config is None:
        return LEVELS
    return (float(config.warning), float(config.critical), float(config.emergency))


def write_risk_map(
    source: Any, path: str | Path, *, levels: tuple[float, ...] | None = None
) -> Path:
    """Draw the risk map of `source` (AccountCore, Book or AccountState) into PNG `path`;
    the dashed lines are `levels` (default: the timeline's alert levels)."""
    levels = _levels(source) if levels is None else levels
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    grid = risk_grid(_state(source))
    risk = np.array(grid.risk, dtype=float)
    shown = np.clip(np.nan_to_num(risk, nan=0.0, posinf=RISK_CAP), 0.0, RISK_CAP)
    xs = np.array(grid.xs) * 100
    ys = np.array(grid.ys) * 100
    fig, ax = plt.subplots(figsize=(7.5, 6), dpi=110)
    try:
        image = ax.imshow(
            shown,
            origin="lower",
            extent=(xs[0], xs[-1], ys[0], ys[-1]),
            aspect="auto",
            cmap="RdYlGn_r",
            vmin=0.0,
            vmax=RISK_CAP,
        )
        fig.colorbar(image, ax=ax, label="risk (100 % = liquidation)")
        X, Y = np.meshgrid(xs, ys)
        if shown.min() < 1.0 < shown.max():
            liq = ax.contour(X, Y, shown, levels=[1.0], colors="black", linewidths=2.5)
            ax.clabel(liq, fmt={1.0: "liquidation"}, fontsize=8)
        inside = [lv for lv in levels if shown.min() < lv < shown.max()]
        if inside:
            ax.contour(X, Y, shown, levels=inside, colors="white", linewidths=0.8,
                       linestyles="dashed")
        ax.plot([0], [0], marker="o", color="black", markersize=6)
        ax.annotate("now", (0, 0), textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.set_xlabel(f"{grid.primary or 'no underlying'} price move (%)")
        others = ", ".join(grid.others) if grid.others else "all other non-stable prices"
        ax.set_ylabel(f"every other price move (%): {others}")
        ax.set_title("Risk map: risk after a price shock")
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
