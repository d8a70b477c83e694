"""Reconciliation pairs the exchange's account figures with the book's, per mode."""

from __future__ import annotations

import pytest

from monitor import examples
from monitor.feed.reconcile import Figure, account_path, drifted, figures
from monitor.feed.recording import WsLine, read_recording
from monitor.feed.replay import Replay


def _start(name: str) -> Replay:
    meta, lines = read_recording(examples.path(name))
    replay = Replay(meta)
    for line in lines:
        if isinstance(line, WsLine):
            break
        replay.feed(line)
    replay.flush()
    return replay


@pytest.mark.parametrize("name", ["usdm", "usdm_multi_assets", "coinm", "portfolio_margin"])
def test_a_consistent_snapshot_has_no_drift(name: str) -> None:
    replay = _start(name)
    assert replay.book is not None
    path = account_path(replay.book.mode)
    pairs = figures(replay.book.snapshot(), path, replay.rest[path])
    assert pairs, "every mode has comparable figures"
    assert not [f for f in pairs if drifted(f, 0.02, 0.005)]


def test_a_moved_exchange_figure_is_drift() -> None:
    replay = _start("portfolio_margin")
    assert replay.book is not None
    body = dict(replay.rest["/papi/v1/account"])
    body["uniMMR"] = str(float(body["uniMMR"]) * 0.9)
    pairs = {f.name: f for f in figures(replay.book.snapshot(), "/papi/v1/account", body)}
    assert drifted(pairs["uniMMR"], 0.02, 0.005)
    assert not drifted(pairs["equity"], 0.02, 0.005)


def test_bodies_without_figures_compare_nothing() -> None:
    replay = _start("usdm")
    assert replay.book is not None
    snap = replay.book.snapshot()
    assert figures(snap, "/fapi/v3/account", {"code": -1}) == []
    assert figures(snap, "/fapi/v3/account", ["not", "a", "dict"]) == []
    assert figures(snap, "/fapi/v3/account", {"assets": [{"asset": "USDT", "maintMargin": "x"}]}) \
        == []


def test_tolerance_is_absolute_plus_relative() -> None:
    assert not drifted(Figure("x", 100.0, 101.9), 0.02, 0.0)
    assert drifted(Figure("x", 100.0, 103.0), 0.02, 0.0)
    assert not drifted(Figure("x", 0.0, 0.004), 0.02, 0.005)
