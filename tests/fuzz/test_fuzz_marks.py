"""Fuzzing the market-frame decoders (`monitor.binance.decode.marks`): `MarkDecoder.decode`,
`.decode_asset_index`, `classify` and `decode_index_prices` on arbitrary text and on mutated real
frames (the samples and every bundled recording's market frames).

The contract: the only exception is `WireError` (the caller counts it and changes nothing), and
whatever decodes is a held symbol or asset with a plausible price or rate. Generated valid
frames, in every layout Binance uses, decode to exactly the prices that were sent. The tests at
the end pin inputs that once escaped as another exception type.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import examples
from monitor.binance.decode.marks import FrameKind, MarkDecoder, classify, decode_index_prices
from monitor.binance.schemas.common import WireError
from monitor.engine.events import AssetRates
from tests.fuzz import FUZZ, compact, frames_from, sample, sample_names, ws_texts

MARKET_SAMPLES = [
    *sample_names("markPrice", "combined_stream_markPrice", "assetIndex_arr", "indexPrice"),
    "ws_subscribe_response.json",
    "miniTicker_arr_cm.json",
]


def _market_texts() -> list[str]:
    texts = [compact(sample(name)) for name in MARKET_SAMPLES]
    for name in examples.NAMES:
        texts += ws_texts(name, "market")[:40]
    return texts


TEXTS = _market_texts()


def _symbols(texts: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Every symbol of the base frames, and the assets of their `<asset>USD` index symbols."""
    symbols: set[str] = set()
    for text in texts:
        value: Any = json.loads(text)
        if isinstance(value, dict) and "data" in value:
            value = value["data"]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("s"), str):
                symbols.add(item["s"])
    assets = {s.removesuffix("USD") for s in symbols if s.endswith("USD")}
    return frozenset(symbols), frozenset(assets | {"USDT", "BTC"})


SYMBOLS, ASSETS = _symbols(TEXTS)
DECODERS = st.sampled_from(
    [
        MarkDecoder(SYMBOLS, ASSETS),
        MarkDecoder(sorted(SYMBOLS)[::2], sorted(ASSETS)[1::2]),
        MarkDecoder(["BTCUSDT"], ["USDT"]),
        MarkDecoder(),
    ]
)


def _positive_finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0.0


def check_market_frame(decoder: MarkDecoder, text: str) -> int:
    """Run every market decoder on `text`; return how many rejected it (raised `WireError`).

    Anything but `WireError` escapes to the test and fails it; every decoded value is checked.
    """
    rejected = 0
    try:
        kind = classify(text)
        assert isinstance(kind, FrameKind)
    except WireError:
        rejected += 1
    try:
        for symbol, price in decoder.decode(text):
            assert symbol in decoder.symbols
            assert _positive_finite(price), (symbol, price)
    except WireError:
        rejected += 1
    try:
        for rates in decoder.decode_asset_index(text):
            assert isinstance(rates, AssetRates) and rates.asset in decoder.assets
            assert _positive_finite(rates.bid_rate) and _positive_finite(rates.ask_rate), rates
    except WireError:
        rejected += 1
    try:
        for pair, index in decode_index_prices(text):
            assert isinstance(pair, str)
            assert _positive_finite(index), (pair, index)
    except WireError:
        rejected += 1
    return rejected


@FUZZ
@given(decoder=DECODERS, text=frames_from(TEXTS))
def test_mutated_market_frames_decode_or_raise_wire_error(decoder: MarkDecoder, text: str) -> None:
    check_market_frame(decoder, text)


@FUZZ
@given(decoder=DECODERS, text=st.text(max_size=200))
def test_arbitrary_text_decodes_or_raises_wire_error(decoder: MarkDecoder, text: str) -> None:
    check_market_frame(decoder, text)


@FUZZ
@given(decoder=DECODERS, text=st.text(alphabet='{}[]":,.0123456789eEps-\\ aNI', max_size=80))
def test_json_like_noise_decodes_or_raises_wire_error(decoder: MarkDecoder, text: str) -> None:
    check_market_frame(decoder, text)


# ------------------------------------------------------------------ valid frames, every layout
#: Positive decimal strings as Binance writes prices (8 decimals), 0.00000001 to 10^7.
PRICES = st.integers(1, 10**15).map(lambda n: f"{n // 10**8}.{n % 10**8:08d}")
NAMES = st.sampled_from(["BTCUSDT", "ETHUSDT", "BTCUSD_PERP", "BTCUSD_260925", "SOLUSDT", "X"])


@st.composite
def mark_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "e": "markPriceUpdate",
        "E": draw(st.integers(0, 2**53)),
        "s": draw(NAMES),
        "p": draw(PRICES),
        "i": draw(PRICES),
        "P": draw(PRICES),
        "r": draw(st.sampled_from(["", "0.00010000", "-0.00030000"])),
        "T": draw(st.integers(0, 2**53)),
    }
    if draw(st.booleans()):
        event["st"] = draw(st.sampled_from([1, 2]))
    keys = draw(st.permutations(list(event)))
    return {key: event[key] for key in keys}


