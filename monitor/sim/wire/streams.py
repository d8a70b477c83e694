"""Binance stream frames, built: market data (wire.md §1–§2) and user events (wire.md §3).

Market: `mark_frame` (one `markPriceUpdate`, §1.2/§1.3; `st` since 2026-06), `mark_text` (the
same in the combined wrapper as compact text, for the hot loops of the benchmarks),
`asset_index_update` (`!assetIndex@arr`, §2), `combined` (the `{"stream", "data"}` wrapper, §1.1).

User (USDⓈ-M / COIN-M, §3.3–§3.4): `account_update` (`ACCOUNT_UPDATE` with `B[]` from
`wallet_entry` and `P[]` from `position_entry`), `order` / `filled` / `order_trade_update`
(`ORDER_TRADE_UPDATE`), `trade_lite` (`TRADE_LITE`), `listen_key_expired` (per product).
Portfolio Margin (§3.5): `pm_account_update` (with `fs` UM/CM), `outbound_account_position`,
`balance_update`, `liability_change` (`l` is the total liability after the change),
`open_order_loss`, `risk_level_change`. Decimal strings as Binance sends them; key order as in
Binance's examples.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from monitor.sim.wire.decimals import f8, fq

JSON = dict[str, Any]


# ---------------------------------------------------------------------------------- market
def mark_frame(
    event_time: int,
    symbol: str,
    mark: Decimal,
    index: Decimal,
    rate: str,
    next_funding: int,
    st: int | None = None,
    extra: JSON | None = None,
) -> JSON:
    """One `markPriceUpdate` object as Binance sends it (decimal strings; `st` since 2026-06)."""
    body: JSON = {
        "e": "markPriceUpdate",
        "E": event_time,
        "s": symbol,
        "p": f8(mark),
        "P": f8(index),
        "i": f8(index),
        "r": rate,
        "T": next_funding,
    }
    if st is not None:
        body["st"] = st
    if extra:
        body.update(extra)
    return body


def combined(stream: str, data: Any) -> JSON:
    """A combined-stream frame: `{"stream": <name>, "data": <payload>}` (wire.md §1.1)."""
    return {"stream": stream, "data": data}


_MARK_TEXT = (
    '{"stream":"%s@markPrice@1s","data":{"e":"markPriceUpdate","E":%d,"s":"%s",'
    '"p":"%.8f","P":"%.8f","i":"%.8f","r":"0.00010000","T":%d,"st":1}}'
)


def mark_text(symbol: str, price: float, t: int) -> str:
    """One `<symbol>@markPrice@1s` frame, compact text, in the combined-stream wrapper (index
    0.01 % below the mark, next funding an hour on)."""
    return _MARK_TEXT % (
        symbol.lower(),
        t,
        symbol,
        price,
        price * 1.0001,
        price * 0.9999,
        t + 3_600_000,
    )


def asset_index_update(event_time: int, symbol: str, rates: tuple[str, str, str, str, str]) -> JSON:
    """One `assetIndexUpdate` of `!assetIndex@arr`; `rates` = (index, bidBuffer, askBuffer,
    bidRate, askRate) as sent; the auto-exchange buffers are 2.5 %."""
    index, bid_buffer, ask_buffer, bid, ask = rates
    return {
        "e": "assetIndexUpdate",
        "E": event_time,
        "s": symbol,
        "i": index,
        "b": bid_buffer,
        "a": ask_buffer,
        "B": bid,
        "A": ask,
        "q": "0.02500000",
        "g": "0.02500000",
        "Q": f8(Decimal(index) * Decimal("0.975")),
        "G": f8(Decimal(index) * Decimal("1.025")),
    }


# ---------------------------------------------------------------------------------- futures user
def wallet_entry(asset: str, wallet: str, cross: str) -> JSON:
    """One `B[]` entry of `ACCOUNT_UPDATE`: wallet and cross wallet balance."""
    return {"a": asset, "wb": wallet, "cw": cross, "bc": "0"}


def position_entry(
    symbol: str,
    amount: str,
    entry: str,
    break_even: str,
    upnl: str,
    margin_type: str,
    isolated_wallet: str,
    side: str,
) -> JSON:
    """One `P[]` entry of `ACCOUNT_UPDATE` (absolute values, not deltas: wire.md §6.2)."""
    return {
        "s": symbol,
        "pa": amount,
        "ep": entry,
        "bep": break_even,
        "cr": "0",
        "up": upnl,
        "mt": margin_type,
        "iw": isolated_wallet,
        "ps": side,
    }


def account_update(
    transaction_time: int,
    event_time: int,
    reason: str,
    wallets: list[JSON],
    positions: list[JSON],
    *,
    reason_first: bool = True,
) -> JSON:
    """A USDⓈ-M/COIN-M `ACCOUNT_UPDATE` (`reason_first` False: `m` after `B` and `P`, as some
    captures order it)."""
    inner: JSON = {"m": reason, "B": wallets, "P": positions}
    if not reason_first:
        inner = {"B": wallets, "P": positions, "m": reason}
    return {"e": "ACCOUNT_UPDATE", "T": transaction_time, "E": event_time, "a": inner}


def order(
    symbol: str,
    client_id: str,
    side: str,
    order_type: str,
    qty: str,
    price: str,
    order_id: int,
    placed: int,
    position_side: str,
    status: str = "NEW",
) -> JSON:
    """The `o` object of an `ORDER_TRADE_UPDATE` of an order without fills (NEW, CANCELED …)."""
    return {
        "s": symbol,
        "c": client_id,
        "S": side,
        "o": order_type,
        "f": "GTC",
        "q": qty,
        "p": price,
        "ap": "0",
        "sp": "0",
        "x": status,
        "X": status,
        "i": order_id,
        "l": "0",
        "z": "0",
        "L": "0",
        "n": "0",
        "N": "USDT",
        "T": placed,
        "t": 0,
        "b": "0",
        "a": "0",
        "m": False,
        "R": False,
        "wt": "CONTRACT_PRICE",
        "ot": order_type,
        "ps": position_side,
        "cp": False,
        "rp": "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
        "er": "0",
    }


def filled(
    placed: JSON, price: Decimal, qty: str, commission: Decimal, at: int, trade_id: int
) -> JSON:
    """`placed` (an `order`) filled completely at `price` in one trade."""
    return dict(
        placed,
        x="TRADE",
        X="FILLED",
        ap=fq(price, 5),
        l=qty,
        z=qty,
        L=fq(price, 2),
        n=f8(commission),
        T=at,
        t=trade_id,
    )


def order_trade_update(transaction_time: int, event_time: int, body: JSON) -> JSON:
    """An `ORDER_TRADE_UPDATE` carrying the order `body`."""
    return {"e": "ORDER_TRADE_UPDATE", "T": transaction_time, "E": event_time, "o": body}


def trade_lite(event_time: int, body: JSON, price: Decimal, trade_id: int) -> JSON:
    """The `TRADE_LITE` of the fill `body` (a `filled` order) at `price`, its whole quantity."""
    return {
        "e": "TRADE_LITE",
        "E": event_time,
        "T": body["T"],
        "s": body["s"],
        "q": body["q"],
        "p": "0.00",
        "m": False,
        "c": body["c"],
        "S": body["S"],
        "L": fq(price, 2),
        "l": body["q"],
        "t": trade_id,
        "i": body["i"],
    }


def listen_key_expired(product: str, key: str, server_ms: int) -> JSON:
    """`listenKeyExpired` as each product sends it: UM (`um`) string `E` + key, COIN-M (`cm`)
    number `E` + key, Portfolio Margin number `E` and no key (wire.md §3.3–§3.5, §6.6)."""
    if product == "um":
        return {"e": "listenKeyExpired", "E": str(server_ms), "listenKey": key}
    if product == "cm":
        return {"e": "listenKeyExpired", "E": server_ms, "listenKey": key}
    return {"e": "listenKeyExpired", "E": server_ms}


# ---------------------------------------------------------------------------------- PM user
def pm_account_update(
    fs: str, event_time: int, transaction_time: int, reason: str, wallets: list[JSON]
) -> JSON:
    """A Portfolio Margin `ACCOUNT_UPDATE`: `fs` UM or CM says which futures wallet moved."""
    return {
        "e": "ACCOUNT_UPDATE",
        "fs": fs,
        "E": event_time,
        "T": transaction_time,
        "i": "",
        "a": {"m": reason, "B": wallets, "P": []},
    }


def outbound_account_position(
    event_time: int, update_id: int, balances: list[tuple[str, str, str]], *, u: int | None = None
) -> JSON:
    """`outboundAccountPosition`: absolute cross-margin (asset, free, locked) balances."""
    return {
        "e": "outboundAccountPosition",
        "E": event_time,
        "u": event_time - 2 if u is None else u,
        "U": update_id,
        "B": [{"a": a, "f": free, "l": locked} for a, free, locked in balances],
    }


def balance_update(event_time: int, asset: str, delta: str, clear_time: int) -> JSON:
    """`balanceUpdate`: a cross-margin deposit/withdrawal delta `d`."""
    return {"e": "balanceUpdate", "E": event_time, "a": asset, "d": delta, "T": clear_time}


def liability_change(
    event_time: int,
    asset: str,
    kind: str,
    transaction_id: int,
    principal: str,
    interest: str,
    liability: str,
) -> JSON:
    """`liabilityChange`: `p`/`i` this transaction's principal and interest, `l` the total
    liability after it (margin-math.md §5.2)."""
    return {
        "e": "liabilityChange",
        "E": event_time,
        "a": asset,
        "t": kind,
        "T": transaction_id,
        "p": principal,
        "i": interest,
        "l": liability,
    }


def open_order_loss(event_time: int, losses: list[tuple[str, str]]) -> JSON:
    """`openOrderLoss`: the complete current list of (asset, open loss) — negative amounts."""
    return {"e": "openOrderLoss", "E": event_time, "O": [{"a": a, "o": o} for a, o in losses]}


def risk_level_change(
    event_time: int, uni_mmr: str, status: str, equity: str, actual: str, maint: str
) -> JSON:
    """`riskLevelChange` (uniMMR `u`, status `s`, equity `eq`, actual equity `ae`, MM `m`)."""
    return {
        "e": "riskLevelChange",
        "E": event_time,
        "u": uni_mmr,
        "s": status,
        "eq": equity,
        "ae": actual,
        "m": maint,
    }
