"""The bundled example recordings replay to figures worked out by hand from their scenarios.

Each recording is replayed with `Replay` (the real decoders and engine). The expected figures
are written out here with plain arithmetic from the scenario constants — wallets, entries, the
final marks the generator pins, funding rates, fills, brackets with Binance's `cum`, collateral
rates — never with engine functions. The seed 001 recordings assert the published acceptance
figures; the Portfolio Margin recording also asserts its risk path (slide, hover, recover).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from monitor.binance.decode.snapshot import rest_paths_for
from monitor.core.ingest import Replay
from monitor.engine.book import Book
from monitor.engine.model import Mode
from monitor.engine.risk import RiskSnapshot
from monitor.examples import NAMES, path
from monitor.feed.recording import RestLine, WsLine, read_recording

REL = 1e-9
ROOT = Path(__file__).resolve().parents[2]


def approx(value: float, rel: float = REL) -> Any:
    return pytest.approx(value, rel=rel, abs=1e-12)


@dataclasses.dataclass(frozen=True)
class Replayed:
    replay: Replay
    risks: tuple[float, ...]  # account risk after every line

    @property
    def book(self) -> Book:
        assert self.replay.book is not None
        return self.replay.book

    @property
    def snap(self) -> RiskSnapshot:
        return self.book.snapshot()

    def pool(self, key: str) -> Any:
        return next(p for p in self.snap.pools if p.key == key)

    def leg(self, symbol: str, side: str = "BOTH") -> Any:
        return next(g for g in self.snap.legs if (g.symbol, g.side) == (symbol, side))


@cache
def replayed(name: str) -> Replayed:
    meta, lines = read_recording(path(name))
    replay = Replay(meta)
    risks: list[float] = []
    for line in lines:
        replay.feed(line)
        if replay.book is not None:
            risks.append(replay.book.risk)
    replay.flush()
    assert replay.book is not None
    risks.append(replay.book.risk)
    return Replayed(replay, tuple(risks))


def lines_of(name: str) -> Iterator[Any]:
    _, lines = read_recording(path(name))
    return lines


def marks_of(name: str, symbol: str) -> list[float]:
    """Every mark price of `symbol` in the recording's market frames (any frame layout)."""
    found: list[float] = []
    for line in lines_of(name):
        if isinstance(line, WsLine) and line.conn == "market":
            data = line.data
            if isinstance(data, dict) and "stream" in data:
                data = data["data"]
            for item in data if isinstance(data, list) else [data]:
                if item.get("e") == "markPriceUpdate" and item.get("s") == symbol:
                    found.append(float(item["p"]))
    return found


# ---------------------------------------------------------------------------------- the files
def test_names_and_paths() -> None:
    assert set(NAMES) == {p.stem for p in path("usdm").parent.glob("*.jsonl")}
    for name in NAMES:
        assert path(name) == path(f"{name}.jsonl")
        assert path(name).stat().st_size < 450_000
    with pytest.raises(KeyError):
        path("nope")


@pytest.mark.parametrize("name", NAMES)
def test_snapshot_has_every_path_the_mode_needs(name: str) -> None:
    meta, lines = read_recording(path(name))
    rest = {line.path for line in lines if isinstance(line, RestLine)}
    mode = replayed(name).book.mode
    assert set(rest_paths_for(mode)) <= rest
    if name in ("usdm", "coinm"):
        assert meta.mode is None  # the mode is inferred from the REST lines
    else:
        assert meta.mode == mode.value
    assert not replayed(name).replay.warnings
    counters = replayed(name).replay.counters
    assert not any("error" in key for key in counters), counters


