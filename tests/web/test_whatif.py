"""What-if shocks: parsing, and the figures after a shock against the engine's own stress
evaluator (`evaluate` with a `Move`), on the bundled recordings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitor import examples
from monitor.core.ingest import Replay
from monitor.engine.model import AccountState
from monitor.engine.valuation import Move, evaluate
from monitor.feed.recording import read_recording
from monitor.web.whatif import Shock, ShockError, parse_shock, whatif_file, whatif_report


def final_state(name: str) -> AccountState:
    meta, lines = read_recording(examples.path(name))
    return Replay(meta).run(lines).state


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def test_moves_parse_as_fractions_or_percent() -> None:
    shock = parse_shock(["BTC:-0.10", "eth=-15%", "all:-0.05"], ["btc=0.9"])
    assert shock == Shock((("BTC", -0.10), ("ETH", -0.15)), -0.05, (("BTC", 0.9),))
    assert shock.factor("BTC", frozenset()) == pytest.approx(0.9)
    assert shock.factor("SOL", frozenset()) == pytest.approx(0.95)  # all
    assert shock.factor("USDT", frozenset({"USDT"})) == 1.0  # stablecoins keep their price


@pytest.mark.parametrize(
    ("moves", "rates", "message"),
    [
        (["BTC"], [], "expected ASSET:FRACTION"),
        (["BTC:abc"], [], "not a number"),
        (["BTC:-1"], [], "above -100 %"),
        (["BTC:nan"], [], "finite"),
        (["BTC:-0.1", "BTC=5%"], [], "given twice"),
        (["B/T:0.1"], [], "not an asset name"),
        ([], ["BTC:1.5"], "between 0 and 1"),
    ],
)
def test_malformed_shocks_say_what_is_wrong(
    moves: list[str], rates: list[str], message: str
) -> None:
    with pytest.raises(ShockError, match=message):
        parse_shock(moves, rates)


@pytest.mark.parametrize("name", ["portfolio_margin", "usdm", "usdm_multi_assets", "coinm"])
@pytest.mark.parametrize("move", [-0.2, -0.05, 0.1])
def test_one_underlying_moved_equals_the_engine_stress_evaluator(name: str, move: float) -> None:
    state = final_state(name)
    marks_before = dict(state.marks)
    underlying = "BTC"
    report = whatif_report(state, parse_shock([f"{underlying}:{move}"]))
    engine = evaluate(state, Move(1.0 + move, underlying))
    assert close(report["risk"], engine.risk)
    assert close(report["equity"], engine.equity)
    assert close(report["maint_margin"], engine.maint_margin)
    assert report["whatif"] == {"moves": {"BTC": move}, "all": None, "rates": {}}
    assert state.marks == marks_before  # the shock went to a copy


@pytest.mark.parametrize("name", ["portfolio_margin", "usdm_multi_assets"])
def test_all_moves_every_non_stable_price_like_the_uniform_move(name: str) -> None:
    state = final_state(name)
    report = whatif_report(state, parse_shock(["all:-0.07"]))
    assert close(report["risk"], evaluate(state, Move(0.93)).risk)


def test_two_moves_apply_to_marks_index_prices_and_collateral() -> None:
    state = final_state("portfolio_margin")
    report = whatif_report(state, parse_shock(["BTC:-0.10", "ETH:-0.15"]))
    marks = {p["symbol"]: p["mark_price"] for p in report["positions"]}
    assert close(marks["BTCUSDT"], state.marks["BTCUSDT"] * 0.9)
    assert close(marks["ETHUSDT"], state.marks["ETHUSDT"] * 0.85)
    assert close(marks["BTCUSD_PERP"], state.marks["BTCUSD_PERP"] * 0.9)
    # BTC collateral is valued at the moved index price: apply the moves one after the other
    stepped = state.copy()
    for symbol in list(stepped.marks):
        base = stepped.contracts[symbol].base_asset if symbol in stepped.contracts else ""
        stepped.marks[symbol] *= {"BTC": 0.9, "ETH": 0.85}.get(base, 1.0)
    stepped.assets["BTC"].index_price *= 0.9
    stepped.assets["ETH"].index_price *= 0.85
    assert close(report["risk"], evaluate(stepped).risk)
    assert report["risk"] != evaluate(state).risk


def test_a_collateral_rate_change_lowers_pm_equity() -> None:
    state = final_state("portfolio_margin")
    before = whatif_report(state, Shock())
    after = whatif_report(state, parse_shock([], ["BTC:0.5"]))
    assert after["equity"] < before["equity"]
    assert after["maint_margin"] == pytest.approx(before["maint_margin"])
    with pytest.raises(ShockError, match="Portfolio Margin"):
        whatif_report(final_state("usdm"), parse_shock([], ["BTC:0.5"]))


def test_an_unknown_asset_is_refused() -> None:
    with pytest.raises(ShockError, match="DOGE is not an asset of this account"):
        whatif_report(final_state("coinm"), parse_shock(["DOGE:-0.1"]))


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_the_cli_has_the_keys_of_calc_json() -> None:
    run = [sys.executable, "-m", "monitor"]
    calc = json.loads(subprocess.run([*run, "calc", "usdm", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    out = subprocess.run([*run, "whatif", "usdm", "--move", "BTC=-10%", "--move", "SOL=-0.05",
                          "--json"], check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    assert set(calc) - {"events", "warnings"} <= set(report)
    assert report["whatif"]["moves"] == {"BTC": -0.10, "SOL": -0.05}
    assert report == json.loads(json.dumps(whatif_file(
        examples.path("usdm"), ["BTC=-10%", "SOL=-0.05"])))
    bad = subprocess.run([*run, "whatif", "usdm", "--move", "BTC=-200%"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "above -100 %" in bad.stderr
