"""The heavy figures an alert message carries, computed from the engine's state on demand.

Distance to liquidation, liquidation prices and what restores safety cost far more than a tick;
the account core computes them for an alert it returns (and for /status), never per tick.
"""

from __future__ import annotations

from monitor.alerts.messages import HeavyFigures
from monitor.engine.liquidation import distances, liquidation_prices
from monitor.engine.model import AccountState
from monitor.engine.restore import cut_to_target, deposit_to_target


def heavy_figures(state: AccountState, target_risk: float = 0.5) -> HeavyFigures:
    """Distances (uniform and nearest single underlying), liquidation prices with the marks
    they are measured from, deposit and cut."""
    report = distances(state)
    uniform = report["uniform"]
    nearest = report["nearest_underlying"]
    nearest_move = None if nearest is None else report["by_underlying"][nearest].nearest
    prices = {key: lp for key, lp in liquidation_prices(state).items() if lp is not None}
    marks = {symbol: state.marks[symbol] for symbol, _ in prices if symbol in state.marks}
    deposit = deposit_to_target(state, target_risk)
    cut = cut_to_target(state, target_risk)
    return HeavyFigures(
        distance_down=uniform.down,
        distance_up=uniform.up,
        nearest_underlying=nearest,
        nearest_distance=nearest_move,
        liquidation_prices=prices,
        marks=marks,
        deposit=(deposit.asset, deposit.amount) if deposit.amount > 0 else None,
        # a cut is offered only when it restores the target on its own
        cut=(cut.symbol, cut.fraction)
        if cut is not None and cut.sufficient and cut.fraction > 0
        else None,
        target_risk=target_risk,
    )
