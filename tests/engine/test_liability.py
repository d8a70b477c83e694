"""`liabilityChange` read as Binance defines it, through the decoder, the engine and the fake.

Binance's Portfolio Margin event (user-data stream, "Event: Liability Update", sent on borrowing,
repayment and interest calculation) is `{"e":"liabilityChange","a":asset,"t":type,"p":principal,
"i":interest,"l":total liability}`: `p` and `i` are the amounts of *this* transaction, `l` is the
whole liability outstanding after it. The cases below are written from that definition: each
frame's `l` is what the loan must be afterwards, whatever `p` says.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from monitor.binance.decode.user_events import translate_frame
from monitor.engine.book import Book
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Mode
from monitor.engine.reference import reference
from monitor.sim.ledger_balances import set_liability


def _frame(kind: str, principal: str, interest: str, total: str) -> dict[str, Any]:
    return {
        "e": "liabilityChange",
        "E": 1_700_000_000_000,
        "a": "USDT",
        "t": kind,
        "T": 1352286576452864727,  # > 2^53, as Binance sends it
        "p": principal,
        "i": interest,
        "l": total,
    }


def _account(loan: float, interest: float = 0.0) -> AccountState:
    """A PM account: 20 BTC collateral (CR 0.95) at 60,000, USDT cash and a USDT loan."""
    state = AccountState(Mode.PORTFOLIO_MARGIN, margin_leverage=3)
    btc = state.asset("BTC")
    btc.margin_free, btc.index_price, btc.collateral = 20.0, 60_000.0, CollateralTiers.flat(0.95)
    usdt = state.asset("USDT")
    usdt.margin_free, usdt.borrowed, usdt.interest = 600_000.0, loan - interest, interest
    return state


def _apply(book: Book, frame: dict[str, Any]) -> None:
    for event in translate_frame(frame, Mode.PORTFOLIO_MARGIN).events:
        book.apply(event)


def _loan(book: Book) -> float:
    return book.state.assets["USDT"].loan


def test_partial_repayment_leaves_the_rest_of_the_loan() -> None:
    """The issue's case: 50,000 repaid on a 568,695 USDT loan leaves 518,695, not 50,000."""
    book = Book(_account(568_695.0))
    before = book.risk
    _apply(book, _frame("REPAY", "50000", "0", "518695"))
    assert _loan(book) == pytest.approx(518_695.0)
    # The cash spent arrives with the paired outboundAccountPosition; the loan alone is lower.
    assert book.risk < before
    exact = reference(book.state)
    assert book.risk == pytest.approx(float(exact.risk), rel=1e-12)


def test_a_borrow_adds_to_the_loan() -> None:
    book = Book(_account(100_000.0))
    _apply(book, _frame("BORROW", "25000", "0", "125000"))
    assert _loan(book) == pytest.approx(125_000.0)
    assert book.state.assets["USDT"].borrowed == pytest.approx(125_000.0)


def test_full_repayment_clears_principal_and_interest() -> None:
    book = Book(_account(100_120.0, interest=120.0))
    _apply(book, _frame("REPAY", "100000", "120", "0"))
    usdt = book.state.assets["USDT"]
    assert (usdt.borrowed, usdt.interest, usdt.loan) == (0.0, 0.0, 0.0)


def test_a_repayment_pays_interest_first() -> None:
    book = Book(_account(100_120.0, interest=120.0))
    _apply(book, _frame("REPAY", "9880", "120", "90120"))
    usdt = book.state.assets["USDT"]
    assert usdt.interest == pytest.approx(0.0)
    assert usdt.borrowed == pytest.approx(90_120.0)


def test_interest_accrual_raises_the_loan_by_the_interest() -> None:
    book = Book(_account(100_000.0))
    _apply(book, _frame("INTEREST", "0", "4.16666667", "100004.16666667"))
    usdt = book.state.assets["USDT"]
    assert usdt.loan == pytest.approx(100_004.16666667)
    assert usdt.interest == pytest.approx(4.16666667)
    assert usdt.borrowed == pytest.approx(100_000.0)


def test_the_loan_moves_risk_both_ways() -> None:
    """An extra borrow must show as more risk (the old reading hid it behind `p`)."""
    calm = Book(_account(300_000.0))
    _apply(calm, _frame("BORROW", "400000", "0", "700000"))
    assert _loan(calm) == pytest.approx(700_000.0)
    assert calm.risk > Book(_account(300_000.0)).risk


def test_a_frame_without_total_liability_is_rejected() -> None:
    frame = _frame("REPAY", "50000", "0", "0")
    del frame["l"]
    with pytest.raises(ValueError, match="liabilityChange"):
        translate_frame(frame, Mode.PORTFOLIO_MARGIN)


@pytest.mark.parametrize(
    ("kind", "paid", "total", "borrowed", "interest"),
    [
        ("REPAY", "0", "518695", "518575.00000000", "120.00000000"),  # interest outstanding kept
        ("REPAY", "120", "518695", "518695.00000000", "0.00000000"),  # interest paid first
        ("INTEREST", "4.5", "568819.5", "568695.00000000", "124.50000000"),
        ("BORROW", "0", "600000", "599880.00000000", "120.00000000"),
        ("REPAY", "120", "0", "0.00000000", "0.00000000"),
    ],
)
def test_fake_exchange_books_the_same_rule(
    kind: str, paid: str, total: str, borrowed: str, interest: str
) -> None:
    """`/papi/v1/balance` of the fake exchange after the event: borrowed + interest = `l`."""
    row = {"asset": "USDT", "crossMarginBorrowed": "568695", "crossMarginInterest": "120"}
    set_liability(row, kind, paid, total)
    assert (row["crossMarginBorrowed"], row["crossMarginInterest"]) == (borrowed, interest)
    assert Decimal(row["crossMarginBorrowed"]) + Decimal(row["crossMarginInterest"]) == Decimal(
        total
    )
