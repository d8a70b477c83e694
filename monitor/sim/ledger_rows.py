"""Row-level rules of the fake exchange's ledger: position, mark-price and asset-index rows.

The ledger (`ledger.py`) keeps every REST body current; this module knows what one row of
those bodies looks like. A position leg (`Leg`, keyed by product and (symbol, positionSide)) is
rendered into every body that lists it (`POSITION_SPECS`: the positionRisk endpoints and the
`positions[]` of the account endpoints), and repriced there when a mark arrives:

- USDⓈ-M (linear): `unRealizedProfit` = qty·(mark − entry), `notional` = qty·mark (signed).
- COIN-M (inverse): `unRealizedProfit` = qty·CS·(1/entry − 1/mark), `notionalValue` = qty·CS/mark,
  with the contract size CS from `/dapi/v1/exchangeInfo` (without it only `markPrice` moves).
- An isolated leg's `isolatedMargin` is its wallet + uPnL, summed as decimals so that
  `isolatedMargin − unRealizedProfit` gives the wallet back exactly (COIN-M rows carry no
  `isolatedWallet`; the snapshot builder derives it that way).

A field is written only where the row already has it (the recorded schema wins), except the
core ones (`positionAmt`, `entryPrice` on positionRisk rows, `markPrice`). Numbers are written as
Binance writes them (`monitor.sim.wire.decimals`): decimal strings with 8 decimals; prices keep
the stream's own text.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from monitor.sim.wire.decimals import ZERO_TEXT, f8, f8_float

#: (mark text as received, mark as a float)
Mark = tuple[str, float]

ZERO = ZERO_TEXT
fmt = f8_float  # a running float figure, 8 places
fmt_dec = f8  # a Decimal figure, 8 places


def dec(value: object) -> Decimal | None:
    """A finite decimal from a JSON string or number (None for anything else)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        out = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return out if out.is_finite() else None


def num(value: object) -> float | None:
    """A finite float from a JSON string or number (None for anything else)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def positive(value: object) -> float | None:
    out = num(value)
    return out if out is not None and out > 0.0 else None


@dataclass(frozen=True, slots=True)
class PositionSpec:
    """Where a body lists position legs and how its rows spell things."""

    path: str
    product: str  # "UM" (linear) or "CM" (inverse)
    nested: bool  # rows in body["positions"] (account endpoints), else the body is the list
    upnl_key: str
    notional_key: str
    #: How the row says isolated: "marginType" ("cross"/"isolated"), "isolated" (bool),
    #: "wallet" (v3: isolatedWallet > 0 or isolatedMargin ≠ 0) or "none" (PM: cross only).
    isolation: str
    leverage: bool  # rows carry `leverage`
    drop_flat: bool  # v3 lists only legs with a position: a flat leg's row goes away

    def rows(self, body: Any) -> list[Any] | None:
        """The row list inside `body` (None when the body does not have one)."""
        found = body.get("positions") if self.nested and isinstance(body, dict) else body
        return found if isinstance(found, list) else None


POSITION_SPECS: tuple[PositionSpec, ...] = (
    PositionSpec(
        "/fapi/v3/positionRisk",
        "UM",
        False,
        "unRealizedProfit",
        "notional",
        isolation="wallet",
        leverage=False,
        drop_flat=True,
    ),
    PositionSpec(
        "/fapi/v3/account",
        "UM",
        True,
        "unrealizedProfit",
        "notional",
        isolation="wallet",
        leverage=False,
        drop_flat=True,
    ),
    PositionSpec(
        "/fapi/v2/positionRisk",
        "UM",
        False,
        "unRealizedProfit",
        "notional",
        isolation="marginType",
        leverage=True,
        drop_flat=False,
    ),
    PositionSpec(
        "/fapi/v2/account",
        "UM",
        True,
        "unrealizedProfit",
        "notional",
        isolation="isolated",
        leverage=True,
        drop_flat=False,
    ),
    PositionSpec(
        "/dapi/v1/positionRisk",
        "CM",
        False,
        "unRealizedProfit",
        "notionalValue",
        isolation="marginType",
        leverage=True,
        drop_flat=False,
    ),
    PositionSpec(
        "/dapi/v1/account",
        "CM",
        True,
        "unrealizedProfit",
        "notionalValue",
        isolation="isolated",
        leverage=True,
        drop_flat=False,
    ),
    PositionSpec(
        "/papi/v1/um/positionRisk",
        "UM",
        False,
        "unRealizedProfit",
        "notional",
        isolation="none",
        leverage=True,
        drop_flat=False,
    ),
    PositionSpec(
        "/papi/v1/cm/positionRisk",
        "CM",
        False,
        "unRealizedProfit",
        "notionalValue",
        isolation="none",
        leverage=True,
        drop_flat=False,
    ),
)
SPEC_BY_PATH = {spec.path: spec for spec in POSITION_SPECS}

PREMIUM_PATHS = ("/fapi/v1/premiumIndex", "/dapi/v1/premiumIndex")
ASSET_INDEX_PATH = "/fapi/v1/assetIndex"

#: Position-specific numbers a new row must not inherit from its template row.
_POSITION_NUMBERS = (
    "positionAmt",
    "entryPrice",
    "breakEvenPrice",
    "markPrice",
    "unRealizedProfit",
    "unrealizedProfit",
    "liquidationPrice",
    "isolatedMargin",
    "isolatedWallet",
    "notional",
    "notionalValue",
    "initialMargin",
    "maintMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "bidNotional",
    "askNotional",
)

#: assetIndexUpdate field → `/fapi/v1/assetIndex` row field (wire.md §2).
ASSET_INDEX_FIELDS = {
    "i": "index",
    "b": "bidBuffer",
    "a": "askBuffer",
    "B": "bidRate",
    "A": "askRate",
    "q": "autoExchangeBidBuffer",
    "g": "autoExchangeAskBuffer",
    "Q": "autoExchangeBidRate",
    "G": "autoExchangeAskRate",
}

#: markPriceUpdate field → premiumIndex row field.
_PREMIUM_FIELDS = {
    "i": "indexPrice",
    "P": "estimatedSettlePrice",
    "r": "lastFundingRate",
    "T": "nextFundingTime",
    "E": "time",
}


@dataclass(slots=True)
class Leg:
    """One position leg as the exchange holds it (strings as Binance wrote them)."""

    amt: str
    entry: str
    bep: str | None
    isolated: bool
    wallet: Decimal  # isolated wallet (0 for cross legs)
    qty: float  # signed: LONG > 0, SHORT < 0
    entry_price: float

    @classmethod
    def make(
        cls, side: str, amt: object, entry: object, bep: object, isolated: bool, wallet: Decimal
    ) -> Leg | None:
        """A leg from wire values; None when the amount or entry price is not a number."""
        amount, entry_price = num(amt), num(entry)
        if amount is None or entry_price is None:
            return None
        return cls(
            str(amt),
            str(entry),
            str(bep) if num(bep) is not None else None,
            isolated,
            wallet if isolated else Decimal(0),
            signed_qty(side, amount),
            entry_price,
        )


def signed_qty(side: str, amount: float) -> float:
    """Binance reports hedge legs' size sometimes unsigned; LONG is +, SHORT is −."""
    if side == "LONG":
        return abs(amount)
    if side == "SHORT":
        return -abs(amount)
    return amount


