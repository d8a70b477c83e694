"""Published and hand-computed vectors, one mode at a time, through the incremental book."""

from __future__ import annotations

import pytest

from monitor.engine.book import Book
from monitor.engine.brackets import BracketTable
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Contract, ContractKind, Mode, Position
from monitor.engine.reference import reference


def _seed_001() -> AccountState:
    """Seed 001 / Binance FAQ [B1]: Multi-Assets with USDT (bid 0.9801 / ask 0.99495) and BUSD."""
    state = AccountState(Mode.USDM_MULTI_ASSETS)
    state.contracts["BTCUSDT"] = Contract(
        "BTCUSDT", ContractKind.LINEAR, "USDT", "BTC", BracketTable.flat(0.008)
    )
    state.contracts["ETHBUSD_210326"] = Contract(
        "ETHBUSD_210326", ContractKind.LINEAR, "BUSD", "ETH", BracketTable.flat(0.01)
    )
    usdt = state.asset("USDT")
    usdt.cross_wallet, usdt.bid_rate, usdt.ask_rate = 200.0, 0.9801, 0.99495
    state.asset("BUSD").cross_wallet = 220.0
    return state


def test_seed_001_scenario_1_no_positions() -> None:
    snap = Book(_seed_001()).snapshot()
    assert snap.equity == pytest.approx(416.02, rel=1e-12)
    assert snap.maint_margin == 0.0
    assert snap.margin_ratio == 0.0


@pytest.mark.parametrize(
    ("btc", "eth", "ratio", "equity", "mm"),
    [
        (20_000.0, 600.0, 0.4797750, 416.02, 199.596),
        (19_000.0, 620.0, 0.6208612, 321.515, 199.6162),
    ],
)
def test_seed_001_scenarios_2_and_3(
    btc: float, eth: float, ratio: float, equity: float, mm: float
) -> None:
    state = _seed_001()
    state.positions[("BTCUSDT", "BOTH")] = Position("BTCUSDT", "BOTH", 0.5, 20_000.0)
    state.positions[("ETHBUSD_210326", "BOTH")] = Position("ETHBUSD_210326", "BOTH", 20, 600.0)
    state.marks.update({"BTCUSDT": 20_000.0, "ETHBUSD_210326": 600.0})
    book = Book(state)
    book.on_mark("BTCUSDT", btc)
    book.on_mark("ETHBUSD_210326", eth)
    snap = book.snapshot()
    assert snap.margin_ratio == pytest.approx(ratio, rel=1e-6)
    assert snap.equity == pytest.approx(equity, rel=1e-6)
    assert snap.maint_margin == pytest.approx(mm, rel=1e-6)
    assert snap.risk == snap.margin_ratio
    assert reference(book.state).risk == pytest.approx(snap.risk, rel=1e-12)


def test_positionrisk_v3_adausdt_example() -> None:
    """API example [A8]: ADAUSDT 30 @ 0.385, mark 0.41047590 → uPnL 0.764277, MM 0.0800428."""
    state = AccountState(Mode.USDM)
    state.contracts["ADAUSDT"] = Contract(
        "ADAUSDT", ContractKind.LINEAR, "USDT", "ADA", BracketTable.flat(0.0065)
    )
    state.asset("USDT").cross_wallet = 100.0
    state.positions[("ADAUSDT", "LONG")] = Position("ADAUSDT", "LONG", 30, 0.385)
    state.marks["ADAUSDT"] = 0.41047590
    leg = Book(state).snapshot().legs[0]
    assert leg.unrealized_pnl == pytest.approx(0.76427700, abs=1e-12)
    assert leg.notional == pytest.approx(12.31427700, abs=1e-12)
    assert leg.maint_margin == pytest.approx(0.08004280, abs=1e-8)