@pytest.mark.parametrize("name", NAMES)
def test_bracket_tables_follow_binances_cum_rule(name: str) -> None:
    """cum_k = floor_k·(mmr_k − mmr_{k−1}) + cum_{k−1} in every bracket table recorded."""
    tables = 0
    for line in lines_of(name):
        if isinstance(line, RestLine) and "leverageBracket" in line.path:
            for entry in line.data:
                tiers = entry["brackets"]
                assert tiers[0]["cum"] == 0
                for prev, cur in itertools.pairwise(tiers):
                    floor = cur.get("notionalFloor", cur.get("qtyFloor", cur.get("qtylFloor")))
                    expected = floor * (cur["maintMarginRatio"] - prev["maintMarginRatio"])
                    assert cur["cum"] == approx(expected + prev["cum"])
                tables += 1
    assert tables


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_generator_is_deterministic_and_files_are_current(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "make_examples.py"
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run(
            [sys.executable, str(script), "--out", str(out)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
    for name in NAMES:
        generated = (tmp_path / "a" / f"{name}.jsonl").read_bytes()
        assert generated == (tmp_path / "b" / f"{name}.jsonl").read_bytes(), name
        assert generated == path(name).read_bytes(), f"{name}: rerun scripts/make_examples.py"


# ---------------------------------------------------------------------------------- USDⓈ-M
def test_usdm_final_figures() -> None:
    r = replayed("usdm")
    assert r.book.mode is Mode.USDM
    # final marks (pinned by the generator) and the marks at the 08:00 funding tick
    btc, eth, sol, btcc = 97128.40, 3164.25, 225.45, 97110.60
    f_btc, f_eth, f_sol, f_btcc = 96000.00, 3125.00, 232.00, 95980.00
    # wallets: start, funding (cross: B only; isolated SOL: its iw), the ETH fill's commission
    funding_usdt = -0.52 * f_btc * 0.0001 - (12 - 8) * f_eth * 0.0001
    commission = 2 * 3138.60 * 0.0005
    cw_usdt = 10000.0 + funding_usdt - commission
    cw_usdc = 3000.0 + 0.25 * f_btcc * 0.00005
    iw_sol = 2900.0 - 110 * f_sol * 0.00012
    short_entry = (8 * 3152.40 + 2 * 3138.60) / 10  # SHORT leg 8 → 10 after the SELL fill
    # uPnL = q·(mark − entry); MM = notional·mmr − cum of the tier holding the notional
    up_btc = 0.52 * (btc - 94310.50)
    mm_btc = 0.52 * btc * 0.005 - 50_000 * (0.005 - 0.004)  # 50,506.77: tier 2
    up_long = 12 * (eth - 3080.25)
    mm_long = 12 * eth * 0.005  # 37,971: tier 1
    up_short = -10 * (eth - short_entry)
    mm_short = 10 * eth * 0.005  # 31,642.5: tier 1
    up_sol = 110 * (sol - 236.80)
    mm_sol = 110 * sol * 0.02 - 5_000 * (0.02 - 0.01)  # 24,799.5: tier 2
    up_btcc = -0.25 * (btcc - 96020.00)
    mm_btcc = 0.25 * btcc * 0.004  # tier 1

    usdt_eq = cw_usdt + up_btc + up_long + up_short
    usdt_mm = mm_btc + mm_long + mm_short
    usdc_eq, usdc_mm = cw_usdc + up_btcc, mm_btcc
    sol_eq, sol_mm = iw_sol + up_sol, mm_sol

    for key, eq, mm in (
        ("USDT", usdt_eq, usdt_mm),
        ("USDC", usdc_eq, usdc_mm),
        ("SOLUSDT:LONG", sol_eq, sol_mm),
    ):
        pool = r.pool(key)
        assert (pool.equity, pool.maint_margin) == (approx(eq), approx(mm)), key
        assert pool.risk == approx(mm / eq), key
    assert r.pool("SOLUSDT:LONG").isolated
    for (symbol, side), up, mm in (
        (("BTCUSDT", "LONG"), up_btc, mm_btc),
        (("ETHUSDT", "LONG"), up_long, mm_long),
        (("ETHUSDT", "SHORT"), up_short, mm_short),
        (("SOLUSDT", "LONG"), up_sol, mm_sol),
        (("BTCUSDC", "SHORT"), up_btcc, mm_btcc),
    ):
        leg = r.leg(symbol, side)
        assert (leg.unrealized_pnl, leg.maint_margin) == (approx(up), approx(mm)), symbol
    assert r.leg("ETHUSDT", "SHORT").qty == approx(-10.0)
    assert r.leg("ETHUSDT", "SHORT").entry_price == approx(short_entry)
    snap = r.snap
    assert snap.risk == approx(max(usdt_mm / usdt_eq, usdc_mm / usdc_eq, sol_mm / sol_eq))
    assert snap.margin_ratio == approx(usdt_mm / usdt_eq)  # worst cross pool: USDT
    assert (snap.equity, snap.maint_margin) == (approx(usdt_eq), approx(usdt_mm))


def test_usdm_legs_cross_bracket_boundaries() -> None:
    btc = [0.52 * p for p in marks_of("usdm", "BTCUSDT")]
    sol = [110 * p for p in marks_of("usdm", "SOLUSDT")]
    assert min(btc) < 50_000 < max(btc) and btc[-1] > 50_000
    assert min(sol) < 25_000 < max(sol) and sol[-1] < 25_000
    assert len(marks_of("usdm", "BTCUSDT")) == 299  # 300 ticks less the reconnect second


# ---------------------------------------------------------------------------------- Multi-Assets
def test_multi_assets_seed_scenario_3() -> None:
    r = replayed("usdm_multi_assets")
    snap = r.snap
    # acceptance figures (issue / seed 001)
    assert snap.margin_ratio == pytest.approx(0.6208612, rel=1e-6)
    assert snap.equity == pytest.approx(321.515, rel=1e-6)
    assert snap.maint_margin == pytest.approx(199.6162, rel=1e-6)
    # by hand: negative USDT equity at the ask rate, BUSD at 1; MM at the ask rate
    usdt = 200 + 0.5 * (19000 - 20000)
    busd = 220 + 20 * (620 - 600)
    equity = min(usdt * 0.9801, usdt * 0.99495) + busd * 1.0
    mm = 0.5 * 19000 * 0.008 * 0.99495 + 20 * 620 * 0.01 * 1.0
    assert (snap.equity, snap.maint_margin) == (approx(equity), approx(mm))
    assert snap.risk == approx(mm / equity)
    assert marks_of("usdm_multi_assets", "BTCUSDT")[-1] == 19000.0


def test_multi_assets_seed_scenario_2() -> None:
    snap = replayed("usdm_multi_assets_seed_s2").snap
    assert snap.margin_ratio == pytest.approx(0.4797750, rel=1e-6)
    assert snap.equity == pytest.approx(416.02, rel=1e-6)
    assert snap.maint_margin == pytest.approx(199.596, rel=1e-6)
    equity = 200 * 0.9801 + 220 * 1.0
    mm = 0.5 * 20000 * 0.008 * 0.99495 + 20 * 600 * 0.01 * 1.0
    assert (snap.equity, snap.maint_margin) == (approx(equity), approx(mm))


def test_multi_assets_rates_stay_constant() -> None:
    for line in lines_of("usdm_multi_assets"):
        if isinstance(line, WsLine) and isinstance(line.data, list):
            for item in line.data:
                if item["e"] == "assetIndexUpdate" and item["s"] == "USDTUSD":
                    assert (item["B"], item["A"]) == ("0.98010000", "0.99495000")


# ---------------------------------------------------------------------------------- COIN-M
def test_coinm_final_figures() -> None:
    r = replayed("coinm")
    assert r.book.mode is Mode.COINM
    btc, eth, quarter = 96410.7, 3318.55, 97325.3
    # inverse: uPnL = q·CS·(1/EP − 1/MP) and notional = |q|·CS/MP, in coin
    up_btc = 2000 * 100 * (1 / 94120.5 - 1 / btc)
    mm_btc = 2000 * 100 / btc * 0.004  # 2.07 BTC: tier 1
    up_eth = -3000 * 10 * (1 / 3205.40 - 1 / eth)
    mm_eth = 3000 * 10 / eth * 0.005  # 9.04 ETH: tier 1
    up_q = 400 * 100 * (1 / 95850.0 - 1 / quarter)
    mm_q = 400 * 100 / quarter * 0.005  # 0.41 BTC: tier 1
    expected = {
        "BTC": (0.85 + up_btc, mm_btc),
        "ETH": (6.5 + up_eth, mm_eth),
        "BTCUSD_260925:BOTH": (0.05 + up_q, mm_q),
    }
    for key, (eq, mm) in expected.items():
        pool = r.pool(key)
        assert (pool.equity, pool.maint_margin, pool.risk) == (
            approx(eq),
            approx(mm),
            approx(mm / eq),
        ), key
    assert r.pool("BTC").unit == "BTC" and r.pool("BTCUSD_260925:BOTH").isolated
    snap = r.snap
    assert snap.risk == approx(max(mm / eq for eq, mm in expected.values()))
    cross = [v for k, v in expected.items() if ":" not in k]
    assert snap.margin_ratio == approx(max(mm / eq for eq, mm in cross))
    assert r.leg("ETHUSD_PERP").unrealized_pnl == approx(up_eth)


# ---------------------------------------------------------------------------- Portfolio Margin
def test_portfolio_margin_final_figures() -> None:
    r = replayed("portfolio_margin")
    snap = r.snap
    # final asset index prices (last REST poll) and marks (last frames)
    p_btc, p_eth = 102600.00, 3564.00
    m_btcusdt, m_ethusdt, m_btcusd = 102630.78, 3565.43, 102646.17
    # funding at 08:00 (marks 114,889.46 / 3,991.30 / 114,906.68): shorts receive
    um_wallet = 1250.0 + 16 * 114889.46 * 0.0001 + 220 * 3991.30 * 0.0001
    cm_wallet = 0.35 + 0.00017405  # 200,000 USD / 114,906.68 · 0.0001, rounded to 8 places
    # the USDT margin loan after repaying 60,000 (interest 1,873.42 first)
    borrowed, interest = 1_400_000 - (60_000 - 1873.42), 0.0
    usdt_free, usdt_locked = 95_000.0 - 60_000.0, 3750.0
    open_loss = 187.50
    # X_a = margin asset − loan + futures wallets + futures uPnL (asset units)
    up_btcusdt = -16 * (m_btcusdt - 94250.00)
    up_ethusdt = -220 * (m_ethusdt - 3280.00)
    up_btcusd = -2000 * 100 * (1 / 93800.0 - 1 / m_btcusd)
    x_usdt = usdt_free + usdt_locked - borrowed - interest + um_wallet + up_btcusdt + up_ethusdt
    x_btc = 12.0 + cm_wallet + up_btcusd
    x_eth = 180.0
    # Σ min(X·P·CR, X·P); USDT at index 1 and rate 1.0, BTC/ETH at 0.95
    equity = min(x_usdt, x_usdt * 1.0) + x_btc * p_btc * 0.95 + x_eth * p_eth * 0.95
    equity -= open_loss
    # MM: UM brackets (1.64M and 784k: tier 3 of each), CM in coin, loan at 10 % (3x)
    mm_btcusdt = 16 * m_btcusdt * 0.0065 - (50_000 * 0.001 + 600_000 * 0.0015)
    mm_ethusdt = 220 * m_ethusdt * 0.01 - (50_000 * 0.0015 + 600_000 * 0.0035)
    mm_btcusd = 2000 * 100 / m_btcusd * 0.004
    mm = mm_btcusdt + mm_ethusdt + (borrowed + interest) * 0.10 + mm_btcusd * p_btc
    assert (snap.equity, snap.maint_margin) == (approx(equity), approx(mm))
    assert snap.risk == approx(1.05 * mm / equity)
    assert snap.uni_mmr == approx(equity / mm)
    assert snap.margin_ratio is None
    assert snap.status == "ok"  # the last /papi/v1/account poll says NORMAL
    assert r.leg("BTCUSD_PERP").maint_margin == approx(mm_btcusd)
    assert r.leg("BTCUSDT").maint_margin == approx(mm_btcusdt)


def test_portfolio_margin_slides_toward_liquidation_and_recovers() -> None:
    risks = replayed("portfolio_margin").risks
    peak = max(risks)
    assert 0.95 < peak < 1.0
    assert risks[-1] < 0.67
    assert 0.44 < risks[0] < 0.47  # uniMMR ≈ 2.3 at the start
    top = risks.index(peak)
    for line in (0.70, 0.85, 0.95):
        assert any(r >= line for r in risks[: top + 1]), line
    crossings = sum(1 for a, b in itertools.pairwise(risks) if (a < 0.85) != (b < 0.85))
    assert crossings >= 6  # it hovers around the critical line for a while


def test_portfolio_margin_user_events() -> None:
    kinds: dict[str, int] = {}
    statuses = []
    for line in lines_of("portfolio_margin"):
        if isinstance(line, WsLine) and line.conn == "user":
            kinds[line.data["e"]] = kinds.get(line.data["e"], 0) + 1
            if line.data["e"] == "riskLevelChange":
                statuses.append(line.data["s"])
    assert {
        "riskLevelChange",
        "ACCOUNT_UPDATE",
        "liabilityChange",
        "outboundAccountPosition",
        "openOrderLoss",
    } <= set(kinds)
    assert statuses[0] == "MARGIN_CALL" and "REDUCE_ONLY" in statuses
    assert statuses[-1] == "MARGIN_CALL"
    counters = replayed("portfolio_margin").replay.counters
    assert counters["signal_ExchangeSignal"] == len(statuses)


# ---------------------------------------------------------------------------------- consistency
def _assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=REL, abs_tol=1e-9), where
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("name", NAMES)
def test_incremental_book_equals_a_fresh_book(name: str) -> None:
    book = replayed(name).book
    _assert_same(book.snapshot(), Book(book.state.copy()).snapshot(), name)


def test_recordings_are_plain_json_lines() -> None:
    for name in NAMES:
        with path(name).open(encoding="utf-8") as handle:
            first = json.loads(handle.readline())
        assert first["kind"] == "meta" and first["format"] == "marginwatch-recording"