def side_of(row: dict[str, Any]) -> str:
    side = row.get("positionSide")
    return side if isinstance(side, str) and side else "BOTH"


def row_isolated(row: dict[str, Any], spec: PositionSpec) -> bool:
    if spec.isolation == "marginType":
        return str(row.get("marginType", "cross")).lower() == "isolated"
    if spec.isolation == "isolated":
        flag = row.get("isolated")
        return flag is True or (isinstance(flag, str) and flag.lower() == "true")
    if spec.isolation == "wallet":
        return (num(row.get("isolatedWallet")) or 0.0) > 0.0 or (
            num(row.get("isolatedMargin")) or 0.0
        ) != 0.0
    return False


def leg_from_row(row: dict[str, Any], spec: PositionSpec) -> Leg | None:
    """The leg a recorded row describes (None without an amount or an entry price)."""
    isolated = row_isolated(row, spec)
    wallet = Decimal(0)
    if isolated:
        direct = dec(row.get("isolatedWallet"))
        if direct is not None:
            wallet = direct
        else:
            wallet = (dec(row.get("isolatedMargin")) or Decimal(0)) - (
                dec(row.get(spec.upnl_key)) or Decimal(0)
            )
    return Leg.make(
        side_of(row),
        row.get("positionAmt"),
        row.get("entryPrice"),
        row.get("breakEvenPrice"),
        isolated,
        wallet,
    )


def reprice(
    row: dict[str, Any], spec: PositionSpec, leg: Leg | None, mark: Mark, size: float | None
) -> None:
    """Move a position row to `mark`: markPrice, uPnL, notional, isolated margin."""
    text, price = mark
    if not spec.nested:
        row["markPrice"] = text
    if leg is None:
        return
    if spec.product == "UM":
        upnl = leg.qty * (price - leg.entry_price)
        notional = leg.qty * price
    elif size is not None:
        inv_entry = 1.0 / leg.entry_price if leg.entry_price else 0.0
        upnl = leg.qty * size * (inv_entry - 1.0 / price) if leg.qty else 0.0
        notional = leg.qty * size / price
    else:
        return
    upnl_text = fmt(upnl)
    row[spec.upnl_key] = upnl_text
    if spec.notional_key in row:
        row[spec.notional_key] = fmt(notional)
    if leg.isolated and "isolatedMargin" in row:
        row["isolatedMargin"] = fmt_dec(leg.wallet + Decimal(upnl_text))


