"""Numbers as Binance writes them on the wire (wire.md §6.15: types vary by endpoint).

Balances, prices and amounts are decimal strings, usually with 8 places (`f8`), never a negative
zero; bracket tables are JSON numbers (`num`).
"""

from __future__ import annotations

from decimal import Decimal

D = Decimal
Q8 = D("0.00000001")
ZERO = D(0)
ZERO_TEXT = "0.00000000"


def fq(x: Decimal | float | int, places: int) -> str:
    """A decimal string with `places` places (no exponent, no negative zero)."""
    q = D(str(x)).quantize(D(1).scaleb(-places))
    return f"{abs(q) if q == 0 else q:f}"


def f8(x: Decimal | float | int) -> str:
    """A decimal string with 8 places, as Binance sends balances and prices."""
    return fq(x, 8)


def num(x: Decimal) -> int | float:
    """A JSON number (bracket tables are numbers on the wire)."""
    return int(x) if x == x.to_integral_value() else float(x)


def f8_float(value: float) -> str:
    """A float with 8 places as Python rounds its binary value (the fake exchange's running
    figures), never "-0"."""
    text = f"{value:.8f}"
    return ZERO_TEXT if text == "-0.00000000" else text
