"""Translate user-stream events into engine events and service signals.

`translate` maps one decoded event (`schemas.UserEvent`) to a `Translation`: the engine events
to apply to the book, in order, and the signals the service acts on (alert on an exchange margin
call, resnapshot after a mode change, refresh the PM open loss, renew the listenKey). Events are
deltas (`ACCOUNT_UPDATE` carries only the assets and symbols that changed); the initial state
always comes from a REST snapshot (`snapshot.py`). `translate_frame` decodes and translates one
frame, turning an unknown event type into a counted `UnknownUserEvent` signal.

Shapes not confirmed from Binance's docs or captures are counted as unknown, never guessed:
PM `uniMMRDrop` (a 2026 change-log entry; no payload example was found) is an unknown event, and
the parts of an `ACCOUNT_UPDATE` the engine has no place for — legs of options symbols (the
`OPTIONS_PREMIUM_FEE` / `OPTIONS_SETTLE_PROFIT` reasons) and PM business units other than UM/CM
— are skipped and counted, while the rest of the message (the futures wallets) still applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.binance.decode.snapshot import status_text
from monitor.binance.schemas.common import UnknownEvent
from monitor.binance.schemas.dispatch import parse_user_event
from monitor.binance.schemas.user_stream import (
    BinanceAccountConfigUpdateMsg,
    BinanceBalanceUpdateMsg,
    BinanceFuturesAccountUpdateMsg,
    BinanceFuturesOrderUpdateMsg,
    BinanceLiabilityChangeMsg,
    BinanceListenKeyExpiredMsg,
    BinanceMarginCallMsg,
    BinanceOpenOrderLossMsg,
    BinanceOutboundAccountPositionMsg,
    BinanceRiskLevelChangeMsg,
    BinanceTradeLiteMsg,
    UserEvent,
)
from monitor.engine.contracts import signed_qty
from monitor.engine.events import (
    AccountStatus,
    EngineEvent,
    FuturesWallet,
    MarginBalance,
    MarginLiability,
    PositionUpdate,
)
from monitor.engine.model import Mode

#: Events Binance documents that change nothing the monitor computes (not counted as unknown).
IGNORED_EVENTS = frozenset(
    {
        "ALGO_UPDATE",
        "STRATEGY_UPDATE",
        "GRID_UPDATE",
        "CONDITIONAL_ORDER_TRADE_UPDATE",
        "CONDITIONAL_ORDER_TRIGGER_REJECT",
        "executionReport",
    }
)


#: PM business units (`fs`) whose wallets and legs the engine keeps.
FUTURES_UNITS = frozenset({"UM", "CM"})


@dataclass(frozen=True, slots=True)
class ExchangeSignal:
    """The exchange itself warned: `MARGIN_CALL` or PM `riskLevelChange` (alert on it)."""

    kind: str
    detail: str
    event_time: int


@dataclass(frozen=True, slots=True)
class ResnapshotNeeded:
    """The account changed in a way deltas cannot express (e.g. Multi-Assets mode toggled)."""

    reason: str
    event_time: int


@dataclass(frozen=True, slots=True)
class OpenLossRefresh:
    """PM open orders changed: re-read `totalMarginOpenLoss` from `/papi/v1/account`."""

    event_time: int


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    """The listenKey expired: nothing more arrives on this stream until a new key is used."""

    event_time: int


@dataclass(frozen=True, slots=True)
class UnknownUserEvent:
    """An event type without a schema (counted; the frame is otherwise ignored)."""

    name: str
    event_time: int | None


ServiceSignal = (
    ExchangeSignal | ResnapshotNeeded | OpenLossRefresh | ListenKeyExpired | UnknownUserEvent
)


@dataclass(frozen=True, slots=True)
class Translation:
    """What one user event means: engine events (apply in order) and service signals.
    `event_time` is the event's `E`, by which updates are ordered (`feed/ordering.py`)."""

    events: tuple[EngineEvent, ...] = ()
    signals: tuple[ServiceSignal, ...] = ()
    event_time: int | None = None


NOTHING = Translation()


def translate(event: UserEvent, mode: Mode) -> Translation:
    """The engine events and service signals of one decoded user event in account `mode`."""
    handler: Callable[[Any, Mode], Translation] = _HANDLERS[type(event)]
    out = handler(event, mode)
    if not out.events:
        return out
    return Translation(out.events, out.signals, event.E)


def translate_frame(obj: object, mode: Mode) -> Translation:
    """Decode (`parse_user_event`) and translate one user-stream frame's JSON value.

    Unknown event types become an `UnknownUserEvent` signal; documented events the monitor does
    not need translate to nothing. Malformed events raise `WireError`.
    """
    try:
        event = parse_user_event(obj)
    except UnknownEvent as exc:
        if exc.name in IGNORED_EVENTS:
            return NOTHING
        return Translation(signals=(UnknownUserEvent(exc.name, _event_time(obj)),))
    return translate(event, mode)


