"""Tests for monitor/binance/decode/marks.py: the fast path, its fallback, and bad frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.binance.decode.marks import FrameKind, MarkDecoder, classify, decode_index_prices
from monitor.binance.schemas.common import WireError
from monitor.engine.events import AssetRates

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def text(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def mark(symbol: str, price: str, **extra: Any) -> dict[str, Any]:
    return {
        "e": "markPriceUpdate",
        "E": 1562305380000,
        "s": symbol,
        "p": price,
        "i": "1.0",
        "P": "1.0",
        "r": "0.0001",
        "T": 1562306400000,
        **extra,
    }


def test_samples_directory_is_present() -> None:
    assert SAMPLES.is_dir(), f"sample fixtures missing: {SAMPLES}"


# ---------------------------------------------------------------------------------- samples
@pytest.mark.parametrize(
    ("name", "held", "expected"),
    [
        ("markPrice_um.json", {"BTCUSDT"}, [("BTCUSDT", 11794.15)]),
        ("markPrice_um_with_st.json", {"BTCUSDT", "ETHUSDT"}, [("BTCUSDT", 11794.15)]),
        ("markPrice_arr_um.json", {"BTCUSDT"}, [("BTCUSDT", 11185.87786614)]),
        ("markPrice_cm.json", {"BTCUSD_201225"}, [("BTCUSD_201225", 10934.62615417)]),
        ("markPrice_pair_cm.json", {"BTCUSD_PERP"}, [("BTCUSD_PERP", 11012.31359011)]),
        (
            "combined_stream_markPrice_um.json",
            {"COINALPHAHBOT"},
            [("COINALPHAHBOT", 46353.99600757)],
        ),
        ("markPrice_um.json", {"ETHUSDT"}, []),
    ],
)
def test_samples_pretty_and_compact(
    name: str, held: set[str], expected: list[tuple[str, float]]
) -> None:
    decoder = MarkDecoder(held)
    raw = text(name)
    assert decoder.decode(raw) == expected  # pretty-printed: the json fallback
    assert decoder.decode(compact(json.loads(raw))) == expected  # compact: the fast path


def test_pair_array_with_both_symbols_held() -> None:
    decoder = MarkDecoder({"BTCUSD_PERP", "BTCUSD_201225"})
    found = decoder.decode(compact(json.loads(text("markPrice_pair_cm.json"))))
    assert sorted(found) == [("BTCUSD_201225", 10934.62615417), ("BTCUSD_PERP", 11012.31359011)]


def test_symbol_prefixes_do_not_match() -> None:
    frame = compact([mark("BTCUSD_PERP", "2"), mark("BTCUSD", "1"), mark("XBTCUSD", "3")])
    assert MarkDecoder({"BTCUSD"}).decode(frame) == [("BTCUSD", 1.0)]


def test_key_order_and_wrapper_of_array() -> None:
    obj = {"p": "5.5", "s": "ADAUSDT", "e": "markPriceUpdate", "E": 1}
    frame = compact({"stream": "!markPrice@arr@1s", "data": [mark("BTCUSDT", "1"), obj]})
    assert MarkDecoder({"ADAUSDT"}).decode(frame) == [("ADAUSDT", 5.5)]


def test_fallback_for_escapes_and_spacing() -> None:
    escaped = compact([{**mark("BTCUSDT", "7"), "note": 'a"}b'}])
    assert '\\"' in escaped
    assert MarkDecoder({"BTCUSDT"}).decode(escaped) == [("BTCUSDT", 7.0)]
    mixed = '{"e":"markPriceUpdate","s":"BTCUSDT","p": "8"}'
    assert MarkDecoder({"BTCUSDT"}).decode(mixed) == [("BTCUSDT", 8.0)]


def test_other_events_for_a_held_symbol_are_skipped() -> None:
    ticker = compact({"e": "24hrMiniTicker", "s": "BTCUSDT", "p": "1", "c": "2"})
    assert MarkDecoder({"BTCUSDT"}).decode(ticker) == []
    assert MarkDecoder({"BTCUSD_200626"}).decode(text("miniTicker_arr_cm.json")) == []


def test_symbols_are_settable() -> None:
    decoder = MarkDecoder()
    frame = compact([mark("BTCUSDT", "1"), mark("ETHUSDT", "2")])
    assert decoder.decode(frame) == []
    decoder.symbols = {"ETHUSDT"}
    assert decoder.symbols == frozenset({"ETHUSDT"})
    assert decoder.decode(frame) == [("ETHUSDT", 2.0)]


def test_numeric_price_in_fallback() -> None:
    frame = compact(mark("BTCUSDT", "1") | {"p": 3})
    assert MarkDecoder({"BTCUSDT"}).decode(frame) == [("BTCUSDT", 3.0)]


# ---------------------------------------------------------------------------------- bad frames
@pytest.mark.parametrize(
    "frame",
    [
        "",
        "   ",
        '{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"',
        '"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}',
        '[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}',
        "null",
        "{",
    ],
)
def test_frames_not_enclosed_are_rejected(frame: str) -> None:
    with pytest.raises(WireError, match="not a JSON object or array"):
        MarkDecoder({"BTCUSDT"}).decode(frame)


@pytest.mark.parametrize("price", ["abc", "0", "-1", "NaN", "Infinity", "-0", "", "1e999"])
def test_bad_prices_are_rejected(price: str) -> None:
    for frame in (compact(mark("BTCUSDT", price)), json.dumps(mark("BTCUSDT", price), indent=1)):
        with pytest.raises(WireError, match="mark price of BTCUSDT"):
            MarkDecoder({"BTCUSDT"}).decode(frame)


def test_one_bad_price_yields_nothing_from_the_frame() -> None:
    frame = compact([mark("BTCUSDT", "100"), mark("ETHUSDT", "oops")])
    with pytest.raises(WireError, match="ETHUSDT"):
        MarkDecoder({"BTCUSDT", "ETHUSDT"}).decode(frame)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('[{"e":"markPriceUpdate", "s": "BTCUSDT", "p":}]', "malformed market frame"),
        ("[1, 2]", "holds a int"),
        ('{"e": "markPriceUpdate", "s": "BTCUSDT"}', "mark price of BTCUSDT"),
        ('{"e":"markPriceUpdate","s":"BTCUSDT","p":true}', "expected a decimal string"),
    ],
)
def test_malformed_json_is_rejected(frame: str, message: str) -> None:
    with pytest.raises(WireError, match=message):
        MarkDecoder({"BTCUSDT"}).decode(frame)


def test_fast_path_reads_only_held_objects() -> None:
    """By design the frame is not parsed: damage outside a held symbol's object goes unseen."""
    frame = '[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"},{"x":}]'
    assert MarkDecoder({"BTCUSDT"}).decode(frame) == [("BTCUSDT", 1.0)]


