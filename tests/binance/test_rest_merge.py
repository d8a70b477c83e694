"""Single-row REST answers update their rows of the table (issue 13 item 5, case 3).

Binance answers `?symbol=` on premiumIndex, assetIndex and leverageBracket with one JSON
object, not a list (docs samples `premium_index_um.json`, `leverage_bracket_um_symbol.json`).
Such an answer must update that row of the last full table, never replace the table.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from monitor import examples
from monitor.binance.decode.rest_merge import ROW_KEYS, merge_rest_body
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.dispatch import REST_SCHEMAS
from monitor.core.ingest import Replay
from monitor.feed.recording import RestLine, read_recording

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
PREMIUM = "/fapi/v1/premiumIndex"


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def replayed(name: str) -> Replay:
    meta, lines = read_recording(examples.path(name))
    replay = Replay(meta)
    replay.run(lines)
    return replay


def test_every_row_key_path_has_a_schema() -> None:
    assert set(ROW_KEYS) <= set(REST_SCHEMAS)


def test_an_object_answer_updates_its_row_in_place() -> None:
    table = [{"symbol": "ETHUSDT", "markPrice": "1"}, {"symbol": "BTCUSDT", "markPrice": "2"},
             {"symbol": "SOLUSDT", "markPrice": "3"}]
    one = load("premium_index_um.json")  # the docs' single-symbol (object) form: BTCUSDT
    merged = merge_rest_body(PREMIUM, table, one, {"symbol": "BTCUSDT"})
    assert [r["symbol"] for r in merged] == ["ETHUSDT", "BTCUSDT", "SOLUSDT"]
    assert merged[1] == one and merged[0] == table[0] and merged[2] == table[2]
    # The object alone says it is one row, even when the request's params were not recorded.
    assert merge_rest_body(PREMIUM, table, one, {}) == merged
    # A symbol the table did not have is added at the end.
    new = {**one, "symbol": "XRPUSDT"}
    assert merge_rest_body(PREMIUM, table, new)[-1] == new


def test_full_tables_errors_and_rowless_paths_replace() -> None:
    table = [{"symbol": "BTCUSDT", "markPrice": "2"}]
    fresh = [{"symbol": "ETHUSDT", "markPrice": "5"}]
    assert merge_rest_body(PREMIUM, table, fresh, {}) is fresh
    error = {"code": -1121, "msg": "Invalid symbol."}
    assert merge_rest_body(PREMIUM, table, error, {"symbol": "NOPE"}) is error
    account = {"assets": []}
    assert merge_rest_body("/fapi/v3/account", {"x": 1}, account, {}) is account
    first = load("premium_index_um.json")
    assert merge_rest_body(PREMIUM, None, first, {"symbol": "BTCUSDT"}) is first


@pytest.mark.parametrize(
    ("path", "key", "sample"),
    [
        ("/fapi/v1/leverageBracket", "symbol", "leverage_bracket_um_symbol.json"),
        ("/dapi/v1/premiumIndex", "symbol", "premium_index_cm.json"),
        ("/dapi/v1/leverageBracket", "pair", "leverage_bracket_cm_v1_pair.json"),
        ("/papi/v1/balance", "asset", "papi_balance.json"),
    ],
)
def test_each_path_merges_by_its_row_key(path: str, key: str, sample: str) -> None:
    body = load(sample)
    row = body if isinstance(body, dict) else body[0]
    other = {**row, key: "OTHER"}
    merged = merge_rest_body(path, [other, {**row, "stale": True}], row, {key: row[key]})
    assert merged == [other, row]


def test_a_filtered_answer_without_row_keys_is_a_wire_error() -> None:
    with pytest.raises(WireError, match=r"/fapi/v1/assetIndex \(symbol=ADAUSD\): expected rows"):
        merge_rest_body("/fapi/v1/assetIndex", [{"symbol": "ADAUSD"}], {"index": "1"},
                        {"symbol": "ADAUSD"})


def test_replay_keeps_the_other_marks_after_a_single_symbol_premium_index() -> None:
    replay = replayed("usdm")
    book = replay.book
    assert book is not None
    table = copy.deepcopy(replay.rest[PREMIUM])
    assert isinstance(table, list) and len(table) > 1
    target = table[0]["symbol"]
    marks_before = dict(book.state.marks)
    one = {**load("premium_index_um.json"), "symbol": target,
           "markPrice": str(float(table[0]["markPrice"]) * 1.01)}
    replay.feed(RestLine(replay.last_t + 1, "GET", PREMIUM, one, {"symbol": target}))
    replay.flush()
    assert replay.counters["snapshot_errors"] == 0, replay.warnings
    kept = replay.rest[PREMIUM]
    assert [r["symbol"] for r in kept] == [r["symbol"] for r in table]
    assert kept[0] == one and kept[1:] == table[1:]
    assert book.state.marks[target] == pytest.approx(float(one["markPrice"]))
    # The other symbols keep their rows in the table (before, the table became this one object
    # and their premiumIndex marks were gone from the snapshot), and their streamed marks in the
    # book: the table's other rows are older than the stream and are not re-applied.
    for row in table[1:]:
        assert book.state.marks[row["symbol"]] == marks_before[row["symbol"]]
    assert any(
        marks_before[row["symbol"]] != pytest.approx(float(row["markPrice"])) for row in table[1:]
        if row["symbol"] in marks_before
    )  # the stream had moved them: the check above means something
    assert set(book.state.marks) >= set(marks_before)


def test_replay_merges_a_single_symbol_bracket_answer() -> None:
    replay = replayed("usdm")
    path = "/fapi/v1/leverageBracket"
    table = copy.deepcopy(replay.rest[path])
    target = table[0]["symbol"]
    one = copy.deepcopy(table[0])
    one.pop("notionalCoef", None)
    replay.feed(RestLine(replay.last_t + 1, "GET", path, one, {"symbol": target}))
    replay.flush()
    assert replay.counters["snapshot_errors"] == 0, replay.warnings
    assert [r["symbol"] for r in replay.rest[path]] == [r["symbol"] for r in table]
    book = replay.book
    assert book is not None
    assert {r["symbol"] for r in table} <= set(book.state.contracts)


def test_replay_merges_a_single_asset_index_answer() -> None:
    replay = replayed("usdm_multi_assets")
    path = "/fapi/v1/assetIndex"
    table = copy.deepcopy(replay.rest[path])
    assert isinstance(table, list) and len(table) > 1
    one = {**table[0], "bidRate": "0.97", "askRate": "0.995"}
    replay.feed(RestLine(replay.last_t + 1, "GET", path, one, {"symbol": one["symbol"]}))
    replay.flush()
    assert replay.counters["snapshot_errors"] == 0, replay.warnings
    assert len(replay.rest[path]) == len(table)
    book = replay.book
    assert book is not None
    assert book.state.assets[one["symbol"][:-3]].bid_rate == 0.97
