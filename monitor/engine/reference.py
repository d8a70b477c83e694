"""The exact reference: every figure recomputed from scratch in `Decimal`.

Inputs are the book's float state, converted exactly (`Decimal(float)` is exact), so the only
difference between the reference and the incremental book is the book's running float
arithmetic. Tests assert they agree within 1e-9 relative after any event sequence.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from monitor.engine.model import AccountState
from monitor.engine.risk import RiskSnapshot
from monitor.engine.valuation import Move, evaluate_with


def reference(state: AccountState, move: Move | None = None) -> RiskSnapshot:
    """All figures of `state`, computed exactly (50 significant digits), rounded once to float."""
    with localcontext() as ctx:
        ctx.prec = 50
        return evaluate_with(state, Decimal, move)
