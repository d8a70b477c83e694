"""PM collateral priced on every tick: the pricer's rules, the decoder's index prices, and the
replay of the bundled PM book valuing collateral at the streamed index between REST polls."""

from __future__ import annotations

import json

import pytest

from monitor.binance.decode.marks import FrameKind, MarkDecoder
from monitor.core.ingest import Replay
from monitor.examples import path as example
from monitor.feed.collateral_prices import CollateralPricer
from monitor.feed.recording import RestLine, WsLine, read_recording

T = 1_784_100_000_000


def _pricer() -> CollateralPricer:
    pricer = CollateralPricer(max_basis_age_ms=60_000)
    pricer.track({"BTC"})
    return pricer


def test_basis_is_fitted_at_the_rest_rows_time_and_carries_the_stream() -> None:
    pricer = _pricer()
    assert pricer.symbols == {"BTCUSDT"}
    for k, index in enumerate((100_000.0, 100_500.0, 101_000.0)):
        assert pricer.on_index("BTCUSDT", index, T + 1000 * k, T + 1000 * k + 20) is None
    # The REST row is stamped at T + 1,200: the index then was 100,500 → basis 100,400/100,500.
    prices = pricer.on_rest({"BTC": (100_400.0, T + 1200)}, T + 2_500)
    basis = 100_400.0 / 100_500.0
    assert prices == {"BTC": pytest.approx(101_000.0 * basis)}  # the freshest estimate
    asset, price = pricer.on_index("BTCUSDT", 99_000.0, T + 3000, T + 3010) or ("", 0.0)
    assert (asset, price) == ("BTC", pytest.approx(99_000.0 * basis))
    source = pricer.source("BTC")
    assert source is not None and source.kind == "stream" and source.symbol == "BTCUSDT"
    assert source.price_t_ms == T + 3010 and source.basis_t_ms == T + 2_500


def test_a_proxy_that_does_not_track_the_asset_leaves_it_on_rest_prices() -> None:
    pricer = _pricer()
    pricer.on_index("BTCUSDT", 100_000.0, T, T)
    assert pricer.on_rest({"BTC": (90_000.0, T)}, T) == {"BTC": 90_000.0}  # 10 % apart
    assert pricer.on_index("BTCUSDT", 100_100.0, T + 1000, T + 1000) is None
    source = pricer.source("BTC")
    assert source is not None and source.kind == "rest"


def test_an_old_basis_stops_the_streamed_price() -> None:
    pricer = _pricer()
    pricer.on_index("BTCUSDT", 100_000.0, T, T)
    pricer.on_rest({"BTC": (100_000.0, T)}, T)
    assert pricer.on_index("BTCUSDT", 100_100.0, T + 59_000, T + 59_000) is not None
    assert pricer.on_index("BTCUSDT", 100_200.0, T + 61_000, T + 61_000) is None
    assert pricer.current("BTC") is None


def test_a_late_frame_never_rolls_the_price_back() -> None:
    pricer = _pricer()
    pricer.on_index("BTCUSDT", 100_000.0, T, T)
    pricer.on_rest({"BTC": (100_000.0, T)}, T)
    assert pricer.on_index("BTCUSDT", 101_000.0, T + 2000, T + 2000) is not None
    assert pricer.on_index("BTCUSDT", 99_000.0, T + 1000, T + 2100) is None
    assert pricer.current("BTC") == pytest.approx(101_000.0)


def test_an_asset_no_longer_held_is_dropped() -> None:
    pricer = _pricer()
    pricer.track({"ETH"})
    assert pricer.symbols == {"ETHUSDT"}
    assert pricer.on_index("BTCUSDT", 1.0, T, T) is None


def _mark(symbol: str, mark: str, index: str, e: int = T) -> dict[str, object]:
    return {"e": "markPriceUpdate", "E": e, "s": symbol, "p": mark, "P": index, "i": index,
            "r": "0.0001", "T": T + 3_600_000}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(_mark("BTCUSDT", "100010.5", "100000.25"), separators=(",", ":")),  # fast
        json.dumps({"stream": "btcusdt@markPrice@1s", "data": _mark("BTCUSDT", "100010.5",
                                                                       "100000.25")},
                   separators=(",", ":")),
        json.dumps([_mark("ETHUSDT", "3000", "2999"), _mark("BTCUSDT", "100010.5", "100000.25")],
                   separators=(",", ":")),
        json.dumps(_mark("BTCUSDT", "100010.5", "100000.25")),  # spaces: the full parse
    ],
)
def test_decoder_reads_index_prices_of_proxies(text: str) -> None:
    decoder = MarkDecoder(indexed={"BTCUSDT"})
    kind, marks, _, indexes = decoder.read(text)
    assert kind is FrameKind.MARK
    assert ("BTCUSDT", 100_010.5) in marks
    assert list(indexes) == [("BTCUSDT", 100_000.25, T)]
    held_only = MarkDecoder({"BTCUSDT"})
    assert list(held_only.read(text)[3]) == []


def test_replay_values_pm_collateral_at_the_streamed_index_between_polls() -> None:
    """The bundled PM book: BTC and ETH collateral priced at their perpetuals' `i` (the same
    path Binance values them on) at every tick, not only at the 10 s REST polls. Until the first
    poll after the streams start there is no basis: the start-up snapshot's prices stand."""
    meta, lines = read_recording(example("portfolio_margin"))
    replay = Replay(meta)
    checked = between_polls = 0
    last_poll = 0
    for line in lines:
        replay.feed(line)
        if isinstance(line, RestLine) and "asset-index-price" in line.path:
            last_poll = line.t
        if not (isinstance(line, WsLine) and line.conn == "market") or replay.book is None:
            continue
        frame = line.data
        asset = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}.get(frame.get("s"))
        source = replay.pricer.source(asset or "")
        if asset is None or source is None or source.kind != "stream":
            continue
        priced = replay.book.state.assets[asset].index_price
        assert priced == pytest.approx(float(frame["i"]), rel=1e-12), (line.t, asset)
        checked += 1
        between_polls += line.t - last_poll > 1000
    assert checked > 1150 and between_polls > 1000  # 2 assets x 590 s, 9 in 10 between polls
    source = replay.pricer.source("BTC")
    assert source is not None and source.kind == "stream" and source.basis == pytest.approx(1.0)
    assert {"index:BTC", "index:ETH", "mark:BTCUSDT", "structure"} <= replay.watch[0]
