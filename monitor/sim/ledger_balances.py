"""Wallet and margin-balance rows of the fake exchange's ledger.

Futures wallets (`ACCOUNT_UPDATE` `B[]` in USDⓈ-M and COIN-M): `walletBalance` ← `wb` and
`crossWalletBalance` ← `cw` in the account endpoints' `assets[]`, `balance` ← `wb` and
`crossWalletBalance` ← `cw` in the balance endpoints. Portfolio Margin (`/papi/v1/balance`), read
the way `monitor.binance.decode.user_events` and the engine read the events:

- `ACCOUNT_UPDATE` with `fs`: `umWalletBalance` (fs UM) or `cmWalletBalance` (fs CM) ← `wb`.
- `outboundAccountPosition` `B[]`: `crossMarginFree` ← `f`, `crossMarginLocked` ← `l`.
- `balanceUpdate`: `crossMarginFree` += `d` (a delta; the absolute `f` of the
  `outboundAccountPosition` Binance sends with it then replaces it, so nothing counts twice).
- `liabilityChange`: Binance's `l` is the total liability after the change; `p` and `i` are the
  transaction's principal and interest. `crossMarginBorrowed + crossMarginInterest` ← `l`, split
  as Binance books it: a repayment pays interest first (interest − `i`), an interest accrual
  adds `i`, a borrow leaves the interest; the rest is principal. Decimal, from the event
  definitions (the engine's float rule is `engine.book.split_liability`).

`crossMarginAsset` (free + locked) and `totalWalletBalance` (+ the futures wallets) move by the
same deltas, so they stay consistent with whatever the recording started from. An asset the
body lacks gets a new row: a copy of another row with every number zeroed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from monitor.sim.ledger_rows import ZERO, dec, fmt_dec

UM_ACCOUNTS = ("/fapi/v3/account", "/fapi/v2/account")
UM_BALANCES = ("/fapi/v3/balance", "/fapi/v2/balance")
CM_ACCOUNTS = ("/dapi/v1/account",)
CM_BALANCES = ("/dapi/v1/balance",)
PM_BALANCE = "/papi/v1/balance"
PM_ACCOUNT = "/papi/v1/account"
PM_INDEX_PRICES = "/sapi/v1/portfolio/asset-index-price"

#: USD stablecoins counted at 1 USD in open loss (the fake's own list; it imports no engine).
STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "DAI", "BFUSD", "USD1"})

#: The current body of a path (None when there is none, or its answer is an error).
BodyOf = Callable[[str], Any]

_SCRATCH_ASSET = (
    "walletBalance",
    "unrealizedProfit",
    "marginBalance",
    "maintMargin",
    "initialMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "crossWalletBalance",
    "crossUnPnl",
    "availableBalance",
    "maxWithdrawAmount",
)
_SCRATCH_BALANCE = ("balance", "crossWalletBalance", "crossUnPnl", "availableBalance")
_SCRATCH_PM = (
    "totalWalletBalance",
    "crossMarginAsset",
    "crossMarginBorrowed",
    "crossMarginFree",
    "crossMarginInterest",
    "crossMarginLocked",
    "umWalletBalance",
    "umUnrealizedPNL",
    "cmWalletBalance",
    "cmUnrealizedPNL",
    "negativeBalance",
)


def _blank(rows: list[Any], asset: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """A new row for `asset`: another row's copy with its numbers zeroed (or `fields` at 0)."""
    template = next((r for r in rows if isinstance(r, dict)), None)
    if template is None:
        row: dict[str, Any] = {"asset": asset, **dict.fromkeys(fields, ZERO), "updateTime": 0}
        return row
    row = copy.deepcopy(template)
    for key, value in row.items():
        if isinstance(value, str) and key != "asset" and dec(value) is not None:
            row[key] = ZERO
    row["asset"] = asset
    return row


def asset_row(
    rows: list[Any], asset: str, fields: tuple[str, ...], create: bool = True
) -> dict[str, Any] | None:
    """The row of `asset` in `rows` (appended when missing and `create`)."""
    for row in rows:
        if isinstance(row, dict) and row.get("asset") == asset:
            return row
    if not create:
        return None
    row = _blank(rows, asset, fields)
    rows.append(row)
    return row


def _stamp(row: dict[str, Any], t: int | None) -> None:
    if t is not None and "updateTime" in row:
        row["updateTime"] = t