def test_no_held_symbols_reads_nothing() -> None:
    assert MarkDecoder().decode('{"anything": "at all"}') == []
    assert MarkDecoder().decode_asset_index("[]") == []


# ---------------------------------------------------------------------------------- fast == slow
price_text = st.decimals(min_value="0.00000001", max_value="1000000", places=8).map(str)
symbol_text = st.from_regex(r"[A-Z]{2,8}(USDT|USD_PERP)", fullmatch=True)


@given(
    st.dictionaries(symbol_text, price_text, min_size=1, max_size=30),
    st.data(),
)
def test_fast_path_agrees_with_json(prices: dict[str, str], data: st.DataObject) -> None:
    held = data.draw(st.sets(st.sampled_from(sorted(prices)), max_size=10))
    objects = [mark(sym, price) for sym, price in prices.items()]
    shape = data.draw(st.sampled_from(["array", "object", "wrapper"]))
    sent = objects[:1] if shape == "object" else objects
    payload = {"array": objects, "object": objects[0], "wrapper": {"stream": "x", "data": objects}}
    frame = compact(payload[shape])
    decoder = MarkDecoder(held)
    expected = sorted((o["s"], float(o["p"])) for o in sent if o["s"] in held)
    assert sorted(decoder.decode(frame)) == expected
    assert sorted(decoder.decode(json.dumps(json.loads(frame), indent=2))) == expected