def render(
    row: dict[str, Any],
    spec: PositionSpec,
    leg: Leg,
    mark: Mark | None,
    size: float | None,
    t: int | None,
) -> None:
    """Write a changed leg into its row (then reprice it at `mark` when one is known)."""
    row["positionAmt"] = leg.amt
    if not spec.nested or "entryPrice" in row:
        row["entryPrice"] = leg.entry
    if leg.bep is not None and "breakEvenPrice" in row:
        row["breakEvenPrice"] = leg.bep
    if spec.isolation == "marginType":
        row["marginType"] = "isolated" if leg.isolated else "cross"
    elif spec.isolation == "isolated":
        row["isolated"] = leg.isolated
    if "isolatedWallet" in row:
        row["isolatedWallet"] = fmt_dec(leg.wallet)
    if "isolatedMargin" in row and not leg.isolated:
        row["isolatedMargin"] = ZERO
    if t is not None and "updateTime" in row:
        row["updateTime"] = t
    if mark is not None:
        reprice(row, spec, leg, mark, size)
    elif leg.qty == 0.0:
        row[spec.upnl_key] = ZERO
        if spec.notional_key in row:
            row[spec.notional_key] = ZERO


def _scratch_position(spec: PositionSpec) -> dict[str, Any]:
    """A position row with the endpoint's usual fields, for a body that has no row to copy."""
    row: dict[str, Any] = {"symbol": "", "positionSide": "BOTH", "positionAmt": "0"}
    row["entryPrice"] = "0.0"
    row["breakEvenPrice"] = "0.0"
    if not spec.nested:
        row["markPrice"] = ZERO
        row["liquidationPrice"] = "0"
    row[spec.upnl_key] = ZERO
    row[spec.notional_key] = ZERO
    if spec.product == "UM" and spec.isolation != "none":
        row["isolatedMargin"] = ZERO
        row["isolatedWallet"] = ZERO
    elif spec.isolation == "marginType":
        row["isolatedMargin"] = ZERO
    if spec.leverage:
        row["leverage"] = "20"
    if spec.isolation == "marginType":
        row["marginType"] = "cross"
    elif spec.isolation == "isolated":
        row["isolated"] = False
    if spec.nested or spec.path == "/fapi/v3/positionRisk":
        row["initialMargin"] = ZERO
        row["maintMargin"] = ZERO
    row["updateTime"] = 0
    return row


def new_position_row(
    spec: PositionSpec, rows: list[Any], symbol: str, side: str, leverage: str | None
) -> dict[str, Any]:
    """A row for a leg the body lacks: a copy of a row of the same symbol (else of any row,
    else the endpoint's usual fields) with the position-specific numbers zeroed."""
    same = [r for r in rows if isinstance(r, dict) and r.get("symbol") == symbol]
    template = same[0] if same else next((r for r in rows if isinstance(r, dict)), None)
    row = copy.deepcopy(template) if template is not None else _scratch_position(spec)
    for key in _POSITION_NUMBERS:
        if key in row:
            row[key] = "0" if key in ("positionAmt", "liquidationPrice") else ZERO
    row["symbol"] = symbol
    row["positionSide"] = side
    if "leverage" in row and not same:
        row["leverage"] = leverage or "20"
    if "adl" in row:
        row["adl"] = 0
    return row


def new_premium_row(rows: list[Any], symbol: str, coinm: bool) -> dict[str, Any]:
    template = next((r for r in rows if isinstance(r, dict)), None)
    row: dict[str, Any] = (
        copy.deepcopy(template)
        if template is not None
        else {
            "symbol": symbol,
            "markPrice": ZERO,
            "indexPrice": ZERO,
            "estimatedSettlePrice": ZERO,
            "lastFundingRate": "",
            "interestRate": "",
            "nextFundingTime": 0,
            "time": 0,
        }
    )
    row["symbol"] = symbol
    if coinm or "pair" in row:
        row["pair"] = symbol.split("_", 1)[0]
    return row


def apply_premium(row: dict[str, Any], element: dict[str, Any], mark: Mark) -> None:
    """Copy a markPriceUpdate into a premiumIndex row."""
    row["markPrice"] = mark[0]
    for src, dst in _PREMIUM_FIELDS.items():
        value = element.get(src)
        if value is not None and dst in row:
            row[dst] = value


def new_asset_index_row(rows: list[Any], symbol: str) -> dict[str, Any]:
    template = next((r for r in rows if isinstance(r, dict)), None)
    if template is not None:
        row: dict[str, Any] = copy.deepcopy(template)
    else:
        row = {"symbol": symbol, "time": 0}
        row.update({name: ZERO for name in ASSET_INDEX_FIELDS.values()})
    row["symbol"] = symbol
    return row


def apply_asset_index(row: dict[str, Any], element: dict[str, Any]) -> None:
    """Copy an assetIndexUpdate into a `/fapi/v1/assetIndex` row."""
    for src, dst in ASSET_INDEX_FIELDS.items():
        value = element.get(src)
        if isinstance(value, str):
            row[dst] = value
    if element.get("E") is not None:
        row["time"] = element["E"]
