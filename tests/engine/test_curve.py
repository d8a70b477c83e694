"""`PoolCurve` (the distance search's inner loop) against `valuation.evaluate`: identical
(equity, MM) per pool, bit for bit, for every mode, scenario and price factor."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine.curve import PoolCurve
from monitor.engine.model import AccountState, Mode
from monitor.engine.valuation import Move, evaluate
from tests.budgets import examples
from tests.engine.strategies import accounts

MODES = list(Mode)


def _pools(state: AccountState, s: float, underlying: str | None) -> list[tuple[float, float]]:
    return [(p.equity, p.maint_margin) for p in evaluate(state, Move(s, underlying)).pools]


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_curve_equals_a_full_evaluation_along_a_move(mode: Mode, data: st.DataObject) -> None:
    state = data.draw(accounts(mode))
    held = sorted({state.contracts[p.symbol].base_asset for p in state.positions.values()})
    underlying = data.draw(st.sampled_from([None, *held]))
    move = Move(1.0, underlying)
    stable = state.stablecoins
    curve = PoolCurve(
        state,
        lambda contract: move.moves(contract.base_asset, stable),
        lambda asset: asset != "USD" and move.moves(asset, stable),
    )
    snap = evaluate(state)
    assert [p.key for p in curve.pools] == [p.key for p in snap.pools]
    assert [p.unit for p in curve.pools] == [p.unit for p in snap.pools]
    assert [p.threshold for p in curve.pools] == [p.threshold for p in snap.pools]
    for s in data.draw(st.lists(st.floats(0.1, 1.9), min_size=1, max_size=5)):
        assert curve.at(s) == _pools(state, s, underlying)


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_curve_of_one_symbol_equals_a_full_evaluation(mode: Mode, data: st.DataObject) -> None:
    """The liquidation-price scenario: one symbol's mark moves, everything else is frozen."""
    state = data.draw(accounts(mode))
    symbol = data.draw(st.sampled_from(sorted(state.contracts)))
    curve = PoolCurve(state, lambda contract: contract.symbol == symbol, lambda asset: False)
    for s in data.draw(st.lists(st.floats(0.001, 1000.0), min_size=1, max_size=5)):
        marks = dict(state.marks)
        marks[symbol] *= s
        moved = evaluate(replace(state, marks=marks))
        assert curve.at(s) == [(p.equity, p.maint_margin) for p in moved.pools]
