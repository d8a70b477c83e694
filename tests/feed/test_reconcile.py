"""Reconciliation pairs the exchange's account figures with the book's, per mode."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from monitor import examples
from monitor.core.ingest import Replay
from monitor.engine.book import Book
from monitor.engine.risk import RiskSnapshot
from monitor.feed.reconcile import Figure, account_path, drifted, exchange_has_no_mm, figures
from monitor.feed.recording import WsLine, read_recording


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


# ----------------------------------------------------------------- uniMMR "no MM" sentinel
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def _no_mm_body(equity: float) -> dict[str, object]:
    """A live `/papi/v1/account` of an account without MM (uniMMR "99999999", MM "0.0"),
    with its equity set to the book's (samples/papi_account_no_mm_live.json, SOURCES.md)."""
    body = json.loads((SAMPLES / "papi_account_no_mm_live.json").read_text(encoding="utf-8"))
    assert body["uniMMR"] == "99999999" and float(body["accountMaintMargin"]) == 0.0
    return {**body, "accountEquity": f"{equity:.8f}"}


def _nearly_flat_snapshot() -> RiskSnapshot:
    """The PM example with every leg shrunk 10^7-fold and no loans: an MM of a few 0.001 USD
    (the exchange rounds it to no MM), so the book's uniMMR is huge but finite."""
    replay = _start("portfolio_margin")
    assert replay.book is not None
    state = copy.deepcopy(replay.book.state)
    state.positions = {k: dataclasses.replace(p, qty=p.qty * 1e-7)
                       for k, p in state.positions.items()}
    for rec in state.assets.values():
        rec.borrowed = rec.interest = 0.0
    snap = Book(state).snapshot()
    assert snap.uni_mmr is not None and 0.0 < snap.maint_margin < 0.005
    return snap


def test_the_no_mm_sentinel_is_not_compared_as_a_uni_mmr() -> None:
    snap = _nearly_flat_snapshot()
    body = _no_mm_body(snap.equity)
    assert exchange_has_no_mm(body)
    pairs = {f.name: f for f in figures(snap, "/papi/v1/account", body)}
    assert "uniMMR" not in pairs  # 99999999 is a sentinel, not the account's ratio
    assert pairs["maint_margin"].exchange == 0.0  # "no MM" still compares as MM 0
    assert not [f for f in pairs.values() if drifted(f, 0.02, 0.005)]


def test_a_real_mm_difference_still_shows_under_the_sentinel() -> None:
    replay = _start("portfolio_margin")
    assert replay.book is not None
    snap = replay.book.snapshot()  # the example holds real positions: MM 155,007.85 USD
    pairs = {f.name: f for f in figures(snap, "/papi/v1/account", _no_mm_body(snap.equity))}
    assert "uniMMR" not in pairs
    assert drifted(pairs["maint_margin"], 0.02, 0.005)


def test_an_ordinary_uni_mmr_is_still_compared() -> None:
    replay = _start("portfolio_margin")
    assert replay.book is not None
    body = replay.rest["/papi/v1/account"]
    assert not exchange_has_no_mm(body)
    names = [f.name for f in figures(replay.book.snapshot(), "/papi/v1/account", body)]
    assert names == ["uniMMR", "equity", "maint_margin"]
