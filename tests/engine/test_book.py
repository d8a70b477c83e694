"""The incremental book against the exact Decimal reference, in every margin mode."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import events as ev
from monitor.engine.book import Book
from monitor.engine.brackets import BracketTable
from monitor.engine.model import (
    AccountState,
    Contract,
    ContractKind,
    EngineError,
    Mode,
    Position,
)
from monitor.engine.reference import reference
from monitor.engine.risk import RISK_CAP, RiskSnapshot
from tests.budgets import examples
from tests.engine.strategies import accounts, event_for

REL = 1e-9
#: Examples per mode: 60 under the `ci` profile (fewer in the fast lane); a deeper search sets
#: MW_EXAMPLES=1000.
EXAMPLES = int(os.environ.get("MW_EXAMPLES", "0")) or examples(60)


def _gross(state: AccountState) -> float:
    """The account's gross magnitude: the scale against which float error is measured."""
    total = 1.0
    for a in state.assets.values():
        price = max(a.index_price, a.ask_rate, 1.0)
        total += price * (
            abs(a.cross_wallet)
            + abs(a.um_wallet)
            + abs(a.cm_wallet)
            + abs(a.margin_free)
            + abs(a.margin_locked)
            + abs(a.borrowed)
            + abs(a.interest)
        )
    for p in state.positions.values():
        c = state.contracts[p.symbol]
        mark = state.marks[p.symbol]
        notional = abs(p.qty) * (mark if c.kind is ContractKind.LINEAR else c.contract_size)
        total += 2 * notional + abs(p.isolated_wallet) * mark
    return total + state.open_loss_usd


def assert_matches(got: RiskSnapshot, want: RiskSnapshot, gross: float) -> None:
    """Equal within 1e-9 relative (absolute floor: 1e-12 of the account's gross size)."""
    floor = 1e-12 * gross

    def close(a: float, b: float, what: str) -> None:
        assert math.isclose(a, b, rel_tol=REL, abs_tol=floor), f"{what}: {a!r} != {b!r}"

    assert got.mode == want.mode
    assert {p.key for p in got.pools} == {p.key for p in want.pools}
    want_pools = {p.key: p for p in want.pools}
    for pool in got.pools:
        ref = want_pools[pool.key]
        close(pool.equity, ref.equity, f"equity[{pool.key}]")
        close(pool.maint_margin, ref.maint_margin, f"maint_margin[{pool.key}]")
        if ref.equity > 1e-6 * gross and pool.risk < RISK_CAP:
            close(pool.risk, ref.risk, f"risk[{pool.key}]")
    want_assets = {a.asset: a for a in want.assets}
    assert {a.asset for a in got.assets} == set(want_assets)
    for a in got.assets:
        ref_a = want_assets[a.asset]
        close(a.equity, ref_a.equity, f"asset equity[{a.asset}]")
        close(a.equity_value, ref_a.equity_value, f"asset value[{a.asset}]")
        close(a.maint_margin, ref_a.maint_margin, f"asset mm[{a.asset}]")
    legs = {(leg.symbol, leg.side): leg for leg in want.legs}
    assert {(leg.symbol, leg.side) for leg in got.legs} == set(legs)
    for leg in got.legs:
        ref_leg = legs[(leg.symbol, leg.side)]
        close(leg.unrealized_pnl, ref_leg.unrealized_pnl, f"upnl[{leg.symbol}]")
        close(leg.maint_margin, ref_leg.maint_margin, f"mm[{leg.symbol}]")
    assert got.risk == max((p.risk for p in got.pools), default=0.0)


MODES = list(Mode)


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_incremental_equals_reference_after_any_event_sequence(
    mode: Mode, data: st.DataObject
) -> None:
    state = data.draw(accounts(mode))
    book = Book(state)
    # Running sums carry the rounding of every magnitude they ever held (a closed leg's uPnL
    # leaves ~1 ulp of itself behind), so the floor follows the largest gross seen so far.
    gross = _gross(state)
    assert_matches(book.snapshot(), reference(state), gross)
    for _ in range(data.draw(st.integers(1, 40))):
        event = data.draw(event_for(state))
        risk = book.apply(event)
        assert risk == book.risk
        gross = max(gross, _gross(book.state))
        assert_matches(book.snapshot(), reference(book.state), gross)
    fresh = Book(book.state.copy())
    assert_matches(book.snapshot(), fresh.snapshot(), gross)


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_long_tick_streams_do_not_drift(mode: Mode, data: st.DataObject) -> None:
    """Thousands of ticks: compensated running sums stay within 1e-9 of the reference."""
    state = data.draw(accounts(mode))
    book = Book(state)
    symbols = sorted(state.contracts)
    seed = data.draw(st.integers(0, 2**32 - 1))
    import random

    rng = random.Random(seed)
    for _ in range(3000):
        symbol = symbols[rng.randrange(len(symbols))]
        book.on_mark(symbol, state.marks[symbol] * rng.uniform(0.98, 1.0205))
    assert_matches(book.snapshot(), reference(book.state), _gross(book.state))


def _usdm_state() -> AccountState:
    state = AccountState(Mode.USDM)
    state.contracts["BTCUSDT"] = Contract(
        "BTCUSDT", ContractKind.LINEAR, "USDT", "BTC", BracketTable.flat(0.004)
    )
    state.asset("USDT").cross_wallet = 1000.0
    state.positions[("BTCUSDT", "BOTH")] = Position("BTCUSDT", "BOTH", 1.0, 30000.0)
    state.marks["BTCUSDT"] = 30000.0
    return state


def test_mark_for_unheld_symbol_changes_nothing_but_the_mark() -> None:
    book = Book(_usdm_state())
    before = book.snapshot()
    assert book.on_mark("ETHUSDT", 2000.0) == before.risk
    assert book.snapshot() == before
    assert book.state.marks["ETHUSDT"] == 2000.0