def _layout(events: list[dict[str, Any]], data: st.DataObject) -> tuple[str, list[dict[str, Any]]]:
    """A raw object (the first event), an array, or the combined-stream wrapper around either;
    compact or spaced (the slow path). Returns the text and the events it carries."""
    shape = data.draw(st.sampled_from(["raw", "array", "wrapped", "wrapped_array"]))
    value: Any = events if "array" in shape else events[0]
    carried = events if "array" in shape else events[:1]
    if shape.startswith("wrapped"):
        value = {"stream": "!markPrice@arr@1s", "data": value}
    if data.draw(st.booleans()):
        return json.dumps(value, indent=data.draw(st.sampled_from([None, 1]))), carried
    return compact(value), carried


@FUZZ
@given(
    held=st.frozensets(NAMES, max_size=4),
    events=st.lists(mark_events(), min_size=1, max_size=5, unique_by=lambda e: e["s"]),
    data=st.data(),
)
def test_valid_mark_frames_decode_to_the_prices_sent(
    held: frozenset[str], events: list[dict[str, Any]], data: st.DataObject
) -> None:
    text, carried = _layout(events, data)
    expected = sorted((e["s"], float(e["p"])) for e in carried if e["s"] in held)
    assert sorted(MarkDecoder(held).decode(text)) == expected
    assert classify(text) is FrameKind.MARK


@st.composite
def asset_events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "e": "assetIndexUpdate",
        "E": draw(st.integers(0, 2**53)),
        "s": draw(st.sampled_from(["BTCUSD", "USDTUSD", "ETHUSD", "BNBUSD", "ADAUSD"])),
        "i": draw(PRICES),
        "b": "0.10000000",
        "a": "0.10000000",
        "B": draw(PRICES),
        "A": draw(PRICES),
        "q": "0.05000000",
        "g": "0.05000000",
        "Q": draw(PRICES),
        "G": draw(PRICES),
    }


@FUZZ
@given(
    held=st.frozensets(st.sampled_from(["BTC", "USDT", "ETH", "BNB", "ADA", "SOL"]), max_size=4),
    events=st.lists(asset_events(), min_size=1, max_size=5, unique_by=lambda e: e["s"]),
    spaced=st.booleans(),
)
def test_valid_asset_index_frames_decode_to_the_rates_sent(
    held: frozenset[str], events: list[dict[str, Any]], spaced: bool
) -> None:
    text = json.dumps(events, indent=1) if spaced else compact(events)
    decoder = MarkDecoder((), held)
    expected = sorted(
        (e["s"][:-3], float(e["B"]), float(e["A"])) for e in events if e["s"][:-3] in held
    )
    decoded = sorted((r.asset, r.bid_rate, r.ask_rate) for r in decoder.decode_asset_index(text))
    assert decoded == expected
    assert classify(text) is FrameKind.ASSET_INDEX


# ---------------------------------------------------- regressions: escapes fuzzing found (fixed)
HELD = MarkDecoder(["BTCUSDT"], ["BTC"])
HUGE = "1" + "0" * 400  # a JSON integer beyond float range


@pytest.mark.parametrize(
    "text",
    [
        '{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":' + HUGE + "}",
        '[{"e":"assetIndexUpdate","E":1,"s":"BTCUSD","i":"1","B":' + HUGE + ',"A":"1"}]',
    ],
    ids=["mark-price", "asset-index-bid"],
)
def test_a_price_beyond_float_range_is_a_wire_error(text: str) -> None:
    check_market_frame(HELD, text)


@pytest.mark.parametrize(
    "text",
    [
        '{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":' + "9" * 5000 + "}",
        '{"e":"indexPriceUpdate","E":1,"i":"BTCUSD","p":' + "9" * 5000 + "}",
    ],
    ids=["mark-price", "index-price"],
)
def test_an_integer_over_4300_digits_is_a_wire_error(text: str) -> None:
    check_market_frame(HELD, text)


def test_a_deeply_nested_frame_is_a_wire_error() -> None:
    check_market_frame(HELD, "[" * 10_000 + "]" * 10_000)


def test_fixtures_cover_every_market_layout() -> None:
    """The fuzz bases include raw, array, combined and COIN-M pair frames, and the recordings."""
    assert len(TEXTS) > 100
    kinds = {classify(text) for text in TEXTS}
    assert {FrameKind.MARK, FrameKind.ASSET_INDEX, FrameKind.INDEX_PRICE, FrameKind.ACK} <= kinds
    assert {"BTCUSDT", "BTCUSD_PERP", "BTCUSD_201225"} <= SYMBOLS