# ---------------------------------------------------------------------------------- asset index
def test_asset_index_sample() -> None:
    decoder = MarkDecoder(assets={"USDT", "ADA", "BTC"})
    expected = [
        AssetRates("ADA", 0.24716207, 0.30208698),
        AssetRates("USDT", 0.99977692, 0.99997689),
    ]
    raw = text("assetIndex_arr_um.json")
    assert sorted(decoder.decode_asset_index(raw), key=lambda r: r.asset) == expected
    assert sorted(decoder.decode_asset_index(compact(json.loads(raw))), key=lambda r: r.asset) == (
        expected
    )


def test_asset_index_cm_settlement_assets_and_assets_setter() -> None:
    row = json.loads(text("assetIndex_arr_um.json"))[1]
    frame = compact([{**row, "s": "BTCUSD", "B": "60000", "A": "60100"}, row])
    decoder = MarkDecoder()
    decoder.assets = {"BTC"}
    assert decoder.assets == frozenset({"BTC"})
    assert decoder.decode_asset_index(frame) == [AssetRates("BTC", 60000.0, 60100.0)]


def test_asset_index_bad_rate() -> None:
    row = json.loads(text("assetIndex_arr_um.json"))[1]
    for frame in (compact([{**row, "A": "-1"}]), json.dumps([{**row, "B": "x"}], indent=1)):
        with pytest.raises(WireError, match="rate of USDT"):
            MarkDecoder(assets={"USDT"}).decode_asset_index(frame)


def test_asset_index_fallback_when_fields_are_missing() -> None:
    frame = compact([{"e": "assetIndexUpdate", "s": "USDTUSD", "B": 0.99, "A": 1.01}])
    assert MarkDecoder(assets={"USDT"}).decode_asset_index(frame) == [
        AssetRates("USDT", 0.99, 1.01)
    ]
    marks = compact([mark("USDTUSD", "1")])
    assert MarkDecoder(assets={"USDT"}).decode_asset_index(marks) == []


# ------------------------------------------------------------------------ index price, classify
def test_index_price() -> None:
    assert decode_index_prices(text("indexPrice_cm.json")) == [("BTCUSD", 9636.5786)]
    assert decode_index_prices(text("markPrice_um.json")) == []
    with pytest.raises(WireError, match="indexPriceUpdate: p"):
        decode_index_prices('{"e":"indexPriceUpdate","E":1,"i":"BTCUSD","p":"x"}')


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("markPrice_um.json", FrameKind.MARK),
        ("markPrice_arr_um.json", FrameKind.MARK),
        ("markPrice_pair_cm.json", FrameKind.MARK),
        ("combined_stream_markPrice_um.json", FrameKind.MARK),
        ("assetIndex_arr_um.json", FrameKind.ASSET_INDEX),
        ("indexPrice_cm.json", FrameKind.INDEX_PRICE),
        ("ws_subscribe_response.json", FrameKind.ACK),
        ("miniTicker_arr_cm.json", FrameKind.UNKNOWN),
        ("error_invalid_symbol.json", FrameKind.ERROR),
        ("listen_key_um.json", FrameKind.UNKNOWN),
    ],
)
def test_classify_samples(name: str, kind: FrameKind) -> None:
    raw = text(name)
    assert classify(raw) is kind
    assert classify(compact(json.loads(raw))) is kind


def test_classify_edge_cases() -> None:
    assert classify('{"result":["btcusdt@markPrice"],"id":3}') is FrameKind.ACK
    assert classify("[]") is FrameKind.UNKNOWN
    assert classify('{"e":"x\\"y","s":"A"}') is FrameKind.UNKNOWN
    with pytest.raises(WireError, match="subscription reply: id"):
        classify('{"result":null,"id":"one"}')
    with pytest.raises(WireError, match="not a JSON object or array"):
        classify("pong")
    with pytest.raises(WireError, match="malformed market frame"):
        classify("{oops}")
