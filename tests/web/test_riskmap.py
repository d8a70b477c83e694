"""The replay report's risk map: the grid is the engine's full evaluation under each shock,
and the PNG is drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import examples
from monitor.core.account_core import AccountCore
from monitor.engine.valuation import Move, evaluate
from monitor.feed.recording import read_recording
from monitor.service.riskmap import primary_underlying, risk_grid, steps, write_risk_map


def timeline(name: str) -> AccountCore:
    meta, lines = read_recording(examples.path(name))
    tl = AccountCore(meta)
    for line in lines:
        tl.feed(line)
    tl.finish()
    return tl


def test_the_grid_is_the_engine_under_each_shock() -> None:
    tl = timeline("usdm")
    assert tl.book is not None
    state = tl.book.state
    assert primary_underlying(state) == "BTC"
    grid = risk_grid(state, xs=(-0.2, 0.0, 0.1), ys=(-0.1, 0.0, 0.05))
    assert grid.others == ("ETH", "SOL")
    assert grid.risk[1][1] == pytest.approx(evaluate(state).risk, rel=1e-12)
    assert grid.risk[1][0] == pytest.approx(evaluate(state, Move(0.8, "BTC")).risk, rel=1e-12)
    # x = y: every non-stable price moved alike
    assert grid.risk[0][0] != grid.risk[1][1]
    uniform = risk_grid(state, xs=(-0.1,), ys=(-0.1,))
    assert uniform.risk[0][0] == pytest.approx(evaluate(state, Move(0.9)).risk, rel=1e-12)


def test_steps_are_symmetric_and_include_zero() -> None:
    xs = steps(0.5, 41)
    assert len(xs) == 41 and xs[0] == -0.5 and xs[-1] == 0.5 and xs[20] == 0.0


@pytest.mark.parametrize("name", ["portfolio_margin", "coinm"])
def test_the_png_is_written(tmp_path: Path, name: str) -> None:
    out = write_risk_map(timeline(name), tmp_path / "riskmap.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_no_state_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no account state"):
        write_risk_map(object(), tmp_path / "x.png")
