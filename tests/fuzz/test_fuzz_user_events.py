"""Fuzzing `monitor.binance.decode.user_events.translate_frame` in every margin mode with mutated
samples of every user event (account_update*, order_trade_update*, trade_lite*, margin_call*,
account_config_update*, listen_key_expired*, pm_*) and the bundled recordings' user frames.

The contract: `WireError` is the only exception; a translation carries only engine events and
service signals, every number in them finite; the frame object is not modified. Generated
`ACCOUNT_UPDATE` deltas translate to exactly the wallets and legs they carry.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.binance.decode.user_events import (
    ExchangeSignal,
    ListenKeyExpired,
    OpenLossRefresh,
    ResnapshotNeeded,
    Translation,
    UnknownUserEvent,
    translate_frame,
)
from monitor.binance.schemas.common import WireError
from monitor.engine import events as ev
from monitor.engine.model import Mode
from tests.fuzz import FUZZ, compact, frames_from, mutate_json, sample, sample_names, ws_texts

USER_SAMPLES = sample_names(
    "account_update",
    "order_trade_update",
    "trade_lite",
    "margin_call",
    "account_config_update",
    "listen_key_expired",
    "pm_",
)
BASES: list[Any] = [sample(name) for name in USER_SAMPLES]
for _name in ("usdm", "portfolio_margin"):
    BASES += [json.loads(text) for text in ws_texts(_name, "user")]
TEXTS = [compact(base) for base in BASES]

ENGINE_EVENTS = (
    ev.FuturesWallet,
    ev.PositionUpdate,
    ev.MarginBalance,
    ev.MarginLiability,
    ev.AccountStatus,
)
SIGNALS = (ExchangeSignal, ResnapshotNeeded, OpenLossRefresh, ListenKeyExpired, UnknownUserEvent)


def check_translation(obj: Any, mode: Mode) -> Translation | None:
    """`translate_frame(obj, mode)`; None when it raised `WireError` (anything else escapes)."""
    before = repr(obj)
    try:
        out = translate_frame(obj, mode)
    except WireError:
        out = None
    assert repr(obj) == before, "translate_frame modified the frame"
    if out is None:
        return None
    assert isinstance(out, Translation)
    for event in out.events:
        assert isinstance(event, ENGINE_EVENTS), event
        for value in dataclasses.astuple(event):
            assert not isinstance(value, float) or math.isfinite(value), event
    for signal in out.signals:
        assert isinstance(signal, SIGNALS), signal
        if isinstance(signal, UnknownUserEvent):
            assert signal.event_time is None or isinstance(signal.event_time, int)
    return out


def test_every_user_sample_translates_in_its_product_modes() -> None:
    """The unmutated bases are valid: none is rejected, in any mode."""
    assert len(USER_SAMPLES) >= 20
    for base in BASES:
        for mode in Mode:
            assert check_translation(base, mode) is not None, (base, mode)


@FUZZ
@given(mode=st.sampled_from(list(Mode)), base=st.sampled_from(BASES), data=st.data())
def test_mutated_user_events_translate_or_raise_wire_error(
    mode: Mode, base: Any, data: st.DataObject
) -> None:
    check_translation(mutate_json(base, data), mode)


@FUZZ
@given(mode=st.sampled_from(list(Mode)), text=frames_from(TEXTS))
def test_mutated_user_frames_translate_or_raise_wire_error(mode: Mode, text: str) -> None:
    try:
        obj = json.loads(text)
    except ValueError:
        return  # not JSON: the replay counts it before translate_frame (test_fuzz_replay)
    check_translation(obj, mode)


# ------------------------------------------------------------------ ACCOUNT_UPDATE oracle
DECIMALS = st.integers(-(10**15), 10**15).map(lambda n: f"{n / 1e8:.8f}")


@st.composite
def balances(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "a": draw(st.sampled_from(["USDT", "USDC", "BTC", "BNB", "FDUSD"])),
        "wb": draw(DECIMALS),
        "cw": draw(DECIMALS),
        "bc": draw(DECIMALS),
    }


@st.composite
def legs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "s": draw(st.sampled_from(["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"])),
        "pa": draw(DECIMALS),
        "ep": draw(DECIMALS),
        "bep": "0",
        "cr": "0",
        "up": draw(DECIMALS),
        "mt": draw(st.sampled_from(["cross", "isolated", "ISOLATED"])),
        "iw": draw(DECIMALS),
        "ps": draw(st.sampled_from(["BOTH", "LONG", "SHORT"])),
    }


@FUZZ
@given(
    mode=st.sampled_from(list(Mode)),
    wallets=st.lists(balances(), max_size=4),
    positions=st.lists(legs(), max_size=4),
    fs=st.sampled_from([None, "UM", "CM"]),
)
def test_account_update_translates_to_the_wallets_and_legs_it_carries(
    mode: Mode, wallets: list[dict[str, Any]], positions: list[dict[str, Any]], fs: str | None
) -> None:
    frame: dict[str, Any] = {
        "e": "ACCOUNT_UPDATE",
        "E": 1,
        "T": 1,
        "a": {"m": "ORDER", "B": wallets, "P": positions},
    }
    if fs is not None:
        frame["fs"] = fs
    out = check_translation(frame, mode)
    assert out is not None and not out.signals
    pm = mode is Mode.PORTFOLIO_MARGIN
    product = (fs or "UM") if pm else ("CM" if mode is Mode.COINM else "UM")
    expected: list[ev.EngineEvent] = [
        ev.FuturesWallet(b["a"], float(b["wb"] if pm else b["cw"]), product) for b in wallets
    ]
    for p in positions:
        amount = float(p["pa"])
        qty = {"LONG": abs(amount), "SHORT": -abs(amount)}.get(p["ps"], amount)
        isolated = not pm and p["mt"].lower() == "isolated"
        wallet = float(p["iw"]) if isolated else 0.0
        expected.append(ev.PositionUpdate(p["s"], p["ps"], qty, float(p["ep"]), isolated, wallet))
    assert list(out.events) == expected


# ---------------------------------------------------- regressions: escapes fuzzing found (fixed)
@pytest.mark.parametrize("when", ["\u00b2", "\u2460", "1\u00b2"])
def test_unknown_event_with_a_unicode_digit_time_is_counted_not_raised(when: str) -> None:
    out = check_translation({"e": "SOMETHING_NEW", "E": when}, Mode.USDM)
    assert out is not None and out.signals == (UnknownUserEvent("SOMETHING_NEW", None),)