def set_futures_wallet(
    body_of: BodyOf, product: str, asset: str, wb: str, cw: str, t: int | None
) -> int:
    """USDⓈ-M / COIN-M `B[]` entry → account `assets[]` and balance rows; rows touched."""
    accounts, balances = (
        (CM_ACCOUNTS, CM_BALANCES) if product == "CM" else (UM_ACCOUNTS, UM_BALANCES)
    )
    touched = 0
    for path in accounts:
        body = body_of(path)
        rows = body.get("assets") if isinstance(body, dict) else None
        if isinstance(rows, list):
            row = asset_row(rows, asset, _SCRATCH_ASSET)
            assert row is not None
            row["walletBalance"] = wb
            row["crossWalletBalance"] = cw
            _stamp(row, t)
            touched += 1
    for path in balances:
        rows = body_of(path)
        if isinstance(rows, list):
            row = asset_row(rows, asset, _SCRATCH_BALANCE)
            assert row is not None
            row["balance"] = wb
            row["crossWalletBalance"] = cw
            _stamp(row, t)
            touched += 1
    return touched


def pm_row(body_of: BodyOf, asset: str, t: int | None) -> dict[str, Any] | None:
    """The `/papi/v1/balance` row of `asset` (created when missing; None without the body)."""
    rows = body_of(PM_BALANCE)
    if not isinstance(rows, list):
        return None
    row = asset_row(rows, asset, _SCRATCH_PM)
    assert row is not None
    _stamp(row, t)
    return row


def _shift(row: dict[str, Any], key: str, delta: Decimal) -> None:
    old = dec(row.get(key))
    if old is not None and delta:
        row[key] = fmt_dec(old + delta)


def set_pm_wallet(row: dict[str, Any], product: str, wb: str) -> None:
    key = "cmWalletBalance" if product == "CM" else "umWalletBalance"
    new = dec(wb)
    if new is None:
        raise ValueError(f"wallet balance {wb!r} is not a number")
    delta = new - (dec(row.get(key)) or Decimal(0))
    row[key] = wb
    _shift(row, "totalWalletBalance", delta)


def set_margin_balance(row: dict[str, Any], free: str, locked: str) -> None:
    f, lk = dec(free), dec(locked)
    if f is None or lk is None:
        raise ValueError(f"margin balance {free!r}/{locked!r} is not a number")
    old = (dec(row.get("crossMarginFree")) or Decimal(0)) + (
        dec(row.get("crossMarginLocked")) or Decimal(0)
    )
    row["crossMarginFree"] = free
    row["crossMarginLocked"] = locked
    delta = f + lk - old
    _shift(row, "crossMarginAsset", delta)
    _shift(row, "totalWalletBalance", delta)


def add_margin_free(row: dict[str, Any], delta_text: str) -> None:
    delta = dec(delta_text)
    if delta is None:
        raise ValueError(f"balance delta {delta_text!r} is not a number")
    row["crossMarginFree"] = fmt_dec((dec(row.get("crossMarginFree")) or Decimal(0)) + delta)
    _shift(row, "crossMarginAsset", delta)
    _shift(row, "totalWalletBalance", delta)


def set_liability(row: dict[str, Any], kind: str, interest_text: str, total_text: str) -> None:
    """Apply a `liabilityChange` (`t` = kind, `i`, `l`) to a `/papi/v1/balance` row."""
    paid, total = dec(interest_text), dec(total_text)
    if paid is None or total is None:
        raise ValueError(f"liability {interest_text!r}/{total_text!r} is not a number")
    before = dec(row.get("crossMarginInterest")) or Decimal(0)
    if kind.upper() == "REPAY":
        interest = before - paid
    elif kind.upper() == "INTEREST":
        interest = before + paid
    else:
        interest = before
    interest = min(max(interest, Decimal(0)), max(total, Decimal(0)))
    row["crossMarginBorrowed"] = fmt_dec(total - interest)
    row["crossMarginInterest"] = fmt_dec(interest)


def open_loss_usd(items: list[Any], body_of: BodyOf) -> Decimal | None:
    """Σ|o| in USD of an `openOrderLoss` `O[]` (the complete current list, as documented).

    Stablecoins count at 1 USD; other assets at their `/sapi/v1/portfolio/asset-index-price`.
    None when an asset has no price (the total is then left as it was)."""
    prices: dict[str, Decimal] = {}
    index = body_of(PM_INDEX_PRICES)
    if isinstance(index, list):
        for row in index:
            if isinstance(row, dict) and isinstance(row.get("asset"), str):
                price = dec(row.get("assetIndexPrice"))
                if price is not None:
                    prices[row["asset"]] = price
    total = Decimal(0)
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("openOrderLoss entry is not an object")
        asset, amount = item.get("a"), dec(item.get("o"))
        if not isinstance(asset, str) or amount is None:
            raise ValueError(f"openOrderLoss entry {item!r} is malformed")
        price = Decimal(1) if asset in STABLECOINS else prices.get(asset)
        if price is None:
            return None
        total += abs(amount) * price
    return total