def test_usdm_cross_pools_are_per_margin_asset_and_isolated_legs_separate() -> None:
    state = AccountState(Mode.USDM)
    for sym, settle in (("BTCUSDT", "USDT"), ("BTCUSDC", "USDC")):
        state.contracts[sym] = Contract(
            sym, ContractKind.LINEAR, settle, "BTC", BracketTable.flat(0.01)
        )
        state.marks[sym] = 30_000.0
    state.asset("USDT").cross_wallet = 1_000.0
    state.asset("USDC").cross_wallet = 2_000.0
    state.positions[("BTCUSDT", "BOTH")] = Position("BTCUSDT", "BOTH", 1.0, 30_000.0)
    state.positions[("BTCUSDC", "LONG")] = Position("BTCUSDC", "LONG", 1.0, 30_000.0, True, 600.0)
    book = Book(state)
    book.on_mark("BTCUSDC", 29_800.0)
    pools = {p.key: p for p in book.snapshot().pools}
    assert pools["USDT"].risk == pytest.approx(300 / 1_000)
    assert pools["USDC"].risk == 0.0  # the isolated leg does not touch the USDC cross wallet
    iso = pools["BTCUSDC:LONG"]
    assert iso.isolated
    assert iso.equity == pytest.approx(600 - 200)
    assert iso.risk == pytest.approx(298 / 400)
    assert book.risk == pytest.approx(298 / 400)  # the worst pool, isolated included
    assert book.snapshot().margin_ratio == pytest.approx(0.3)  # worst cross margin asset


def test_hedge_legs_each_have_their_own_bracket() -> None:
    table = BracketTable.flat(0.01)
    from monitor.engine.brackets import Bracket

    table = BracketTable([Bracket(0, 50_000, 0.004, 0), Bracket(50_000, 1e12, 0.005, 50)])
    state = AccountState(Mode.USDM)
    state.contracts["BTCUSDT"] = Contract("BTCUSDT", ContractKind.LINEAR, "USDT", "BTC", table)
    state.asset("USDT").cross_wallet = 10_000.0
    state.positions[("BTCUSDT", "LONG")] = Position("BTCUSDT", "LONG", 2.0, 30_000.0)
    state.positions[("BTCUSDT", "SHORT")] = Position("BTCUSDT", "SHORT", -1.0, 31_000.0)
    state.marks["BTCUSDT"] = 30_000.0
    snap = Book(state).snapshot()
    legs = {leg.side: leg for leg in snap.legs}
    assert legs["LONG"].maint_margin == pytest.approx(60_000 * 0.005 - 50)  # tier 2
    assert legs["SHORT"].maint_margin == pytest.approx(30_000 * 0.004)  # tier 1
    assert legs["SHORT"].unrealized_pnl == pytest.approx(1_000.0)
    assert snap.equity == pytest.approx(11_000.0)
    assert snap.maint_margin == pytest.approx(250 + 120)


def test_coinm_published_mm_example() -> None:
    """[B3]: 100 BTCUSD contracts at mark 25,000 → 0.4 BTC notional, MM 0.0016 BTC."""
    state = AccountState(Mode.COINM)
    state.contracts["BTCUSD_PERP"] = Contract(
        "BTCUSD_PERP", ContractKind.INVERSE, "BTC", "BTC", BracketTable.flat(0.004), 100.0, "CM"
    )
    state.asset("BTC").cross_wallet = 0.1
    state.positions[("BTCUSD_PERP", "BOTH")] = Position("BTCUSD_PERP", "BOTH", 100, 20_000.0)
    state.marks["BTCUSD_PERP"] = 25_000.0
    snap = Book(state).snapshot()
    leg = snap.legs[0]
    assert leg.notional == pytest.approx(0.4)
    assert leg.maint_margin == pytest.approx(0.0016)
    upnl = 100 * 100 * (1 / 20_000 - 1 / 25_000)  # 0.1 BTC
    assert leg.unrealized_pnl == pytest.approx(upnl)
    assert snap.unit == "BTC"
    assert snap.margin_ratio == pytest.approx(0.0016 / (0.1 + upnl))