def test_negative_equity_reports_liquidation_without_dividing() -> None:
    book = Book(_usdm_state())
    assert book.on_mark("BTCUSDT", 28500.0) == RISK_CAP  # equity 1000 − 1500 < 0
    snap = book.snapshot()
    assert snap.equity == pytest.approx(-500.0)
    assert snap.margin_ratio == RISK_CAP


def test_zero_equity_with_maintenance_margin_is_liquidation() -> None:
    book = Book(_usdm_state())
    assert book.on_mark("BTCUSDT", 29000.0) == RISK_CAP  # equity exactly 0


def test_empty_account_has_zero_risk() -> None:
    book = Book(AccountState(Mode.USDM))
    assert book.risk == 0.0
    assert book.snapshot().margin_ratio == 0.0


def test_position_on_symbol_without_contract_is_a_clear_error() -> None:
    book = Book(_usdm_state())
    with pytest.raises(EngineError, match="ETHUSDT has no contract data"):
        book.apply(ev.PositionUpdate("ETHUSDT", "BOTH", 1.0, 2000.0))


def test_held_symbol_without_brackets_is_a_clear_error() -> None:
    state = _usdm_state()
    state.contracts["BTCUSDT"].brackets = BracketTable([])
    with pytest.raises(EngineError, match="BTCUSDT has no leverage bracket table"):
        Book(state)


def test_inverse_contract_without_size_is_a_clear_error() -> None:
    state = AccountState(Mode.COINM)
    state.contracts["BTCUSD_PERP"] = Contract(
        "BTCUSD_PERP", ContractKind.INVERSE, "BTC", "BTC", BracketTable.flat(0.004), 0.0, "CM"
    )
    state.positions[("BTCUSD_PERP", "BOTH")] = Position("BTCUSD_PERP", "BOTH", 10, 30000.0)
    state.marks["BTCUSD_PERP"] = 30000.0
    with pytest.raises(EngineError, match="BTCUSD_PERP has no contract size"):
        Book(state)


def test_new_position_without_mark_uses_entry_until_first_tick() -> None:
    book = Book(_usdm_state())
    book.state.contracts["ETHUSDT"] = Contract(
        "ETHUSDT", ContractKind.LINEAR, "USDT", "ETH", BracketTable.flat(0.005)
    )
    book.apply(ev.PositionUpdate("ETHUSDT", "BOTH", 10.0, 2000.0))
    leg = {leg.symbol: leg for leg in book.snapshot().legs}["ETHUSDT"]
    assert leg.unrealized_pnl == 0.0
    assert leg.maint_margin == pytest.approx(100.0)


def test_resync_replaces_state_atomically() -> None:
    book = Book(_usdm_state())
    fresh = _usdm_state()
    fresh.asset("USDT").cross_wallet = 5000.0
    book.apply(ev.Resync(fresh))
    assert book.state is fresh
    assert book.snapshot().equity == pytest.approx(5000.0)


def _coinm_state(entry: float = 30000.0) -> AccountState:
    state = AccountState(Mode.COINM)
    state.contracts["BTCUSD_PERP"] = Contract(
        "BTCUSD_PERP", ContractKind.INVERSE, "BTC", "BTC", BracketTable.flat(0.004), 100.0, "CM"
    )
    state.positions[("BTCUSD_PERP", "BOTH")] = Position("BTCUSD_PERP", "BOTH", 10, entry)
    state.marks["BTCUSD_PERP"] = 30000.0
    state.asset("BTC").cross_wallet = 1.0
    return state


def test_inverse_leg_at_entry_zero_is_rejected_without_change() -> None:
    """uPnL of an inverse leg is qty × size × (1/entry − 1/mark): entry 0 cannot be valued."""
    book = Book(_coinm_state())
    before = (book.snapshot(), repr(book.state))
    with pytest.raises(EngineError, match="entry price 0"):
        book.apply(ev.PositionUpdate("BTCUSD_PERP", "BOTH", 20, 0.0))
    assert (book.snapshot(), repr(book.state)) == before
    with pytest.raises(EngineError, match="entry price 0"):
        Book(_coinm_state(entry=0.0))


def test_a_rejected_resync_leaves_the_book_as_it_was() -> None:
    book = Book(_coinm_state())
    before = (book.snapshot(), repr(book.state))
    with pytest.raises(EngineError):
        book.apply(ev.Resync(_coinm_state(entry=0.0)))
    assert (book.snapshot(), repr(book.state)) == before
    assert book.on_mark("BTCUSD_PERP", 29000.0) == Book(_coinm_state()).on_mark(
        "BTCUSD_PERP", 29000.0
    )


def test_a_message_is_admitted_before_anything_changes() -> None:
    book = Book(_usdm_state())
    before = (book.snapshot(), repr(book.state))
    with pytest.raises(EngineError, match="NEWUSDT has no contract data"):
        book.admit(ev.PositionUpdate("NEWUSDT", "BOTH", 1.0, 10.0))
    book.admit(ev.FuturesWallet("USDT", 1.0))
    assert (book.snapshot(), repr(book.state)) == before


@pytest.mark.parametrize("mode", [Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN])
def test_isolated_flag_reads_as_cross_where_binance_has_no_isolated_margin(mode: Mode) -> None:
    state = _usdm_state()
    state.mode = mode
    state.positions[("BTCUSDT", "BOTH")].isolated = True
    state.positions[("BTCUSDT", "BOTH")].isolated_wallet = 100.0
    book = Book(state)
    assert not any(p.isolated for p in book.state.positions.values())
    assert [p.key for p in book.snapshot().pools] == ["USD"]
