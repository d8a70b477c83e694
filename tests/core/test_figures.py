"""Heavy figures for alert messages: distances, liquidation prices, honest restore advice."""

from __future__ import annotations

import pytest

from monitor.alerts.messages import top_contributors
from monitor.core.figures import heavy_figures
from monitor.core.ingest import Replay
from monitor.engine.liquidation import distances
from monitor.engine.restore import cut_to_target
from monitor.examples import path as example_path
from monitor.feed.recording import read_recording


def _pm_state() -> Replay:
    meta, lines = read_recording(example_path("portfolio_margin"))
    replay = Replay(meta)
    replay.run(lines)
    return replay


def test_pm_figures_match_the_engine_and_never_offer_an_insufficient_cut() -> None:
    book = _pm_state().book
    assert book is not None
    figures = heavy_figures(book.state)
    report = distances(book.state)
    assert figures.distance_up == report["uniform"].up
    assert figures.nearest_underlying == report["nearest_underlying"]
    assert figures.deposit is not None and figures.deposit[0] == "USDT"
    cut = cut_to_target(book.state, 0.5)
    if cut is not None and not cut.sufficient:
        assert figures.cut is None
    assert ("BTCUSDT", "BOTH") in figures.liquidation_prices


def test_pm_margin_loan_is_listed_among_the_top_contributors() -> None:
    book = _pm_state().book
    assert book is not None
    snap = book.snapshot()
    lines = top_contributors(snap)
    assert lines[0].startswith("USDT margin loan MM")
    shares = [float(line.rsplit("(", 1)[1].rstrip(" %)")) for line in lines]
    assert sum(shares) == pytest.approx(100, abs=2)  # the three largest terms of this book
