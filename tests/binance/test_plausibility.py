"""Plausibility of brackets and collateral rates at the wire (issue 19 item 4).

A table that decodes but cannot be Binance's rejects its REST group whole, with an error naming
the field (path, symbol, tier index, field). Tables start from real captures and docs examples:
the BTCUSDT tiers a public client fetched live (tests/fixtures/samples SOURCES.md lists the docs
samples used as templates) and every bundled example recording.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from monitor import examples
from monitor.binance.decode.plausibility import check_brackets, check_tiered_collateral
from monitor.binance.decode.snapshot import build_state
from monitor.binance.schemas.coinm import BinanceCoinmLeverageBracket
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.dispatch import parse_rest_items
from monitor.binance.schemas.portfolio import BinanceTieredCollateralRate
from monitor.binance.schemas.usdm import BinanceUsdmLeverageBracket
from monitor.cli import main
from monitor.core.ingest import Replay
from monitor.feed.recording import RestLine, read_recording

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
UM = "/fapi/v1/leverageBracket"


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


#: BTCUSDT brackets 1-4 as a public client captured them from /fapi/v1/leverageBracket (values as
#: strings there; numbers on the wire today, see leverage_bracket_um.json). cum is continuous.
BTC = [
    {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
     "maintMarginRatio": 0.004, "cum": 0.0},
    {"bracket": 2, "initialLeverage": 100, "notionalCap": 250000, "notionalFloor": 50000,
     "maintMarginRatio": 0.005, "cum": 50.0},
    {"bracket": 3, "initialLeverage": 50, "notionalCap": 3000000, "notionalFloor": 250000,
     "maintMarginRatio": 0.01, "cum": 1300.0},
    {"bracket": 4, "initialLeverage": 20, "notionalCap": 20000000, "notionalFloor": 3000000,
     "maintMarginRatio": 0.025, "cum": 46300.0},
]


def um_body(tiers: list[dict[str, Any]]) -> Any:
    return [{"symbol": "BTCUSDT", "brackets": tiers}]


def check_um(tiers: list[dict[str, Any]]) -> None:
    for row in parse_rest_items(UM, um_body(tiers), BinanceUsdmLeverageBracket):
        check_brackets(UM, row.symbol, row.brackets)


def with_(index: int, **fields: Any) -> list[dict[str, Any]]:
    tiers = copy.deepcopy(BTC)
    tiers[index].update(fields)
    return tiers


def test_real_brackets_pass() -> None:
    check_um(BTC)
    check_um(list(reversed(BTC)))  # listed order does not matter, `bracket` does
    for name in ("leverage_bracket_um.json", "papi_um_leverage_bracket.json"):
        for row in parse_rest_items(UM, load(name), BinanceUsdmLeverageBracket):
            check_brackets(UM, row.symbol, row.brackets)
    for name in ("leverage_bracket_cm_v2.json", "papi_cm_leverage_bracket.json"):
        path = "/dapi/v2/leverageBracket"
        for cm in parse_rest_items(path, load(name), BinanceCoinmLeverageBracket):
            check_brackets(path, cm.symbol, cm.brackets)


@pytest.mark.parametrize("name", examples.NAMES)
def test_every_bundled_example_passes(name: str) -> None:
    meta, lines = read_recording(examples.path(name))
    replay = Replay(meta)
    replay.run(lines)
    assert replay.counters["snapshot_errors"] == 0, replay.warnings
    assert any(isinstance(line, RestLine) and "leverageBracket" in line.path
               for line in read_recording(examples.path(name))[1])


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (with_(1, maintMarginRatio=-0.5),
         r"brackets\[1\]\.maintMarginRatio = -0\.5 is outside \[0, 1\)"),
        (with_(0, maintMarginRatio=1.0), r"brackets\[0\]\.maintMarginRatio = 1\.0"),
        (with_(0, cum=1e15), r"brackets\[0\]\.cum = 1000000000000000\.0 makes the maintenance"),
        (with_(2, cum=1e15), r"brackets\[2\]\.cum = 1000000000000000\.0 breaks maintenance-margin"
                             r" continuity"),
        (with_(1, cum=-50.0), r"brackets\[1\]\.cum = -50\.0 is negative"),
        (with_(1, notionalFloor=-1), r"brackets\[1\]\.notionalFloor = -1\.0 is negative"),
        (with_(3, notionalCap=-5), r"brackets\[3\]\.notionalCap = -5\.0 is negative"),
        (with_(1, notionalCap=40000), r"brackets\[1\]\.notionalCap = 40000\.0 is not above"),
        (with_(2, notionalFloor=40000), r"brackets\[2\]\.notionalFloor = 40000\.0 \(bracket 3\)"
                                        r" is out of order"),
        (with_(2, notionalFloor=200000), r"brackets\[2\]\.notionalFloor = 200000\.0 overlaps"),
        (with_(3, cum=46000.0), r"brackets\[3\]\.cum = 46000\.0 breaks"),
    ],
)
def test_implausible_brackets_name_the_field(tiers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(WireError, match=rf"^/fapi/v1/leverageBracket: BTCUSDT\.{message}"):
        check_um(tiers)


def test_continuity_tolerates_rounding_to_8_decimals() -> None:
    # COIN-M tiers in coin: bracket 2's cum rounded to 8 decimals (exact: 0.005).
    body = [{"symbol": "BTCUSD_PERP", "brackets": [
        {"bracket": 1, "qtyCap": 5, "qtyFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0},
        {"bracket": 2, "qtyCap": 10, "qtyFloor": 5, "maintMarginRatio": 0.005,
         "cum": 0.00500001},
    ]}]
    path = "/dapi/v2/leverageBracket"
    (row,) = parse_rest_items(path, body, BinanceCoinmLeverageBracket)
    check_brackets(path, row.symbol, row.brackets)
    body[0]["brackets"][1]["cum"] = 0.006
    (row,) = parse_rest_items(path, body, BinanceCoinmLeverageBracket)
    with pytest.raises(WireError, match=r"BTCUSD_PERP\.brackets\[1\]\.cum = 0\.006 breaks"):
        check_brackets(path, row.symbol, row.brackets)


# ---------------------------------------------------------------------------------- collateral
def tiered(**fields: Any) -> Any:
    body = load("collateral_rate_v2_tiered.json")
    body[0]["collateralInfo"][1].update(fields)
    return body


def test_real_collateral_schedules_pass() -> None:
    path = "/sapi/v2/portfolio/collateralRate"
    check_tiered_collateral(path, parse_rest_items(path, tiered(), BinanceTieredCollateralRate))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"collateralRate": "2"}, r"collateralInfo\[1\]\.collateralRate = 2\.0 is outside"),
        ({"collateralRate": "-0.1"}, r"collateralInfo\[1\]\.collateralRate = -0\.1"),
        ({"tierFloor": "500.0000"}, r"collateralInfo\[1\]\.tierFloor = 500\.0 is out of"),
        ({"tierFloor": "0.0000", "tierCap": "800"}, r"collateralInfo\[1\]\.tierFloor = 0\.0"),
        ({"tierCap": "900"}, r"collateralInfo\[1\]\.tierCap = 900\.0 is not above"),
        ({"tierFloor": "-1", "tierCap": "0"}, r"collateralInfo\[1\]\.tierFloor = -1\.0 is"),
    ],
)
def test_implausible_collateral_names_the_field(fields: dict[str, Any], message: str) -> None:
    path = "/sapi/v2/portfolio/collateralRate"
    rows = parse_rest_items(path, tiered(**fields), BinanceTieredCollateralRate)
    with pytest.raises(WireError, match=rf"^{path}: BNB\.{message}"):
        check_tiered_collateral(path, rows)


def test_flat_collateral_rate_above_one_rejects_the_pm_snapshot() -> None:
    _meta, lines = read_recording(examples.path("portfolio_margin"))
    rest: dict[str, Any] = {}
    for line in lines:
        if isinstance(line, RestLine):
            rest[line.path.split("?", 1)[0]] = line.data
    build_state(rest)  # the example as recorded is fine
    flat = "/sapi/v1/portfolio/collateralRate"
    if flat not in rest:
        pytest.skip("the PM example fetches tiered rates only")
    rest[flat] = [{**row, "collateralRate": "2"} if n == 0 else row
                  for n, row in enumerate(rest[flat])]
    rest.pop("/sapi/v2/portfolio/collateralRate", None)
    with pytest.raises(WireError, match=r"collateralRate = 2\.0 is outside \[0, 1\]"):
        build_state(rest)


# ---------------------------------------------------------------------------------- end to end
def bad_bracket_recording(tmp_path: Path, **fields: Any) -> Path:
    """The bundled USDⓈ-M example with one field of its first bracket table changed."""
    out = []
    for text in examples.path("usdm").read_text(encoding="utf-8").splitlines():
        obj = json.loads(text)
        if obj.get("kind") == "rest" and obj["path"] == UM:
            obj["data"][0]["brackets"][1].update(fields)
            text = json.dumps(obj)
        out.append(text)
    path = tmp_path / "bad_bracket.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    return path


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"maintMarginRatio": -0.5}, "maintMarginRatio"), ({"cum": 1e15}, "cum"),
     ({"notionalFloor": -10}, "notionalFloor")],
)
def test_calc_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any], field: str
) -> None:
    path = bad_bracket_recording(tmp_path, **fields)
    symbol = json.loads(
        next(t for t in examples.path("usdm").read_text().splitlines() if f'"{UM}"' in t)
    )["data"][0]["symbol"]
    assert main(["calc", str(path)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == ""
    assert len(err) == 1, err
    assert f"{UM}: {symbol}.brackets[1].{field} " in err[0]


def test_a_bad_bracket_refresh_is_rejected_whole_and_counted() -> None:
    meta, lines = read_recording(examples.path("usdm"))
    replay = Replay(meta)
    book = replay.run(lines)
    good = copy.deepcopy(replay.rest[UM])
    bad = copy.deepcopy(good)
    bad[0]["brackets"][1]["maintMarginRatio"] = -0.5
    before = book.snapshot().risk
    replay.feed(RestLine(replay.last_t + 1, "GET", UM, bad))
    replay.flush()
    assert replay.counters["snapshot_errors"] == 1
    assert "maintMarginRatio = -0.5" in replay.warnings[-1]
    assert replay.rest[UM] == good  # the group was not applied
    assert book.snapshot().risk == before