def _event_time(obj: object) -> int | None:
    if isinstance(obj, dict) and "data" in obj and "stream" in obj:
        obj = obj["data"]
    value = obj.get("E") if isinstance(obj, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


# ------------------------------------------------------------------ per event type
def _account_update(msg: BinanceFuturesAccountUpdateMsg, mode: Mode) -> Translation:
    """`B[]` → `FuturesWallet`, `P[]` → `PositionUpdate` (qty 0 closes the leg).

    Futures modes use `cw`, the cross wallet: isolated wallets travel per position (`iw`), and
    the REST snapshot also reads `crossWalletBalance`. Portfolio Margin uses `wb`: PM futures are
    cross only (no `mt`/`iw`, so `wb` is the whole futures wallet), and `wb` is what
    `/papi/v1/balance` reports as `umWalletBalance`/`cmWalletBalance` — the futuresAsset term of
    margin-math §5.2 the snapshot loads — so a delta replaces the same figure the snapshot set.
    `fs` ("UM"/"CM") picks the PM wallet; in futures modes the product follows the mode.
    """
    portfolio = mode is Mode.PORTFOLIO_MARGIN
    product = (msg.fs or "UM") if portfolio else ("CM" if mode is Mode.COINM else "UM")
    skipped: list[str] = []
    events: list[EngineEvent] = []
    if product in FUTURES_UNITS:
        events += [FuturesWallet(b.a, b.wb if portfolio else b.cw, product) for b in msg.a.B]
    else:  # a business unit whose wallet the engine does not keep: never a UM/CM wallet
        skipped.append(f"ACCOUNT_UPDATE fs={product}")
    for p in msg.a.P:
        if is_option_symbol(p.s):  # options legs (options reasons): not futures legs
            skipped.append("ACCOUNT_UPDATE option leg")
            continue
        if product not in FUTURES_UNITS:
            continue
        isolated = not portfolio and p.mt.lower() == "isolated"
        events.append(
            PositionUpdate(
                p.s, p.ps, signed_qty(p.ps, p.pa), p.ep, isolated, p.iw if isolated else 0.0
            )
        )
    signals = tuple(UnknownUserEvent(name, msg.E) for name in dict.fromkeys(skipped))
    return Translation(events=tuple(events), signals=signals)


def is_option_symbol(symbol: str) -> bool:
    """A Binance options symbol (`BTC-250328-100000-C`): base, expiry, strike, C or P."""
    parts = symbol.split("-")
    return len(parts) == 4 and parts[1].isdigit() and parts[3] in ("C", "P")


def _order_update(
    msg: BinanceFuturesOrderUpdateMsg | BinanceTradeLiteMsg, mode: Mode
) -> Translation:
    """Fills and orders change positions via `ACCOUNT_UPDATE`; in PM they may move open loss."""
    if mode is Mode.PORTFOLIO_MARGIN:
        return Translation(signals=(OpenLossRefresh(msg.E),))
    return NOTHING


def _margin_call(msg: BinanceMarginCallMsg, mode: Mode) -> Translation:
    legs = ", ".join(f"{p.s} {p.ps} mm {p.mm:g} mark {p.mp:g}" for p in msg.p)
    wallet = "" if msg.cw is None else f"cross wallet {msg.cw:g}; "
    detail = f"{wallet}{legs or 'no positions listed'}"
    return Translation(
        events=(AccountStatus("MARGIN_CALL"),),
        signals=(ExchangeSignal("MARGIN_CALL", detail, msg.E),),
    )


def _risk_level(msg: BinanceRiskLevelChangeMsg, mode: Mode) -> Translation:
    detail = f"uniMMR {msg.u:g}, equity {msg.eq:g} USD, maintenance margin {msg.m:g} USD"
    return Translation(
        events=(AccountStatus(status_text(msg.s)),),
        signals=(ExchangeSignal(msg.s, detail, msg.E),),
    )


def _config_update(msg: BinanceAccountConfigUpdateMsg, mode: Mode) -> Translation:
    """Leverage (`ac`) does not change maintenance margin; a Multi-Assets toggle changes mode."""
    if msg.ai is None:
        return NOTHING
    state = "on" if msg.ai.j else "off"
    return Translation(signals=(ResnapshotNeeded(f"Multi-Assets mode switched {state}", msg.E),))


def _listen_key_expired(msg: BinanceListenKeyExpiredMsg, mode: Mode) -> Translation:
    return Translation(signals=(ListenKeyExpired(msg.E),))


def _outbound_position(msg: BinanceOutboundAccountPositionMsg, mode: Mode) -> Translation:
    return Translation(events=tuple(MarginBalance(b.a, b.f, b.l) for b in msg.B))


def _liability(msg: BinanceLiabilityChangeMsg, mode: Mode) -> Translation:
    """`l` is the liability left after the change; `p`/`i` are this transaction's amounts."""
    return Translation(events=(MarginLiability(msg.a, msg.l, msg.i, msg.t),))


def _balance_update(msg: BinanceBalanceUpdateMsg, mode: Mode) -> Translation:
    """A delta; the absolute balance follows in `outboundAccountPosition`, which is applied."""
    return NOTHING


def _open_order_loss(msg: BinanceOpenOrderLossMsg, mode: Mode) -> Translation:
    """Per-asset amounts need conversion; the USD total is re-read from `/papi/v1/account`."""
    return Translation(signals=(OpenLossRefresh(msg.E),))


_HANDLERS: dict[type, Callable[[Any, Mode], Translation]] = {
    BinanceFuturesAccountUpdateMsg: _account_update,
    BinanceFuturesOrderUpdateMsg: _order_update,
    BinanceTradeLiteMsg: _order_update,
    BinanceMarginCallMsg: _margin_call,
    BinanceRiskLevelChangeMsg: _risk_level,
    BinanceAccountConfigUpdateMsg: _config_update,
    BinanceListenKeyExpiredMsg: _listen_key_expired,
    BinanceOutboundAccountPositionMsg: _outbound_position,
    BinanceLiabilityChangeMsg: _liability,
    BinanceBalanceUpdateMsg: _balance_update,
    BinanceOpenOrderLossMsg: _open_order_loss,
}