def _pm_book() -> AccountState:
    """Hedged PM book: 2 BTC spot collateral (CR 0.95), short 2 BTCUSDT, 10,000 USDT loan."""
    state = AccountState(Mode.PORTFOLIO_MARGIN, margin_leverage=3)
    state.contracts["BTCUSDT"] = Contract(
        "BTCUSDT", ContractKind.LINEAR, "USDT", "BTC", BracketTable.flat(0.004)
    )
    state.contracts["BTCUSD_PERP"] = Contract(
        "BTCUSD_PERP", ContractKind.INVERSE, "BTC", "BTC", BracketTable.flat(0.005), 100.0, "CM"
    )
    btc = state.asset("BTC")
    btc.margin_free, btc.index_price, btc.collateral = 2.0, 30_000.0, CollateralTiers.flat(0.95)
    usdt = state.asset("USDT")
    usdt.um_wallet, usdt.borrowed, usdt.interest, usdt.index_price = 5_000.0, 10_000.0, 5.0, 0.999
    state.positions[("BTCUSDT", "BOTH")] = Position("BTCUSDT", "BOTH", -2.0, 30_000.0)
    state.positions[("BTCUSD_PERP", "BOTH")] = Position("BTCUSD_PERP", "BOTH", -300, 30_000.0)
    state.marks.update({"BTCUSDT": 30_000.0, "BTCUSD_PERP": 30_000.0})
    state.open_loss_usd = 100.0
    return state


def test_portfolio_margin_unimmr_by_hand() -> None:
    book = Book(_pm_book())
    book.on_mark("BTCUSDT", 31_000.0)
    book.on_mark("BTCUSD_PERP", 31_000.0)
    snap = book.snapshot()
    # USDT: X = 5,000 − 10,000 − 5 + uPnL(−2·1,000) = −7,005 → −7,005·0.999 (no haircut)
    usdt_value = -7_005 * 0.999
    # BTC: X = 2 + CM uPnL = −300·100·(1/30,000 − 1/31,000) BTC, valued at 30,000 · 0.95
    cm_upnl = -300 * 100 * (1 / 30_000 - 1 / 31_000)
    btc_value = (2 + cm_upnl) * 30_000 * 0.95
    equity = usdt_value + btc_value - 100.0  # open loss
    # MM: UM 62,000·0.4 % in USDT at 0.999; loan (10,005)·10 % at 0.999; CM 300·100/31,000·0.5 % BTC
    mm = (62_000 * 0.004 + 10_005 * 0.10) * 0.999 + (30_000 / 31_000 * 0.005) * 30_000
    assert snap.equity == pytest.approx(equity, rel=1e-12)
    assert snap.maint_margin == pytest.approx(mm, rel=1e-12)
    assert snap.uni_mmr == pytest.approx(equity / mm, rel=1e-12)
    assert snap.risk == pytest.approx(1.05 * mm / equity, rel=1e-12)
    assert snap.margin_ratio is None


def test_portfolio_margin_three_wallets_net_before_haircut() -> None:
    """Seed 004: 1 BTC in each of cross margin, UM and CM wallets at CR 95 % = 2.85 BTC."""
    state = AccountState(Mode.PORTFOLIO_MARGIN)
    btc = state.asset("BTC")
    btc.margin_free = btc.um_wallet = btc.cm_wallet = 1.0
    btc.index_price, btc.collateral = 40_000.0, CollateralTiers.flat(0.95)
    snap = Book(state).snapshot()
    assert snap.equity == pytest.approx(2.85 * 40_000)
    assert snap.uni_mmr is None  # no maintenance margin: infinitely safe
    assert snap.risk == 0.0


def test_margin_loan_mmr_follows_margin_leverage() -> None:
    for leverage, rate in ((3, 0.10), (5, 0.08), (10, 0.05)):
        state = AccountState(Mode.PORTFOLIO_MARGIN, margin_leverage=leverage)
        usdt = state.asset("USDT")
        usdt.margin_free, usdt.borrowed = 50_000.0, 10_000.0
        assert Book(state).snapshot().maint_margin == pytest.approx(10_000 * rate)
